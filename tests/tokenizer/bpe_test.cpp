// Byte-level BPE specifics: special ids and EOG sets as llama.cpp derives them, the Qwen `</s>`
// quirk, USER_DEFINED matching without parse_special, invalid UTF-8, streaming decode, speed.
#include "tokenizer_test_util.h"

#include "tokenizer/utf8.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>

namespace retort::test {
namespace {

using nlohmann::json;

class QwenVocab : public ::testing::Test {
protected:
    static void SetUpTestSuite() { v_ = new LoadedVocab(load_vocab("vocab/ggml-vocab-r1-distill-qwen.gguf")); }
    static void TearDownTestSuite() { delete v_; }
    static LoadedVocab* v_;
};
LoadedVocab* QwenVocab::v_ = nullptr;

class LlamaVocab : public ::testing::Test {
protected:
    static void SetUpTestSuite() { v_ = new LoadedVocab(load_vocab("vocab/ggml-vocab-r1-distill-llama.gguf")); }
    static void TearDownTestSuite() { delete v_; }
    static LoadedVocab* v_;
};
LoadedVocab* LlamaVocab::v_ = nullptr;

TEST_F(QwenVocab, SpecialIdsAndEog) {
    ASSERT_TRUE(v_->tok);
    const Tokenizer& t = *v_->tok;
    EXPECT_EQ(t.n_vocab(), 151936);
    EXPECT_EQ(t.bos(), 151646);
    EXPECT_EQ(t.eos(), 151643);
    EXPECT_EQ(t.eot(), 151643);
    EXPECT_TRUE(t.add_bos_default());
    EXPECT_EQ(t.eog_ids(), std::vector<int32_t>({128247, 151643, 151662, 151663, 151664}));
    for (int32_t id : {151643, 151662, 151663, 151664, 128247}) EXPECT_TRUE(t.is_eog(id)) << id;
    EXPECT_FALSE(t.is_eog(151645));
    EXPECT_EQ(t.find_token("<think>"), 151648);
    EXPECT_EQ(t.token_type(151648), TokenType::kUserDefined);
    EXPECT_EQ(t.token_type(151646), TokenType::kControl);
    // `</s>` is an ordinary Qwen token that llama.cpp turns into a CONTROL EOG token.
    EXPECT_EQ(t.find_token("</s>"), 128247);
    EXPECT_EQ(t.token_type(128247), TokenType::kControl);
    EXPECT_TRUE(t.is_special(128247));
    EXPECT_EQ(t.token_type(151700), TokenType::kUnused);  // [PAD151700]
    EXPECT_EQ(t.token_to_piece(151700, true), "");
}

TEST_F(QwenVocab, SpecialTokenMatching) {
    ASSERT_TRUE(v_->tok);
    const Tokenizer& t = *v_->tok;
    EXPECT_EQ(t.encode("a</s>b", false, true), std::vector<int32_t>({64, 128247, 65}));
    // Without parse_special CONTROL texts are plain text, USER_DEFINED ones still match.
    EXPECT_EQ(t.encode("<think>", false, false), std::vector<int32_t>({151648}));
    EXPECT_EQ(t.encode("</think>\n\nok", false, false).front(), 151649);
    const auto plain = t.encode("<｜User｜>", false, false);
    EXPECT_GT(plain.size(), 1u);
    EXPECT_EQ(t.encode("<｜User｜>", false, true), std::vector<int32_t>({151644}));
    // Double BOS is not prevented.
    EXPECT_EQ(t.encode("<｜begin▁of▁sentence｜>hi", true, true),
              std::vector<int32_t>({151646, 151646, 6023}));
    // CONTROL tokens render only with unparse_special; USER_DEFINED always.
    EXPECT_EQ(t.token_to_piece(151644, false), "");
    EXPECT_EQ(t.token_to_piece(151644, true), "<｜User｜>");
    EXPECT_EQ(t.token_to_piece(151648, false), "<think>");
}

TEST_F(QwenVocab, DigitsAndNoNormalization) {
    ASSERT_TRUE(v_->tok);
    const Tokenizer& t = *v_->tok;
    EXPECT_EQ(t.encode("12345", false, false).size(), 5u);  // Qwen splits digits one by one
    EXPECT_EQ(t.encode("e\xCC\x81", false, false), std::vector<int32_t>({68, 53839}));  // e + U+0301, no NFC
}

TEST_F(QwenVocab, InvalidUtf8BecomesReplacementCharacter) {
    ASSERT_TRUE(v_->tok);
    const Tokenizer& t = *v_->tok;
    // llama.cpp BPEs U+FFFD in place of each byte that does not start a valid sequence.
    const std::string bad = std::string("a\xFF") + "b\xC3" + "(" + "\xED\xA0\x80";
    const auto ids = t.encode(bad, false, false);
    ASSERT_FALSE(ids.empty());
    const std::string back = t.decode(ids, false, false);
    EXPECT_EQ(back, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD(\xED\xA0\x80");
    for (const std::string& s : {std::string(1, '\x80'), std::string("\xF0\x9F"), std::string("\xC0\xAF")})
        EXPECT_FALSE(t.encode(s, true, true).empty());
}

TEST_F(LlamaVocab, SpecialIdsAndEog) {
    ASSERT_TRUE(v_->tok);
    const Tokenizer& t = *v_->tok;
    EXPECT_EQ(t.n_vocab(), 128256);
    EXPECT_EQ(t.bos(), 128000);
    EXPECT_EQ(t.eos(), 128001);
    EXPECT_EQ(t.eot(), 128009);
    EXPECT_EQ(t.eog_ids(), std::vector<int32_t>({128001, 128008, 128009}));
    EXPECT_EQ(t.find_token("<think>"), 128013);
    EXPECT_EQ(t.encode("<think>", false, false), std::vector<int32_t>({128013}));
}

TEST_F(LlamaVocab, DecodeCleansUpSpaces) {
    ASSERT_TRUE(v_->tok);
    const Tokenizer& t = *v_->tok;
    const auto round = [&](const std::string& s) { return t.decode(t.encode(s, false, false), false, true); };
    EXPECT_EQ(round("= ?"), "=?");
    EXPECT_EQ(round("\"Quoted\" 'single'"), "\"Quoted\"'single'");
    EXPECT_EQ(round("it 's a , b ."), "it's a, b.");
    EXPECT_EQ(round("don 't"), "don 't");
    EXPECT_EQ(round("a ' b"), "a'b");
    EXPECT_EQ(t.encode("1234567", false, false).size(), 3u);  // Llama-3 groups digits by 3
}

// Every chunk a StreamDecoder returns is whole UTF-8 characters, and the chunks add up to
// decode() of the same ids.
void check_stream(const Tokenizer& t, const std::string& text, int* held_back) {
    const auto ids = t.encode(text, false, false);
    StreamDecoder sd(t);
    std::string all;
    for (int32_t id : ids) {
        const std::string chunk = sd.push(id);
        EXPECT_TRUE(utf8::is_valid(chunk)) << "chunk " << json(chunk).dump(-1, ' ', false, json::error_handler_t::replace);
        if (chunk.empty()) ++*held_back;
        all += chunk;
    }
    all += sd.flush();
    EXPECT_EQ(all, t.decode(ids, false, false));
    EXPECT_EQ(all, text);
}

TEST_F(QwenVocab, StreamDecoderHoldsPartialCharacters) {
    ASSERT_TRUE(v_->tok);
    int held = 0;
    for (const std::string text : {"鸡兔同笼，上有三十五头，下有九十四足。", "🐱🎉👩‍👩‍👧‍👦 emoji 🧑🏽‍🚀", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ∮ E⋅da = Q, 𓀀𓀁",
                                   "Ｆｕｌｌｗｉｄｔｈ ｶﾀｶﾅ 한국어 ภาษาไทย"})
        check_stream(*v_->tok, text, &held);
    EXPECT_GT(held, 0) << "no token split a character: the test does not exercise holding back";

    // The byte-level token "ä" is the single byte E4, a 3-byte lead: held until flush().
    const int32_t e4 = v_->tok->find_token("\xC3\xA4");
    ASSERT_GE(e4, 0);
    ASSERT_EQ(v_->tok->token_to_piece(e4, false), "\xE4");
    StreamDecoder sd(*v_->tok);
    EXPECT_EQ(sd.push(e4), "");
    EXPECT_EQ(sd.flush(), "\xE4");
    // A lead byte followed by a non-continuation is invalid: passed through, not held forever.
    StreamDecoder sd2(*v_->tok);
    EXPECT_EQ(sd2.push(e4), "");
    EXPECT_EQ(sd2.push(v_->tok->find_token("a")), "\xE4" "a");
    EXPECT_EQ(sd2.flush(), "");
}

TEST_F(LlamaVocab, StreamDecoderHoldsPartialCharacters) {
    ASSERT_TRUE(v_->tok);
    int held = 0;
    for (const std::string text : {"鸡兔同笼，上有三十五头，下有九十四足。", "🐱🎉👩‍👩‍👧‍👦 emoji 🧑🏽‍🚀", "𓀀𓀁 ∮ ⋅"})
        check_stream(*v_->tok, text, &held);
    EXPECT_GT(held, 0);
}

// Throughput on a mixed English / Chinese / code corpus (every fixture text, repeated).
// Printed, not asserted.
void bench(const Tokenizer& t, const char* name, const std::string& jsonl) {
    std::istringstream in(read_file(data_path(jsonl)));
    std::string line, corpus;
    std::set<std::string> seen;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const std::string text = json::parse(line)["text"];
        if (seen.insert(text).second) corpus += text + "\n";
    }
    const size_t base_tokens = t.encode(corpus, false, false).size();
    std::string big;
    while (t.encode(big, false, false).size() < 32768) big += corpus;
    const size_t n_tokens = t.encode(big, false, false).size();
    // Best of several runs, in CPU time of this thread: the test machine is often shared.
    const auto cpu_ms = [] {
        timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
    };
    double best_ms = 1e30;
    for (int r = 0; r < 10; ++r) {
        const double t0 = cpu_ms();
        const auto ids = t.encode(big, false, false);
        best_ms = std::min(best_ms, cpu_ms() - t0);
        EXPECT_EQ(ids.size(), n_tokens);
    }
    const auto ids = t.encode(big, false, false);
    const double d0 = cpu_ms();
    const std::string back = t.decode(ids, false, true);
    const double decode_ms = cpu_ms() - d0;
    std::printf("%s: corpus %zu bytes / %zu tokens (%zu distinct texts x%zu); encode %.2f ms = %.1f MB/s, "
                "%.2f ms per 32K tokens; decode %.2f ms (CPU time)\n",
                name, big.size(), n_tokens, seen.size(), big.size() / (corpus.size()), best_ms,
                big.size() / best_ms / 1e3, best_ms * 32768.0 / n_tokens,
                decode_ms);
    (void)base_tokens;
}

TEST_F(QwenVocab, Throughput) {
    ASSERT_TRUE(v_->tok);
    bench(*v_->tok, "r1-distill-qwen", "vocab/r1-distill-qwen.jsonl");
}

TEST_F(LlamaVocab, Throughput) {
    ASSERT_TRUE(v_->tok);
    bench(*v_->tok, "r1-distill-llama", "vocab/r1-distill-llama.jsonl");
}

TEST(BpeLoad, LoadTime) {
    for (const char* rel : {"vocab/ggml-vocab-r1-distill-qwen.gguf", "vocab/ggml-vocab-r1-distill-llama.gguf"}) {
        const auto t0 = std::chrono::steady_clock::now();
        auto v = load_vocab(rel);
        const auto t1 = std::chrono::steady_clock::now();
        ASSERT_TRUE(v.tok);
        std::printf("load %s: %.1f ms\n", rel, std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
}

}  // namespace
}  // namespace retort::test

namespace retort::test {
namespace {

// Random valid UTF-8 from a pool of hard cases decodes back to itself (Qwen: no clean-up).
TEST_F(QwenVocab, RandomRoundTrip) {
    ASSERT_TRUE(v_->tok);
    const Tokenizer& t = *v_->tok;
    const std::vector<std::string> pool = {
        "a", "Z", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "0", "9", "123", ".", ",", "?", "!", "'", "\"",
        "(", ")", "{", "}", "<", ">", "</", "<think>", "</think>", "<|", "|>", "▁", "é", "e\xCC\x81", "ß",
        "中", "文", "，", "。", "😀", "👩‍💻", "🇫🇷", "\xC2\xA0", "\xE3\x80\x80", "\xE1\xA0\x8E", "ﬁ", "Ω",
        "\xF0\x9D\x94\x98", "\xF0\xB1\x8D\x90", "\xEF\xBF\xBD", "\x7F", std::string(1, '\0'), "\x1F"};
    uint64_t state = 12345;
    const auto next = [&] {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return (uint32_t)(state >> 33);
    };
    for (int iter = 0; iter < 2000; ++iter) {
        std::string text;
        const int n = 1 + (int)(next() % 24);
        for (int k = 0; k < n; ++k) text += pool[next() % pool.size()];
        const auto ids = t.encode(text, false, false);
        ASSERT_EQ(t.decode(ids, false, false), text) << ids_str(ids);
        const auto ids_sp = t.encode(text, true, true);
        ASSERT_EQ(t.decode(ids_sp, true, true), text) << ids_str(ids_sp);
    }
}

TEST_F(QwenVocab, LongInputs) {
    ASSERT_TRUE(v_->tok);
    const Tokenizer& t = *v_->tok;
    for (const std::string unit : {" ", "\n", "a", "中", "ab ", "😀"}) {
        std::string text;
        for (int i = 0; i < 50000; ++i) text += unit;
        EXPECT_EQ(t.decode(t.encode(text, false, false), false, false), text);
    }
}

TEST_F(LlamaVocab, LongInputs) {
    ASSERT_TRUE(v_->tok);
    const Tokenizer& t = *v_->tok;
    for (const std::string unit : {" ", "\n", "a", "中", "1"}) {
        std::string text;
        for (int i = 0; i < 50000; ++i) text += unit;
        EXPECT_EQ(t.decode(t.encode(text, false, false), false, false), text);
    }
}

}  // namespace
}  // namespace retort::test
