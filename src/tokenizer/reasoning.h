// ReasoningSplitter: separates a streamed generation (text pieces arriving one at a time) into
// reasoning, inside <think>…</think>, and the answer after it. Handles the opening tag being
// in the prompt (R1's generation prompt ends with "<think>\n"), a missing closing tag, and tags
// split across pieces (a possible tag prefix is held back until it resolves).
#pragma once

#include <string>
#include <string_view>

namespace retort {

struct ReasoningDelta {
    std::string reasoning;  // new reasoning text, tags excluded
    std::string content;    // new answer text
    bool empty() const { return reasoning.empty() && content.empty(); }
};

class ReasoningSplitter {
public:
    struct Options {
        bool start_in_reasoning = false;  // the prompt already opened <think>
        // Drop the whitespace around the reasoning and at the start of the answer (R1 writes
        // "<think>\n…\n</think>\n\n answer"), as the DeepSeek API presents them.
        bool trim_whitespace = true;
        std::string open_tag = "<think>";
        std::string close_tag = "</think>";
    };
    ReasoningSplitter() : ReasoningSplitter(Options{}) {}
    explicit ReasoningSplitter(Options opt);

    // Feeds the next piece of generated text. The deltas of all push() calls plus finish()
    // are the same however the text is cut into pieces.
    ReasoningDelta push(std::string_view piece);
    // End of generation: whatever was held back. Without a closing tag, everything after the
    // opening one stays reasoning (reasoning_closed() tells).
    ReasoningDelta finish();

    bool in_reasoning() const { return state_ == State::kReasoningStart || state_ == State::kReasoning; }
    bool reasoning_closed() const { return closed_; }
    // Everything emitted so far.
    const std::string& reasoning() const { return reasoning_; }
    const std::string& content() const { return content_; }

private:
    enum class State {
        kStart,           // answer mode, nothing emitted yet: a leading <think> opens reasoning
        kReasoningStart,  // inside <think>, nothing emitted yet
        kReasoning,       // inside <think>
        kAnswerStart,     // after </think>, nothing emitted yet
        kAnswer,          // plain answer text; tags are text now
    };
    void run(ReasoningDelta& out, bool final);
    void emit_reasoning(ReasoningDelta& out, std::string_view s);
    void emit_content(ReasoningDelta& out, std::string_view s);

    Options opt_;
    State state_;
    bool closed_ = false;
    std::string pending_;  // received, not yet emitted
    std::string reasoning_, content_;
};

}  // namespace retort
