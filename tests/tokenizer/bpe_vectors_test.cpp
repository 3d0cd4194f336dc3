// Byte-level BPE vocabs of both R1 families: every llama.cpp vector in tests/data/vocab must
// give identical ids for its (add_bos, parse_special) flags and decode to `detok`
// (unparse_special) and `detok_no_special`.
#include "tokenizer_test_util.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace retort::test {
namespace {

using nlohmann::json;

struct VectorStats {
    int total = 0, ids_ok = 0, detok_ok = 0, detok_no_special_ok = 0;
};

VectorStats check_vectors(const Tokenizer& t, const std::string& jsonl, const char* name) {
    VectorStats s;
    std::istringstream in(read_file(data_path(jsonl)));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const json v = json::parse(line);
        const std::string text = v["text"];
        const bool add_bos = v["add_bos"], parse_special = v["parse_special"];
        const auto want = v["ids"].get<std::vector<int32_t>>();
        ++s.total;
        const auto got = t.encode(text, add_bos, parse_special);
        if (got == want) {
            ++s.ids_ok;
        } else {
            ADD_FAILURE() << name << " [" << v["category"] << "] add_bos=" << add_bos
                          << " parse_special=" << parse_special << "\n text: " << json(text).dump()
                          << "\n got:  " << ids_str(got) << "\n want: " << ids_str(want);
        }
        const std::string detok = v["detok"];
        const std::string got_detok = t.decode(want, false, true);
        if (got_detok == detok)
            ++s.detok_ok;
        else
            ADD_FAILURE() << name << " detok of " << ids_str(want) << "\n got:  " << json(got_detok).dump()
                          << "\n want: " << json(detok).dump();
        const std::string no_special = v.contains("detok_no_special") ? v["detok_no_special"].get<std::string>() : detok;
        const std::string got_no_special = t.decode(want, false, false);
        if (got_no_special == no_special)
            ++s.detok_no_special_ok;
        else
            ADD_FAILURE() << name << " detok_no_special of " << ids_str(want) << "\n got:  "
                          << json(got_no_special).dump() << "\n want: " << json(no_special).dump();
    }
    std::printf("%s: %d vectors checked, ids %d/%d, detok %d/%d, detok_no_special %d/%d\n", name, s.total,
                s.ids_ok, s.total, s.detok_ok, s.total, s.detok_no_special_ok, s.total);
    return s;
}

TEST(BpeVectors, R1DistillQwen) {
    auto v = load_vocab("vocab/ggml-vocab-r1-distill-qwen.gguf");
    ASSERT_TRUE(v.tok);
    const VectorStats s = check_vectors(*v.tok, "vocab/r1-distill-qwen.jsonl", "r1-distill-qwen");
    EXPECT_EQ(s.total, 428);
    EXPECT_EQ(s.ids_ok, s.total);
}

TEST(BpeVectors, R1DistillLlama) {
    auto v = load_vocab("vocab/ggml-vocab-r1-distill-llama.gguf");
    ASSERT_TRUE(v.tok);
    const VectorStats s = check_vectors(*v.tok, "vocab/r1-distill-llama.jsonl", "r1-distill-llama");
    EXPECT_EQ(s.total, 428);
    EXPECT_EQ(s.ids_ok, s.total);
}

}  // namespace
}  // namespace retort::test
