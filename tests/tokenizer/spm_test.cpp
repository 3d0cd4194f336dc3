// SentencePiece vocab (stories260K): ids and detokenized text against llama.cpp's reference.
#include "tokenizer_test_util.h"

#include <nlohmann/json.hpp>

namespace retort::test {
namespace {

using nlohmann::json;

class Stories260K : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        vocab_ = new LoadedVocab(load_vocab("stories260K/stories260K.gguf"));
        ref_ = new json(json::parse(read_file(data_path("stories260K/reference.json"))));
    }
    static void TearDownTestSuite() {
        delete vocab_;
        delete ref_;
    }
    static LoadedVocab* vocab_;
    static json* ref_;
};
LoadedVocab* Stories260K::vocab_ = nullptr;
json* Stories260K::ref_ = nullptr;

TEST_F(Stories260K, SpecialIds) {
    ASSERT_TRUE(vocab_->tok);
    const Tokenizer& t = *vocab_->tok;
    EXPECT_EQ(t.n_vocab(), 512);
    EXPECT_EQ(t.bos(), 1);
    EXPECT_EQ(t.eos(), 2);
    EXPECT_TRUE(t.add_bos_default());
    EXPECT_TRUE(t.add_space_prefix());
    EXPECT_EQ(t.eog_ids(), std::vector<int32_t>({2}));
    EXPECT_EQ(t.token_type(0), TokenType::kUnknown);
    EXPECT_EQ(t.token_type(3), TokenType::kByte);
    EXPECT_EQ(t.find_token("<0x0A>"), 13);
}

TEST_F(Stories260K, ReferenceIdsAndText) {
    ASSERT_TRUE(vocab_->tok);
    const Tokenizer& t = *vocab_->tok;
    int checked = 0;
    for (const json& p : (*ref_)["prompts"]) {
        const std::string text = p["text"];
        const auto no_bos = p["ids_no_bos"].get<std::vector<int32_t>>();
        const auto with_bos = p["ids_with_bos"].get<std::vector<int32_t>>();
        EXPECT_EQ(ids_str(t.encode(text, false, false)), ids_str(no_bos)) << "text: " << text;
        EXPECT_EQ(ids_str(t.encode(text, true, false)), ids_str(with_bos)) << "text: " << text;
        EXPECT_EQ(ids_str(t.encode(text, true, true)), ids_str(with_bos)) << "text: " << text;

        const auto greedy = p["greedy_ids"].get<std::vector<int32_t>>();
        EXPECT_EQ(t.decode(greedy, false, true), p["greedy_text"].get<std::string>()) << "text: " << text;
        std::vector<int32_t> all = p["eval_ids"].get<std::vector<int32_t>>();
        all.insert(all.end(), greedy.begin(), greedy.end());
        EXPECT_EQ(t.decode(all, false, true), p["full_text"].get<std::string>()) << "text: " << text;

        // Streaming one id at a time gives the same text.
        StreamDecoder sd(t, /*unparse_special=*/true);
        std::string streamed;
        for (int32_t id : all) streamed += sd.push(id);
        streamed += sd.flush();
        EXPECT_EQ(streamed, p["full_text"].get<std::string>());
        ++checked;
    }
    EXPECT_EQ(checked, 8);
    std::printf("stories260K: %d prompts checked\n", checked);
}

TEST_F(Stories260K, ByteFallbackAndSpecials) {
    ASSERT_TRUE(vocab_->tok);
    const Tokenizer& t = *vocab_->tok;
    // Characters outside the 512-token vocab fall back to their UTF-8 bytes and decode back.
    for (const std::string text : {"héllo wörld", "猫 and 🐱", "tab\there\nnewline", "  two spaces"}) {
        const auto ids = t.encode(text, false, false);
        EXPECT_EQ(t.decode(ids, false, false), text) << ids_str(ids);
        // llama.cpp: after a BOS (removed or rendered as nothing) the prepended space stays.
        const auto with_bos = t.encode(text, true, false);
        EXPECT_EQ(t.decode(with_bos, true, false), std::string(" ").append(text));
        EXPECT_EQ(t.decode(with_bos, false, false), std::string(" ").append(text));
    }
    // With parse_special the text "<s>" is BOS; without, it is plain text.
    const auto special = t.encode("a<s>b", false, true);
    EXPECT_NE(std::find(special.begin(), special.end(), 1), special.end()) << ids_str(special);
    const auto plain = t.encode("a<s>b", false, false);
    EXPECT_EQ(std::find(plain.begin(), plain.end(), 1), plain.end()) << ids_str(plain);
    EXPECT_EQ(t.decode(plain, false, false), "a<s>b");
    EXPECT_TRUE(t.encode("", false, true).empty());
    EXPECT_EQ(t.encode("", true, true), std::vector<int32_t>({1}));
}

}  // namespace
}  // namespace retort::test
