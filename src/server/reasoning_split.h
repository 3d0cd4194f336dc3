// ReasoningSplit: splits a streamed R1 reply into its reasoning (<think> … </think>) and its
// answer, as DeepSeek's API returns them (reasoning_content / content). Tags split across pieces
// are held back until they are decided; the whitespace around the tags is dropped.
#pragma once

#include <string>
#include <string_view>

namespace retort {

class ReasoningSplit {
public:
    // starts_in_reasoning: the prompt already opened <think> (the R1 template's generation prompt).
    explicit ReasoningSplit(bool starts_in_reasoning);

    struct Out {
        std::string reasoning, content;
    };
    Out push(std::string_view text);
    Out flush();  // end of the reply: whatever is held goes out as it stands
    bool in_reasoning() const { return state_ == State::kReasoning; }

private:
    enum class State { kStart, kReasoning, kContent };
    State state_;
    std::string held_;
    bool strip_leading_ = true;  // drop whitespace at the start of the current part
};

}  // namespace retort
