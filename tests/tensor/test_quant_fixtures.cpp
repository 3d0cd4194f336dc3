// The strongest check we have of byte compatibility: the tiny fixture models were made by
// llama-quantize from their F32 sibling with no importance matrix, which runs ggml's
// quantize_row_*_ref per tensor (tests/data/FIXTURES.md, section 3). So quantizing the F32
// tensors with our reference quantizers must give the quantized files' bytes exactly, and
// dequantizing those bytes must give back the F32 weights within each type's error bound.

#include "gguf/gguf.h"
#include "quant_test_util.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <ostream>

namespace retort::test {
namespace {

std::string fixture(const std::string& name) {
    return std::string(RETORT_TEST_DATA) + "/tiny/" + name + ".gguf";
}

struct FixtureCase {
    const char* arch;
    const char* file_type;
};

void PrintTo(const FixtureCase& c, std::ostream* os) { *os << c.arch << "-" << c.file_type; }

class QuantizedFixture : public testing::TestWithParam<FixtureCase> {};

TEST_P(QuantizedFixture, ReferenceQuantizersReproduceTheFileBytes) {
    const FixtureCase c = GetParam();
    const std::string src_path = fixture(std::string("tiny-") + c.arch + "-F32");
    const std::string q_path = fixture(std::string("tiny-") + c.arch + "-" + c.file_type);
    if (!std::filesystem::exists(src_path) || !std::filesystem::exists(q_path))
        GTEST_SKIP() << "fixture missing: " << q_path;

    auto src = GgufFile::open(src_path);
    ASSERT_TRUE(src.ok()) << src.error().message;
    auto qf = GgufFile::open(q_path);
    ASSERT_TRUE(qf.ok()) << qf.error().message;

    std::map<std::string, int> tensors_per_type;
    for (const GgufTensorInfo& qt : (*qf)->tensors()) {
        const TypeTraits* t = find_traits(qt.ggml_type);
        ASSERT_NE(t, nullptr) << qt.name << ": type " << ggml_type_name(qt.ggml_type);
        if (t->type == DType::F32) continue;  // norms and biases stay F32: nothing to check
        const GgufTensorInfo* st = (*src)->find_tensor(qt.name);
        ASSERT_NE(st, nullptr) << qt.name << " missing from " << src_path;
        ASSERT_EQ(st->ggml_type, (uint32_t)DType::F32) << qt.name;
        const int64_t n = qt.n_elements();
        ASSERT_EQ(st->n_elements(), n) << qt.name;
        ASSERT_EQ(qt.size_bytes, row_bytes(*t, n)) << qt.name;

        std::vector<float> x((size_t)n);
        std::memcpy(x.data(), st->data, (size_t)n * sizeof(float));

        // 1. Our quantizer, block for block against llama-quantize's bytes.
        std::vector<uint8_t> q(row_bytes(*t, n));
        t->quantize_row(x.data(), q.data(), n);
        int64_t bad_blocks = 0, first_bad = -1;
        for (size_t ib = 0; ib < q.size() / t->block_bytes; ++ib) {
            if (std::memcmp(q.data() + ib * t->block_bytes, qt.data + ib * t->block_bytes,
                            t->block_bytes) != 0) {
                if (first_bad < 0) first_bad = (int64_t)ib;
                ++bad_blocks;
            }
        }
        EXPECT_EQ(bad_blocks, 0) << qt.name << " (" << t->name << "): " << bad_blocks << " of "
                                 << q.size() / t->block_bytes << " blocks differ, first "
                                 << first_bad;

        // 2. The file's bytes dequantize to the source weights within the type's bound,
        //    relative to the tensor's RMS (random weights, not N(0,1)).
        std::vector<float> y((size_t)n);
        t->dequantize_row(qt.data, y.data(), n);
        double sum2 = 0;
        for (float v : x) sum2 += (double)v * v;
        const double rms = std::sqrt(sum2 / (double)n);
        const ErrorStats s = compare(y, x);
        EXPECT_EQ(s.n_nonfinite, 0) << qt.name;
        EXPECT_LE(s.rmse, 1.5 * t->max_roundtrip_error * rms + 1e-12)
            << qt.name << " (" << t->name << "): rmse " << s.rmse << ", tensor rms " << rms;
        ++tensors_per_type[t->name];
    }
    std::string summary;
    for (const auto& [name, count] : tensors_per_type) summary += " " + name + " x" + std::to_string(count);
    std::printf("  %s-%s: checked%s\n", c.arch, c.file_type, summary.c_str());
    EXPECT_FALSE(tensors_per_type.empty());
}

std::vector<FixtureCase> all_cases() {
    std::vector<FixtureCase> out;
    for (const char* arch : {"qwen2", "llama"})
        for (const char* ft : {"F16", "BF16", "Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q3_K_M", "Q2_K"})
            out.push_back({arch, ft});
    return out;
}

INSTANTIATE_TEST_SUITE_P(Tiny, QuantizedFixture, testing::ValuesIn(all_cases()),
                         [](const testing::TestParamInfo<FixtureCase>& info) {
                             return std::string(info.param.arch) + "_" + info.param.file_type;
                         });

}  // namespace
}  // namespace retort::test
