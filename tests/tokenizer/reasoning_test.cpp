// ReasoningSplitter: tags in the prompt or the output, split across pieces, missing, and the
// same result whether the text arrives whole or one character at a time.
#include "tokenizer/reasoning.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace retort::test {
namespace {

struct Split {
    std::string reasoning, content;
    bool closed;
};

Split run(const ReasoningSplitter::Options& opt, const std::vector<std::string>& pieces) {
    ReasoningSplitter s(opt);
    Split r;
    for (const auto& p : pieces) {
        const ReasoningDelta d = s.push(p);
        r.reasoning += d.reasoning;
        r.content += d.content;
    }
    const ReasoningDelta d = s.finish();
    r.reasoning += d.reasoning;
    r.content += d.content;
    r.closed = s.reasoning_closed();
    EXPECT_EQ(r.reasoning, s.reasoning());
    EXPECT_EQ(r.content, s.content());
    return r;
}

// Whole, one character at a time, and in chunks of 2, 3 and 5: all give the same split.
Split run_all_ways(const ReasoningSplitter::Options& opt, const std::string& text) {
    const Split whole = run(opt, {text});
    for (size_t chunk : {1u, 2u, 3u, 5u}) {
        std::vector<std::string> pieces;
        for (size_t i = 0; i < text.size(); i += chunk) pieces.push_back(text.substr(i, chunk));
        const Split s = run(opt, pieces);
        EXPECT_EQ(s.reasoning, whole.reasoning) << "chunk " << chunk << " text " << text;
        EXPECT_EQ(s.content, whole.content) << "chunk " << chunk << " text " << text;
        EXPECT_EQ(s.closed, whole.closed);
    }
    return whole;
}

ReasoningSplitter::Options in_prompt() {
    ReasoningSplitter::Options o;
    o.start_in_reasoning = true;
    return o;
}

TEST(ReasoningSplitter, OpeningTagInPrompt) {
    const Split s = run_all_ways(in_prompt(), "Okay, 17*24.\nThat is 408.\n</think>\n\n17 × 24 = **408**.");
    EXPECT_EQ(s.reasoning, "Okay, 17*24.\nThat is 408.");
    EXPECT_EQ(s.content, "17 × 24 = **408**.");
    EXPECT_TRUE(s.closed);
}

TEST(ReasoningSplitter, OpeningTagInOutput) {
    const Split s = run_all_ways({}, "<think>\nhmm\n</think>\n\nanswer");
    EXPECT_EQ(s.reasoning, "hmm");
    EXPECT_EQ(s.content, "answer");
    // A repeated opening tag after the prompt's one is dropped too.
    const Split t = run_all_ways(in_prompt(), "\n<think>\nhmm</think>answer");
    EXPECT_EQ(t.reasoning, "hmm");
    EXPECT_EQ(t.content, "answer");
}

TEST(ReasoningSplitter, NoReasoning) {
    const Split s = run_all_ways({}, "Just an answer with <b>tags</b> and a </think> mid-text.");
    EXPECT_EQ(s.reasoning, "");
    EXPECT_EQ(s.content, "Just an answer with <b>tags</b> and a </think> mid-text.");
    EXPECT_FALSE(s.closed);
    // A <think> that is not at the start is text.
    const Split t = run_all_ways({}, "A <think> B");
    EXPECT_EQ(t.content, "A <think> B");
}

TEST(ReasoningSplitter, MissingClosingTag) {
    const Split s = run_all_ways(in_prompt(), "thinking forever... </thi");
    EXPECT_EQ(s.reasoning, "thinking forever... </thi");
    EXPECT_EQ(s.content, "");
    EXPECT_FALSE(s.closed);
}

TEST(ReasoningSplitter, PartialTagsAtTheEnd) {
    // An unfinished opening tag at the end of an answer-mode stream is text.
    const Split s = run_all_ways({}, "<thi");
    EXPECT_EQ(s.content, "<thi");
    EXPECT_EQ(s.reasoning, "");
    // Text after </think> that looks like tags stays in the answer.
    const Split t = run_all_ways(in_prompt(), "r</think>a</think><think>b");
    EXPECT_EQ(t.reasoning, "r");
    EXPECT_EQ(t.content, "a</think><think>b");
}

TEST(ReasoningSplitter, HoldsBackPossibleTag) {
    ReasoningSplitter s(in_prompt());
    EXPECT_EQ(s.push("step one <").reasoning, "step one");  // " <" held: may start </think>
    EXPECT_EQ(s.push("/th").reasoning, "");
    const ReasoningDelta d = s.push("ink>done");
    EXPECT_EQ(d.reasoning, "");
    EXPECT_EQ(d.content, "done");
    EXPECT_TRUE(s.reasoning_closed());
    EXPECT_FALSE(s.in_reasoning());
    // A held "<" that turns out not to be a tag is released with what follows.
    ReasoningSplitter u(in_prompt());
    EXPECT_EQ(u.push("a <").reasoning, "a");
    EXPECT_EQ(u.push("b").reasoning, " <b");
}

TEST(ReasoningSplitter, KeepWhitespaceOption) {
    ReasoningSplitter::Options o = in_prompt();
    o.trim_whitespace = false;
    const Split s = run_all_ways(o, "\nr\n</think>\n\na ");
    EXPECT_EQ(s.reasoning, "\nr\n");
    EXPECT_EQ(s.content, "\n\na ");
}

TEST(ReasoningSplitter, MultiByteText) {
    const Split s = run_all_ways(in_prompt(), "设鸡x只，兔y只。\n</think>\n\n鸡有**23**只 🐔");
    EXPECT_EQ(s.reasoning, "设鸡x只，兔y只。");
    EXPECT_EQ(s.content, "鸡有**23**只 🐔");
}

}  // namespace
}  // namespace retort::test
