// Vocab loading from handcrafted GGUFs: every rejection (missing or mistyped keys, short
// arrays, unknown tokenizer or pre-tokenizer), and llama.cpp's fallbacks on odd vocabs
// (merges whose result is not a token, missing byte tokens, out-of-range ids).
#include "gguf/gguf_writer.h"
#include "tokenizer_test_util.h"

#include <span>

namespace retort::test {
namespace {

struct Built {
    std::vector<uint8_t> bytes;
    std::unique_ptr<GgufFile> file;
};

// Serializes `w` and parses it back (the tokenizer keeps views into `bytes`).
Built build(const GgufWriter& w) {
    Built b;
    auto buf = w.write_buffer();
    EXPECT_TRUE(buf.ok()) << (buf.ok() ? "" : buf.error().message);
    if (!buf.ok()) return b;
    b.bytes = std::move(buf.value());
    auto f = GgufFile::parse("handmade.gguf", b.bytes.data(), b.bytes.size());
    EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
    if (f.ok()) b.file = std::move(f.value());
    return b;
}

void set_tokens(GgufWriter& w, const std::vector<std::string>& tokens) {
    w.set_array_strings("tokenizer.ggml.tokens", std::span<const std::string>(tokens));
}

GgufWriter small_bpe() {
    GgufWriter w;
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "qwen2");
    // "abc" is not a token although the merges build it.
    set_tokens(w, {"a", "b", "c", "ab", "Ġ", "Ġa", "<|end|>", "<x>"});
    w.set_array("tokenizer.ggml.token_type", std::vector<int32_t>{1, 1, 1, 1, 1, 1, 3, 4});
    const std::vector<std::string> merges = {"a b", "ab c", "Ġ a"};
    w.set_array_strings("tokenizer.ggml.merges", std::span<const std::string>(merges));
    w.set_u32("tokenizer.ggml.eos_token_id", 6);
    return w;
}

Error load_error(const GgufWriter& w) {
    Built b = build(w);
    if (!b.file) return Error{};
    auto t = Tokenizer::from_gguf(*b.file);
    EXPECT_FALSE(t.ok());
    return t.ok() ? Error{} : t.error();
}

TEST(VocabLoading, Rejections) {
    {
        GgufWriter w = small_bpe();
        w.remove("tokenizer.ggml.model");
        const Error e = load_error(w);
        EXPECT_EQ(e.kind, ErrorKind::kBadFile);
        EXPECT_NE(e.message.find("tokenizer.ggml.model"), std::string::npos) << e.message;
    }
    {
        GgufWriter w = small_bpe();
        w.set_string("tokenizer.ggml.model", "t5");
        const Error e = load_error(w);
        EXPECT_EQ(e.kind, ErrorKind::kUnsupported);
        EXPECT_NE(e.message.find("'t5'"), std::string::npos) << e.message;
    }
    {
        GgufWriter w = small_bpe();
        w.set_u32("tokenizer.ggml.model", 2);
        EXPECT_EQ(load_error(w).kind, ErrorKind::kBadFile);
    }
    {
        GgufWriter w = small_bpe();
        w.set_string("tokenizer.ggml.pre", "mystery");
        const Error e = load_error(w);
        EXPECT_EQ(e.kind, ErrorKind::kUnsupported);
        EXPECT_NE(e.message.find("mystery"), std::string::npos) << e.message;
    }
    {
        GgufWriter w = small_bpe();
        w.remove("tokenizer.ggml.pre");
        EXPECT_EQ(load_error(w).kind, ErrorKind::kUnsupported);
    }
    {
        GgufWriter w = small_bpe();
        w.remove("tokenizer.ggml.merges");
        const Error e = load_error(w);
        EXPECT_EQ(e.kind, ErrorKind::kBadFile);
        EXPECT_NE(e.message.find("merges"), std::string::npos) << e.message;
    }
    {
        GgufWriter w = small_bpe();
        w.set_array("tokenizer.ggml.token_type", std::vector<int32_t>{1, 1});
        const Error e = load_error(w);
        EXPECT_EQ(e.kind, ErrorKind::kBadFile);
        EXPECT_NE(e.message.find("token_type has 2 entries, expected 8"), std::string::npos) << e.message;
    }
    {
        GgufWriter w = small_bpe();
        w.set_array("tokenizer.ggml.tokens", std::vector<int32_t>{1, 2, 3});
        EXPECT_EQ(load_error(w).kind, ErrorKind::kBadFile);
    }
    {
        GgufWriter w = small_bpe();
        set_tokens(w, {});
        EXPECT_EQ(load_error(w).kind, ErrorKind::kBadFile);
    }
    {
        GgufWriter w;
        w.set_string("tokenizer.ggml.model", "llama");
        set_tokens(w, {"<unk>", "<s>", "</s>"});
        w.set_array("tokenizer.ggml.scores", std::vector<float>{0.0f});
        const Error e = load_error(w);
        EXPECT_EQ(e.kind, ErrorKind::kBadFile);
        EXPECT_NE(e.message.find("scores"), std::string::npos) << e.message;
    }
    {
        GgufWriter w = small_bpe();
        w.set_string("tokenizer.ggml.bos_token_id", "1");
        EXPECT_EQ(load_error(w).kind, ErrorKind::kBadFile);
    }
}

TEST(VocabLoading, BpeFallbacks) {
    GgufWriter w = small_bpe();
    w.set_u32("tokenizer.ggml.bos_token_id", 4000000000u);  // out of range: ignored
    Built b = build(w);
    ASSERT_TRUE(b.file);
    auto t = Tokenizer::from_gguf(*b.file);
    ASSERT_TRUE(t.ok()) << t.error().message;
    const Tokenizer& tok = *t.value();
    EXPECT_EQ(tok.bos(), -1);  // llama.cpp's gpt2 default (11) is out of range too
    EXPECT_EQ(tok.eos(), 6);
    EXPECT_TRUE(tok.is_eog(6));
    // "abc" is merged but is no token: llama.cpp then looks each byte up on its own.
    EXPECT_EQ(tok.encode("abc", true, false), std::vector<int32_t>({0, 1, 2}));
    EXPECT_EQ(tok.encode("ab", false, false), std::vector<int32_t>({3}));
    EXPECT_EQ(tok.encode(" a", false, false), std::vector<int32_t>({5}));
    // Bytes with no token are dropped, as in llama.cpp.
    EXPECT_EQ(tok.encode("xa", false, false), std::vector<int32_t>({0}));
    // <x> is USER_DEFINED: matched even without parse_special; <|end|> is CONTROL: plain text.
    EXPECT_EQ(tok.encode("a<x>b<|end|>", false, false), std::vector<int32_t>({0, 7, 1}));
    EXPECT_EQ(tok.encode("a<|end|>", false, true), std::vector<int32_t>({0, 6}));
    // Ids outside the vocab decode to nothing instead of crashing.
    EXPECT_EQ(tok.decode({0, -5, 1, 999, 3}, false, true), "abab");
    EXPECT_EQ(tok.token_to_piece(1 << 30, true), "");
    StreamDecoder sd(tok);
    EXPECT_EQ(sd.push(-1), "");
}

TEST(VocabLoading, SpmWithoutByteTokens) {
    GgufWriter w;
    w.set_string("tokenizer.ggml.model", "llama");
    set_tokens(w, {"<unk>", "<s>", "</s>", "▁", "a", "▁a"});
    w.set_array("tokenizer.ggml.scores", std::vector<float>{0, 0, 0, -1, -2, -0.5f});
    w.set_array("tokenizer.ggml.token_type", std::vector<int32_t>{2, 3, 3, 1, 1, 1});
    Built b = build(w);
    ASSERT_TRUE(b.file);
    auto t = Tokenizer::from_gguf(*b.file);
    ASSERT_TRUE(t.ok()) << t.error().message;
    const Tokenizer& tok = *t.value();
    EXPECT_EQ(tok.bos(), 1);
    EXPECT_EQ(tok.eos(), 2);
    // "b" has neither <0x62> nor a "b" token: <unk> (llama.cpp would throw).
    EXPECT_EQ(tok.encode("ab", true, false), std::vector<int32_t>({1, 5, 0}));
    EXPECT_EQ(tok.decode({1, 5, 0}, true, false), " a");
    EXPECT_EQ(tok.decode({5, 0}, false, true), "a<unk>");
    // With parse_special, <unk>'s text is matched too (llama.cpp: UNKNOWN is special).
    EXPECT_EQ(tok.encode("<unk>", false, true), std::vector<int32_t>({0}));
}

}  // namespace
}  // namespace retort::test
