// ReasoningSplitter: a small state machine over the not-yet-emitted tail of the stream.
#include "tokenizer/reasoning.h"

#include <algorithm>

namespace retort {

namespace {

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

size_t leading_ws(std::string_view s) {
    size_t n = 0;
    while (n < s.size() && is_ws(s[n])) ++n;
    return n;
}

// Length of the longest proper prefix of `tag` that `s` ends with.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
    for (size_t k = std::min(s.size(), tag.size() - 1); k > 0; --k)
        if (s.substr(s.size() - k) == tag.substr(0, k)) return k;
    return 0;
}

}  // namespace

ReasoningSplitter::ReasoningSplitter(Options opt)
    : opt_(std::move(opt)), state_(opt_.start_in_reasoning ? State::kReasoningStart : State::kStart) {
    if (opt_.open_tag.empty()) opt_.open_tag = "<think>";
    if (opt_.close_tag.empty()) opt_.close_tag = "</think>";
}

void ReasoningSplitter::emit_reasoning(ReasoningDelta& out, std::string_view s) {
    out.reasoning.append(s);
    reasoning_.append(s);
}

void ReasoningSplitter::emit_content(ReasoningDelta& out, std::string_view s) {
    out.content.append(s);
    content_.append(s);
}

ReasoningDelta ReasoningSplitter::push(std::string_view piece) {
    pending_.append(piece);
    ReasoningDelta out;
    run(out, /*final=*/false);
    return out;
}

ReasoningDelta ReasoningSplitter::finish() {
    ReasoningDelta out;
    run(out, /*final=*/true);
    return out;
}

void ReasoningSplitter::run(ReasoningDelta& out, bool final) {
    const std::string_view open = opt_.open_tag, close = opt_.close_tag;
    const bool trim = opt_.trim_whitespace;
    for (;;) {
        switch (state_) {
            case State::kStart:
            case State::kReasoningStart: {
                // An opening tag may still come (again, for a prompt that opened it already).
                const size_t ws = leading_ws(pending_);
                const std::string_view rest = std::string_view(pending_).substr(ws);
                if (rest.substr(0, open.size()) == open) {
                    pending_.erase(0, ws + open.size());
                    state_ = State::kReasoningStart;
                    continue;
                }
                if (!final && (rest.empty() || open.substr(0, rest.size()) == rest)) return;  // undecided
                if (state_ == State::kReasoningStart) {
                    if (trim) pending_.erase(0, ws);
                    state_ = State::kReasoning;
                } else {
                    if (trim) pending_.erase(0, ws);
                    state_ = State::kAnswer;
                }
                continue;
            }
            case State::kReasoning: {
                const size_t pos = pending_.find(close);
                if (pos != std::string::npos) {
                    std::string_view text = std::string_view(pending_).substr(0, pos);
                    if (trim)
                        while (!text.empty() && is_ws(text.back())) text.remove_suffix(1);
                    emit_reasoning(out, text);
                    pending_.erase(0, pos + close.size());
                    closed_ = true;
                    state_ = State::kAnswerStart;
                    continue;
                }
                // Hold a possible start of the closing tag and, when trimming, the whitespace
                // before it (it is dropped if the tag follows).
                size_t keep = final ? 0 : partial_tag_suffix(pending_, close);
                size_t safe = pending_.size() - keep;
                if (trim)
                    while (safe > 0 && is_ws(pending_[safe - 1])) --safe;
                emit_reasoning(out, std::string_view(pending_).substr(0, safe));
                if (final)
                    pending_.clear();  // trailing whitespace of unfinished reasoning is dropped
                else
                    pending_.erase(0, safe);
                return;
            }
            case State::kAnswerStart: {
                if (trim) pending_.erase(0, leading_ws(pending_));
                if (pending_.empty()) return;
                state_ = State::kAnswer;
                continue;
            }
            case State::kAnswer:
                emit_content(out, pending_);
                pending_.clear();
                return;
        }
    }
}

}  // namespace retort
