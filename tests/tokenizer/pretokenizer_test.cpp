// PreTokenizer: the word splits of the Qwen2 and Llama-3 regexes, including the characters where
// PCRE2's own Unicode classes would differ from llama.cpp's tables, and very long runs.
#include "tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace retort::test {
namespace {

std::vector<std::string> split(std::string_view pre, const std::string& text) {
    auto cfg = pre_tokenizer_config(pre);
    EXPECT_TRUE(cfg.has_value()) << pre;
    if (!cfg) return {};
    auto p = PreTokenizer::create(cfg->regexes);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    if (!p.ok()) return {};
    std::vector<std::pair<size_t, size_t>> words;
    p.value()->split(text, words);
    std::vector<std::string> out;
    size_t covered = 0;
    for (const auto& [b, e] : words) {
        EXPECT_EQ(b, covered) << "words must tile the text";
        covered = e;
        out.emplace_back(text.substr(b, e - b));
    }
    EXPECT_EQ(covered, text.size());
    return out;
}

using Words = std::vector<std::string>;

TEST(PreTokenizer, Qwen2Splits) {
    EXPECT_EQ(split("qwen2", "Hello world's 123"), (Words{"Hello", " world", "'s", " ", "1", "2", "3"}));
    EXPECT_EQ(split("deepseek-r1-qwen", "I'M here"), (Words{"I", "'M", " here"}));
    EXPECT_EQ(split("qwen2", "a  b"), (Words{"a", " ", " b"}));
    EXPECT_EQ(split("qwen2", "x \n\n  y"), (Words{"x", " \n\n", " ", " y"}));
    EXPECT_EQ(split("qwen2", "end   "), (Words{"end", "   "}));
    EXPECT_EQ(split("qwen2", "f(x) => {\n"), (Words{"f", "(x", ")", " =>", " {\n"}));
    EXPECT_EQ(split("qwen2", "鸡兔同笼，问"), (Words{"鸡兔同笼", "，问"}));
    EXPECT_EQ(split("qwen2", ""), Words{});
}

TEST(PreTokenizer, Llama3Splits) {
    EXPECT_EQ(split("llama-bpe", "1234567 apples"), (Words{"123", "456", "7", " apples"}));
    EXPECT_EQ(split("llama-bpe", "we'll"), (Words{"we", "'ll"}));
}

TEST(PreTokenizer, LlamaCppCharacterClasses) {
    // U+180E is whitespace to PCRE2 but not to llama.cpp: punctuation runs through it.
    EXPECT_EQ(split("qwen2", "!\xE1\xA0\x8E!"), Words{"!\xE1\xA0\x8E!"});
    // U+31350 (CJK Ext. H, Unicode 15) is a letter to llama.cpp.
    EXPECT_EQ(split("qwen2", "a\xF0\xB1\x8D\x90"), Words{"a\xF0\xB1\x8D\x90"});
    // U+1E4F0 (Nag Mundari digit zero, Unicode 15) is a number.
    EXPECT_EQ(split("qwen2", "\xF0\x9E\x93\xB0!"), (Words{"\xF0\x9E\x93\xB0", "!"}));
    // U+3000 and U+00A0 are whitespace.
    EXPECT_EQ(split("qwen2", "a\xE3\x80\x80\xE3\x80\x80" "b"), (Words{"a", "\xE3\x80\x80", "\xE3\x80\x80" "b"}));
}

TEST(PreTokenizer, LongRuns) {
    for (const std::string unit : {" ", "\n", "a", "中", "1", "!", " \n"}) {
        std::string text;
        for (int i = 0; i < 100000; ++i) text += unit;
        const auto words = split("qwen2", text);
        EXPECT_FALSE(words.empty()) << unit;
        const auto words3 = split("llama-bpe", text);
        EXPECT_FALSE(words3.empty()) << unit;
    }
}

TEST(PreTokenizer, UnknownName) { EXPECT_FALSE(pre_tokenizer_config("no-such-pre").has_value()); }

}  // namespace
}  // namespace retort::test
