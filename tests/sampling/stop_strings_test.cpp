// StopMatcher: released text is the text before the first stop string to complete, however the
// stream is split; nothing that might start a stop, and no half UTF-8 character, leaks early.
#include "sampling/rng.h"
#include "sampling/stop_strings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace retort {
namespace {

// Whole characters only: every released chunk must be valid UTF-8 on its own.
bool valid_utf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        const size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (size_t j = 1; j < len; ++j) {
            if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return false;
        }
        i += len;
    }
    return true;
}

struct Expected {
    std::string text;
    bool stopped = false;
    std::string matched;
};

// The oracle: scan end positions in order; the first at which some stop string ends wins, the
// longest such string on a tie (it started earlier).
Expected oracle(const std::string& text, const std::vector<std::string>& stops) {
    for (size_t end = 1; end <= text.size(); ++end) {
        const std::string* best = nullptr;
        for (const std::string& s : stops) {
            if (!s.empty() && s.size() <= end && text.compare(end - s.size(), s.size(), s) == 0 &&
                (!best || s.size() > best->size()))
                best = &s;
        }
        if (best) return {text.substr(0, end - best->size()), true, *best};
    }
    return {text, false, ""};
}

// Feeds `pieces` in order and returns everything released (flush included). Checks along the
// way that each release is whole UTF-8 when `whole_chars` and that nothing comes after a stop.
Expected run(StopMatcher& m, const std::vector<std::string>& pieces, bool whole_chars = true) {
    Expected out;
    for (const std::string& piece : pieces) {
        const StopMatcher::Output o = m.feed(piece);
        if (whole_chars) {
            EXPECT_TRUE(valid_utf8(o.text)) << "released a broken character: '" << o.text << "'";
        }
        if (out.stopped) {
            EXPECT_TRUE(o.text.empty());
            EXPECT_TRUE(o.stopped);
        }
        out.text += o.text;
        out.stopped = out.stopped || o.stopped;
    }
    out.text += m.flush();
    out.matched = std::string(m.matched());
    EXPECT_EQ(m.stopped(), out.stopped);
    return out;
}

std::vector<std::string> bytes_of(const std::string& text) {
    std::vector<std::string> pieces;
    for (char c : text) pieces.emplace_back(1, c);
    return pieces;
}

void expect_same(const Expected& got, const Expected& want, const std::string& how) {
    EXPECT_EQ(got.text, want.text) << how;
    EXPECT_EQ(got.stopped, want.stopped) << how;
    EXPECT_EQ(got.matched, want.matched) << how;
}

// Whole, one byte at a time, and every two-piece split: all must agree with the oracle.
void expect_all_splits(const std::string& text, const std::vector<std::string>& stops) {
    SCOPED_TRACE("text '" + text + "'");
    const Expected want = oracle(text, stops);
    {
        StopMatcher m(stops);
        expect_same(run(m, {text}), want, "whole");
    }
    {
        StopMatcher m(stops);
        expect_same(run(m, bytes_of(text)), want, "one byte at a time");
    }
    for (size_t cut = 0; cut <= text.size(); ++cut) {
        StopMatcher m(stops);
        // A cut inside a character is fine: the matcher holds the partial bytes.
        expect_same(run(m, {text.substr(0, cut), text.substr(cut)}), want, "cut at " + std::to_string(cut));
    }
}

TEST(StopMatcher, ReleasesAtOnceWhatCannotStartAStop) {
    StopMatcher m({"</s>"});
    StopMatcher::Output o = m.feed("Hello");
    EXPECT_EQ(o.text, "Hello");
    EXPECT_FALSE(o.stopped);
    o = m.feed(" wor");
    EXPECT_EQ(o.text, " wor");
    o = m.feed("ld</");  // "</" might begin "</s>": held
    EXPECT_EQ(o.text, "ld");
    EXPECT_FALSE(o.stopped);
    o = m.feed("s>tail");
    EXPECT_EQ(o.text, "");
    EXPECT_TRUE(o.stopped);
    EXPECT_EQ(m.matched(), "</s>");
    o = m.feed("more");
    EXPECT_EQ(o.text, "");
    EXPECT_TRUE(o.stopped);
    EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, HeldTextIsReleasedWhenItStopsMatching) {
    StopMatcher m({"abc"});
    EXPECT_EQ(m.feed("xa").text, "x");
    EXPECT_EQ(m.feed("b").text, "");
    EXPECT_EQ(m.feed("d").text, "abd");
    EXPECT_EQ(m.feed("ab").text, "");
    EXPECT_EQ(m.flush(), "ab");  // end of stream: what was held is text after all
    EXPECT_FALSE(m.stopped());
    EXPECT_EQ(m.matched(), "");
}

TEST(StopMatcher, StopAcrossPieces) {
    StopMatcher m({"\n\nUser:"});
    EXPECT_EQ(m.feed("Answer: 42\n").text, "Answer: 42");
    EXPECT_EQ(m.feed("\nUs").text, "");
    const StopMatcher::Output o = m.feed("er: hi");
    EXPECT_EQ(o.text, "");
    EXPECT_TRUE(o.stopped);
}

TEST(StopMatcher, TextBeforeTheStopInTheSamePieceIsReleased) {
    StopMatcher m({"###"});
    const StopMatcher::Output o = m.feed("done.### and more");
    EXPECT_EQ(o.text, "done.");
    EXPECT_TRUE(o.stopped);
}

