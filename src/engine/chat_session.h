// ChatSession: one conversation on one engine sequence — the message history, rendered with a
// ChatTemplate, the KV cache kept between turns (only the tokens past the common prefix of
// what the sequence holds and the new rendering are evaluated), the reply split into reasoning
// and answer, and the reasoning budget. `run --chat`, `chat` and `eval` drive it; printing,
// terminals and signals stay with them.
#pragma once

#include "engine/engine.h"
#include "engine/generation.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/reasoning.h"
#include "util/error.h"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace retort {

// DeepSeek's advice for the R1 distills: temperature 0.6, top-p 0.95 (their model card). Sets
// those the user did not set himself, and only for the R1 format.
void apply_chat_format_defaults(ChatFormat format, SamplingParams& s, bool temperature_set, bool top_p_set);

struct ChatSessionOptions {
    GenerationOptions generation;   // per turn: sampling, max_tokens (per reply), stop, ignore_eog
    int64_t reasoning_budget = -1;  // -1: unlimited; N >= 0: after N reasoning tokens force </think>
    std::string system;             // system prompt; empty: none (R1's advice)
    int32_t seq = 0;                // the engine sequence (KV slot) this conversation owns
};

struct ChatTurnStats {
    int64_t n_prompt = 0;     // tokens of the rendered conversation fed before generating
    int64_t n_reused = 0;     // of those, already in the KV cache from earlier turns
    int64_t n_generated = 0;  // sampled or forced tokens (an ending EOG token included)
    int64_t n_reasoning = 0;  // generated tokens inside <think>
    bool budget_forced = false;  // the reasoning budget ran out and </think> was forced
    double prompt_ms = 0.0, gen_ms = 0.0;
    FinishReason reason = FinishReason::kNone;
    double gen_tokens_per_s() const { return gen_ms > 0.0 ? n_generated * 1000.0 / gen_ms : 0.0; }
    double prompt_tokens_per_s() const {
        return prompt_ms > 0.0 ? (n_prompt - n_reused) * 1000.0 / prompt_ms : 0.0;
    }
};

struct ChatReply {
    std::string reasoning;  // text inside <think>, trimmed
    std::string content;    // the answer
    std::string raw;        // everything generated, tags included (with the prompt's "<think>\n")
    ChatTurnStats stats;
};

class ChatSession {
public:
    struct Callbacks {
        std::function<void(const ReasoningDelta&)> on_delta;  // text as it can be shown
        std::function<bool()> cancelled;                      // polled between tokens
        // The logits the first reply token is sampled from (after the prompt is evaluated).
        std::function<void(std::span<const float>)> on_prompt_logits;
    };

    // The engine must outlive the session; the session owns sequence opt.seq of its KV cache.
    ChatSession(Engine& engine, ChatTemplate tmpl, ChatSessionOptions opt);

    // Appends a user message and generates the assistant's reply, which joins the history.
    // On an error (context full, engine failure) the history is as it was before the call.
    Result<ChatReply> send(std::string user_text, const Callbacks& cb = {});
    // Generates the assistant's reply to the history as it stands (its last message is the
    // user's), appends it and returns it.
    Result<ChatReply> reply(const Callbacks& cb = {});

    // History back to the system prompt alone. The KV cache is kept: the next turn reuses what
    // still matches (at least the system prompt).
    void reset();
    // Replaces the history (e.g. /load); messages must render with the template.
    Status set_messages(std::vector<ChatMessage> messages);
    const std::vector<ChatMessage>& messages() const { return history_; }

    // The history rendered and tokenized as the model would be fed it.
    Result<std::vector<int32_t>> prompt_tokens(bool add_generation_prompt) const;
    // Tokens the sequence holds in the KV cache, position by position.
    const std::vector<int32_t>& cached_tokens() const { return cached_; }

    const ChatTemplate& chat_template() const { return tmpl_; }
    ChatSessionOptions& options() { return opt_; }
    const ChatSessionOptions& options() const { return opt_; }

    // Totals over the session's turns (for /stats).
    struct Totals {
        int64_t turns = 0, n_prompt = 0, n_reused = 0, n_generated = 0;
        double prompt_ms = 0.0, gen_ms = 0.0;
    };
    const Totals& totals() const { return totals_; }

private:
    // Evaluates prompt[from..] at positions from.., logits for the last row.
    Status evaluate(const std::vector<int32_t>& prompt, int64_t from, std::vector<float>& logits);
    Result<std::vector<int32_t>> close_tag_tokens() const;

    Engine* engine_;
    ChatTemplate tmpl_;
    ChatSessionOptions opt_;
    std::vector<ChatMessage> history_;
    std::vector<int32_t> cached_;  // what sequence opt_.seq holds, positions 0..size-1
    Totals totals_;
};

}  // namespace retort
