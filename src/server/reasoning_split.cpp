#include "server/reasoning_split.h"

#include <algorithm>

namespace retort {

namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Length of the longest suffix of s that is a proper prefix of tag.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
    for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
        if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
    return 0;
}

}  // namespace

ReasoningSplit::ReasoningSplit(bool starts_in_reasoning)
    : state_(starts_in_reasoning ? State::kReasoning : State::kStart) {}

ReasoningSplit::Out ReasoningSplit::push(std::string_view text) {
    Out out;
    held_.append(text);
    for (;;) {
        if (strip_leading_) {
            size_t i = 0;
            while (i < held_.size() && is_space(held_[i])) ++i;
            held_.erase(0, i);
            if (held_.empty()) return out;
        }
        if (state_ == State::kStart) {
            // The model may open <think> itself (older templates do not put it in the prompt).
            if (held_.size() < kOpen.size() && kOpen.substr(0, held_.size()) == held_) return out;
            if (held_.compare(0, kOpen.size(), kOpen) == 0) {
                held_.erase(0, kOpen.size());
                state_ = State::kReasoning;
                strip_leading_ = true;
                continue;
            }
            state_ = State::kContent;
            strip_leading_ = false;
        }
        if (state_ == State::kContent) {
            strip_leading_ = false;
            out.content += held_;
            held_.clear();
            return out;
        }
        // Reasoning: everything up to </think>; hold what may be the start of the tag, and
        // trailing whitespace (dropped if the tag follows).
        const size_t close = held_.find(kClose);
        if (close != std::string::npos) {
            std::string_view r(held_.data(), close);
            while (!r.empty() && is_space(r.back())) r.remove_suffix(1);
            out.reasoning.append(r);
            held_.erase(0, close + kClose.size());
            state_ = State::kContent;
            strip_leading_ = true;
            continue;
        }
        size_t keep = partial_tag_suffix(held_, kClose);
        size_t end = held_.size() - keep;
        while (end > 0 && is_space(held_[end - 1])) --end;
        out.reasoning.append(held_, 0, end);
        held_.erase(0, end);
        strip_leading_ = false;
        return out;
    }
}

ReasoningSplit::Out ReasoningSplit::flush() {
    Out out;
    if (state_ == State::kReasoning) out.reasoning = std::move(held_);
    else out.content = std::move(held_);
    held_.clear();
    return out;
}

}  // namespace retort
