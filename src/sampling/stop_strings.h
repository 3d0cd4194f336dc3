// StopMatcher: finds the request's stop strings in streamed text. It releases text as soon as it
// cannot be part of a stop string, holds back what might be, and drops everything from the stop
// on. Turning tokens into text (and ending at EOS) is left to the tokenizer and the caller.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace retort {

class StopMatcher {
public:
    // Empty stop strings are ignored; with none left, every piece passes straight through
    // (apart from the UTF-8 hold-back below).
    explicit StopMatcher(std::vector<std::string> stop_strings);

    struct Output {
        std::string text;      // safe to send now
        bool stopped = false;  // a stop string was hit: text is the last output; stop generating
    };

    // Feeds the next decoded piece (any bytes, possibly part of a UTF-8 character).
    // Released text never contains a stop string nor the text after one (OpenAI's `stop`), and
    // never ends inside a UTF-8 character: an incomplete sequence at the end is held for the next
    // piece. The first stop string to *complete* in the stream wins; the result does not depend
    // on how the text is split into pieces. After a stop, feed returns {"", true}.
    Output feed(std::string_view piece);

    // End of stream (EOS, length limit): releases whatever is still held, as is. Empty after a stop.
    std::string flush();

    bool stopped() const { return stopped_; }
    // The stop string that was hit; empty while none has been.
    std::string_view matched() const {
        return stopped_ ? std::string_view(stops_[matched_]) : std::string_view();
    }
    // Back to the start: nothing held, not stopped. The stop strings stay.
    void reset();

private:
    // Bytes at the end of held_ that could begin a stop string or finish a UTF-8 character.
    size_t held_back_size() const;

    std::vector<std::string> stops_;
    std::string held_;  // text received but not yet released; never contains a whole stop string
    bool stopped_ = false;
    size_t matched_ = 0;
};

}  // namespace retort
