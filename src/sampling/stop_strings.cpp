// StopMatcher: stop strings over streamed text. Invariant: held_ never contains a whole stop
// string, and every stop string that could still appear would start inside held_, so text before
// held_ is final the moment it is released.
#include "sampling/stop_strings.h"

#include <algorithm>
#include <utility>

namespace retort {

namespace {

// Bytes at the end of s that start a UTF-8 character whose continuation bytes have not arrived.
// Malformed bytes are not held: they will not become valid by waiting.
size_t incomplete_utf8_tail(std::string_view s) {
    const size_t n = s.size();
    for (size_t i = 1; i <= std::min<size_t>(3, n); ++i) {
        const auto b = static_cast<unsigned char>(s[n - i]);
        if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        const size_t len = b >= 0xF8 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        return len > i ? i : 0;
    }
    return 0;
}

}  // namespace

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) : stops_(std::move(stop_strings)) {
    std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

void StopMatcher::reset() {
    held_.clear();
    stopped_ = false;
    matched_ = 0;
}

size_t StopMatcher::held_back_size() const {
    const size_t n = held_.size();
    size_t keep = 0;
    // The longest suffix of held_ that is a proper prefix of some stop string.
    for (const std::string& stop : stops_) {
        for (size_t len = std::min(n, stop.size() - 1); len > keep; --len) {
            if (held_.compare(n - len, len, stop, 0, len) == 0) {
                keep = len;
                break;
            }
        }
    }
    return std::max(keep, incomplete_utf8_tail(held_));
}

StopMatcher::Output StopMatcher::feed(std::string_view piece) {
    Output out;
    if (stopped_) {
        out.stopped = true;
        return out;
    }
    held_.append(piece);

    // The stop string that completes first in the stream: the earliest end, then the earliest
    // start (the longer string) on a tie. Earlier pieces completed none, so any match ends in this
    // piece and the choice is the same however the text was split.
    size_t best_end = std::string::npos;
    size_t best_pos = std::string::npos;
    for (size_t i = 0; i < stops_.size(); ++i) {
        const size_t pos = held_.find(stops_[i]);
        if (pos == std::string::npos) continue;
        const size_t end = pos + stops_[i].size();
        if (end < best_end || (end == best_end && pos < best_pos)) {
            best_end = end;
            best_pos = pos;
            matched_ = i;
        }
    }
    if (best_pos != std::string::npos) {
        out.text.assign(held_, 0, best_pos);
        out.stopped = true;
        held_.clear();
        stopped_ = true;
        return out;
    }

    const size_t release = held_.size() - held_back_size();
    out.text.assign(held_, 0, release);
    held_.erase(0, release);
    return out;
}

std::string StopMatcher::flush() {
    if (stopped_) return {};
    return std::exchange(held_, std::string());
}

}  // namespace retort
