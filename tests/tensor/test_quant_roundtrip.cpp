// Round trip quantize -> dequantize for every type in the traits table: error bounds on
// N(0,1) data and on weight-like scales, ragged block counts, buffer bounds, special inputs.

#include "quant_test_util.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

namespace retort::test {
namespace {

class RoundTrip : public testing::TestWithParam<const TypeTraits*> {};

// The bound in the traits row is the RMSE on N(0,1); 64 super-blocks keep sampling noise small.
TEST_P(RoundTrip, NormalDataWithinTraitsBound) {
    const TypeTraits& t = *GetParam();
    const std::vector<float> x = normal_data(256 * 64, 1234);
    const ErrorStats s = compare(round_trip(t, x), x);
    std::printf("  %-5s rmse on N(0,1): %.6f (bound %.6f)\n", t.name, s.rmse, t.max_roundtrip_error);
    EXPECT_EQ(s.n_nonfinite, 0);
    EXPECT_LE(s.rmse, t.max_roundtrip_error)
        << t.name << ": worst index " << s.worst << " abs error " << s.max_abs;
}

// Real weights have sigma ~ 0.02 and a few large channels. Every format is scale-free (up to
// f16 precision of the scales), so the error relative to sigma obeys the same bound. With
// outliers it grows, because one large value coarsens the step of its whole block: most for
// a single scale per 256 values (Q8_K measures 5.5x its N(0,1) error here), so allow 6x.
TEST_P(RoundTrip, WeightScaleWithinTraitsBound) {
    const TypeTraits& t = *GetParam();
    const float sigma = 0.02f;
    const std::vector<float> x = normal_data(256 * 64, 99, sigma);
    const ErrorStats s = compare(round_trip(t, x), x);
    EXPECT_EQ(s.n_nonfinite, 0);
    EXPECT_LE(s.rmse / sigma, t.max_roundtrip_error) << t.name << ": worst index " << s.worst;

    const std::vector<float> xo = normal_data(256 * 64, 98, sigma, /*outlier_every=*/97, 12.0f);
    const ErrorStats so = compare(round_trip(t, xo), xo);
    std::printf("  %-5s rmse/sigma at sigma 0.02: %.6f, with 1%% outliers x12: %.6f\n", t.name,
                s.rmse / sigma, so.rmse / sigma);
    EXPECT_EQ(so.n_nonfinite, 0);
    EXPECT_LE(so.rmse / sigma, 6.0 * t.max_roundtrip_error) << t.name << ": worst index " << so.worst;
}

// Rows of 1, 3, 7 and 33 blocks: every block of a row is independent, so the bound holds
// for each, and neither function writes past the row (canaries after both buffers).
TEST_P(RoundTrip, RaggedBlockCountsStayInBounds) {
    const TypeTraits& t = *GetParam();
    for (int nblocks : {1, 3, 7, 33}) {
        const int64_t n = nblocks * t.block_elems;
        const std::vector<float> x = normal_data(n, 7 + (uint32_t)nblocks);
        const size_t bytes = row_bytes(t, n);
        std::vector<uint8_t> q(bytes + 64, 0xA5);
        std::vector<float> y((size_t)n + 16, 12345.0f);
        t.quantize_row(x.data(), q.data(), n);
        t.dequantize_row(q.data(), y.data(), n);
        for (size_t i = bytes; i < q.size(); ++i)
            ASSERT_EQ(q[i], 0xA5) << t.name << ": quantize wrote past " << bytes << " bytes";
        for (size_t i = (size_t)n; i < y.size(); ++i)
            ASSERT_EQ(y[i], 12345.0f) << t.name << ": dequantize wrote past " << n << " floats";
        y.resize((size_t)n);
        const ErrorStats s = compare(y, x);
        EXPECT_EQ(s.n_nonfinite, 0);
        // One block is a small sample: allow 50% above the large-sample bound.
        EXPECT_LE(s.rmse, 1.5 * t.max_roundtrip_error) << t.name << ", " << nblocks << " blocks";
    }
}

// All-zero rows are common (padding, pruned channels): they must come back exactly zero,
// never NaN from a 0/0 scale.
TEST_P(RoundTrip, ZerosStayZero) {
    const TypeTraits& t = *GetParam();
    const int64_t n = 3 * 256;
    const std::vector<float> x((size_t)n, 0.0f);
    const std::vector<float> y = round_trip(t, x);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[(size_t)i], 0.0f) << t.name << " at " << i;
}

// A constant row and a row of one sign: the asymmetric formats (min offsets) and the
// symmetric ones (sign of the scale) each take a special path here.
TEST_P(RoundTrip, ConstantAndOneSignedRows) {
    const TypeTraits& t = *GetParam();
    const int64_t n = 2 * 256;
    for (float c : {0.75f, -3.0f}) {
        const std::vector<float> x((size_t)n, c);
        const ErrorStats s = compare(round_trip(t, x), x);
        EXPECT_EQ(s.n_nonfinite, 0);
        // 2-bit Q2_K keeps a constant to within a quarter of it; the rest do far better.
        EXPECT_LE(s.max_abs, 0.25 * std::fabs(c)) << t.name << " constant " << c;
    }
    std::vector<float> x = normal_data(n, 5);
    for (float& v : x) v = std::fabs(v) + 0.5f;
    const ErrorStats s = compare(round_trip(t, x), x);
    EXPECT_EQ(s.n_nonfinite, 0);
    EXPECT_LE(s.rmse, 1.5 * t.max_roundtrip_error) << t.name << " positive row";
}

// The reference quantizer is deterministic, and dequantization is a pure function of the bytes.
TEST_P(RoundTrip, Deterministic) {
    const TypeTraits& t = *GetParam();
    const int64_t n = 4 * 256;
    const std::vector<float> x = normal_data(n, 11);
    std::vector<uint8_t> a(row_bytes(t, n)), b(row_bytes(t, n));
    t.quantize_row(x.data(), a.data(), n);
    t.quantize_row(x.data(), b.data(), n);
    EXPECT_EQ(a, b) << t.name;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, RoundTrip, testing::ValuesIn(all_types()), type_param_name);

}  // namespace
}  // namespace retort::test