TEST(StopMatcher, AllSplitsAgreeWithTheOracle) {
    const std::vector<std::string> stops = {"</s>", "\n\nUser:", "###", "abcd", "bc"};
    for (const std::string text : {"plain text, no stop at all", "ends with </s", "a</s>b", "</s>",
                                   "x\n\nUser: y", "x\n\nUse", "##no#stop#", "1###2###", "xabcd", "xab",
                                   "abcd", "abc", "bbc", "<</s>", ""}) {
        expect_all_splits(text, stops);
    }
}

TEST(StopMatcher, FirstToCompleteWins) {
    // "bc" completes (at byte 3) before "abcd" could (byte 4): the stop is "bc".
    expect_all_splits("xabcd", {"abcd", "bc"});
    StopMatcher m({"abcd", "bc"});
    EXPECT_EQ(run(m, {"xabcd"}).text, "xa");
    EXPECT_EQ(m.matched(), "bc");
    // Both end at the same byte: the longer one started first and wins.
    StopMatcher tie({"bc", "abc"});
    EXPECT_EQ(run(tie, {"zabc"}).text, "z");
    EXPECT_EQ(tie.matched(), "abc");
    // A stop inside another's prefix, one byte at a time.
    StopMatcher inner({"hello world", "lo w"});
    EXPECT_EQ(run(inner, bytes_of("say hello world")).text, "say hel");
    EXPECT_EQ(inner.matched(), "lo w");
}

TEST(StopMatcher, Utf8CharactersAreNeverSplit) {
    // No stops: only the UTF-8 hold-back is at work.
    StopMatcher m({});
    EXPECT_EQ(m.feed("\xE4\xBD").text, "");                 // first two bytes of 你
    EXPECT_EQ(m.feed("\xA0\xE5").text, "\xE4\xBD\xA0");     // 你, then the start of 好
    EXPECT_EQ(m.feed("\xA5\xBD!").text, "\xE5\xA5\xBD!");   // 好!
    EXPECT_EQ(m.feed("\xF0\x9F").text, "");                 // half an emoji
    EXPECT_EQ(m.flush(), "\xF0\x9F");                       // end of stream: released as is
    // Malformed bytes are not held: waiting would not fix them.
    StopMatcher bad({});
    EXPECT_EQ(bad.feed("a\xFF").text, "a\xFF");
    EXPECT_EQ(bad.feed("\x80").text, "\x80");
}

TEST(StopMatcher, Utf8StopStrings) {
    const std::vector<std::string> stops = {"\xE3\x80\x82", "\xF0\x9F\x9B\x91", "\xC3\xA9t\xC3\xA9"};  // 。 🛑 été
    for (const std::string text : {"\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82\xE5\x86\x8D\xE8\xA7\x81",  // 你好。再见
                                   "stop \xF0\x9F\x9B\x91 here", "\xF0\x9F\x98\x80\xF0\x9F\x9B\x91",  // 😀🛑
                                   "un \xC3\xA9t\xC3\xA9 chaud", "\xC3\xA9t\xC3\xA8s \xC3\xA9t",     // été; étès ét
                                   "\xC3\xA8\xC3\xA9\xC3\xA8"}) {
        expect_all_splits(text, stops);
    }
    // "é" (C3 A9) vs "è" (C3 A8): C3 is held (half a character and a stop prefix), then released.
    StopMatcher m({"\xC3\xA9t\xC3\xA9"});
    EXPECT_EQ(m.feed("\xC3").text, "");
    EXPECT_EQ(m.feed("\xA8").text, "\xC3\xA8");
}

// Random texts over an alphabet rich in partial matches, split at random byte positions
// (inside characters too), against the oracle.
TEST(StopMatcher, RandomSplitsAgreeWithTheOracle) {
    const std::vector<std::string> alphabet = {"a", "b", "c", "\xC3\xA9", "\xE3\x80\x82", "\n"};
    const std::vector<std::string> stops = {"abc", "ca", "\xC3\xA9\xE3\x80\x82" "b", "\n\n", "bb\xC3\xA9"};
    Rng rng(77);
    int stopped = 0;
    for (int it = 0; it < 2000; ++it) {
        std::string text;
        const size_t len = rng.next() % 24;
        for (size_t i = 0; i < len; ++i) text += alphabet[rng.next() % alphabet.size()];
        std::vector<std::string> pieces;
        for (size_t pos = 0; pos < text.size();) {
            const size_t n = 1 + rng.next() % 5;
            pieces.push_back(text.substr(pos, n));
            pos += n;
        }
        const Expected want = oracle(text, stops);
        StopMatcher m(stops);
        const Expected got = run(m, pieces);
        ASSERT_EQ(got.text, want.text) << "text '" << text << "'";
        ASSERT_EQ(got.stopped, want.stopped) << "text '" << text << "'";
        ASSERT_EQ(got.matched, want.matched) << "text '" << text << "'";
        stopped += got.stopped;
    }
    EXPECT_GT(stopped, 500);   // both outcomes well covered
    EXPECT_LT(stopped, 1900);
}

TEST(StopMatcher, EmptyStopStringsAreIgnoredAndResetStartsOver) {
    StopMatcher m({"", "end", ""});
    EXPECT_EQ(m.feed("abc").text, "abc");
    const StopMatcher::Output o = m.feed("the end");
    EXPECT_EQ(o.text, "the ");
    EXPECT_TRUE(o.stopped);
    m.reset();
    EXPECT_FALSE(m.stopped());
    EXPECT_EQ(m.matched(), "");
    EXPECT_EQ(m.feed("en").text, "");
    EXPECT_EQ(m.feed("try").text, "entry");
    StopMatcher none({""});
    EXPECT_EQ(none.feed("anything").text, "anything");
    EXPECT_EQ(none.flush(), "");
}

}  // namespace
}  // namespace retort
