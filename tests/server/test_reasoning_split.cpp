// The server's reasoning split (tokenizer/reasoning.h's ReasoningSplitter, as ResponseBuilder
// drives it: push per piece, finish at the end): the R1 reply split into reasoning and answer,
// whatever the piece boundaries.
#include "tokenizer/reasoning.h"

#include <gtest/gtest.h>

namespace retort {
namespace {

struct Split {
    std::string reasoning, content;
};

Split run(const std::vector<std::string>& pieces, bool starts_in_reasoning) {
    ReasoningSplitter::Options opt;
    opt.start_in_reasoning = starts_in_reasoning;
    ReasoningSplitter s(opt);
    Split out;
    for (const auto& p : pieces) {
        auto o = s.push(p);
        out.reasoning += o.reasoning;
        out.content += o.content;
    }
    auto o = s.finish();
    out.reasoning += o.reasoning;
    out.content += o.content;
    return out;
}

// Every way of cutting `text` in two and in three gives the same split as one piece.
void expect_split(const std::string& text, bool starts, const std::string& reasoning, const std::string& content) {
    Split whole = run({text}, starts);
    EXPECT_EQ(whole.reasoning, reasoning) << text;
    EXPECT_EQ(whole.content, content) << text;
    for (size_t i = 0; i <= text.size(); ++i) {
        Split two = run({text.substr(0, i), text.substr(i)}, starts);
        ASSERT_EQ(two.reasoning, reasoning) << "cut at " << i;
        ASSERT_EQ(two.content, content) << "cut at " << i;
        for (size_t j = i; j <= text.size(); j += 3) {
            Split three = run({text.substr(0, i), text.substr(i, j - i), text.substr(j)}, starts);
            ASSERT_EQ(three.reasoning, reasoning) << "cuts at " << i << ", " << j;
            ASSERT_EQ(three.content, content) << "cuts at " << i << ", " << j;
        }
    }
    // One byte at a time.
    std::vector<std::string> bytes;
    for (char c : text) bytes.emplace_back(1, c);
    Split b = run(bytes, starts);
    EXPECT_EQ(b.reasoning, reasoning);
    EXPECT_EQ(b.content, content);
}

TEST(ReasoningSplit, PromptOpenedThink) {
    expect_split("Let me think.\nOK, 2+2=4.\n</think>\n\nThe answer is 4.", true, "Let me think.\nOK, 2+2=4.",
                 "The answer is 4.");
}

TEST(ReasoningSplit, ModelOpensThinkItself) {
    expect_split("<think>\nhmm\n</think>\n\nyes", false, "hmm", "yes");
    expect_split("\n<think>a</think>b", false, "a", "b");
}

TEST(ReasoningSplit, NoThinkAtAll) {
    expect_split("Just an answer, <thin no tag.", false, "", "Just an answer, <thin no tag.");
    expect_split("<thinking> is not the tag", false, "", "<thinking> is not the tag");
}

TEST(ReasoningSplit, UnfinishedReasoningStaysReasoning) {
    expect_split("still thinking </thi", true, "still thinking </thi", "");
}

TEST(ReasoningSplit, TagTextInsideAnswerIsKept) {
    expect_split("r</think>a </think> b", true, "r", "a </think> b");
}

// Where the splitter the server had before differed: a model that opens <think> again after the
// prompt did has it dropped (not shown as reasoning text), and unfinished reasoning loses its
// trailing whitespace, as finished reasoning does.
TEST(ReasoningSplit, RepeatedOpeningTagAndUnfinishedWhitespace) {
    expect_split("<think>\nhmm\n</think>\n\nyes", true, "hmm", "yes");
    expect_split("still thinking \n", true, "still thinking", "");
}

TEST(ReasoningSplit, EmptyReasoning) {
    expect_split("</think>\n\nanswer", true, "", "answer");
    expect_split("", true, "", "");
}

}  // namespace
}  // namespace retort
