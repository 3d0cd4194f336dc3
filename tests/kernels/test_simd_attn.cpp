// The attention helpers of every SIMD table (dot_f16_f32, axpy_f16_f32, dot_f32, axpy_f32, the
// block forms, the F16 group forms, and the FFN's silu_mul) against the scalar references in kernels/ref_attn.cpp:
// NMSE <= 1e-7 over ragged lengths (every tail of the unrolled loops, head sizes 64/128) and rows
// at element offsets 0..3.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/kernel_table.h"
#include "test_simd_util.h"
#include "util/fp16.h"

namespace retort {
namespace {

const std::vector<int64_t> kLengths = {1,  2,  3,  5,  7,  8,   9,   15,  16,  17,   31,  32,
                                       33, 47, 63, 64, 65, 127, 128, 129, 255, 1536, 4097};
constexpr double kNmse = 1e-7;

std::vector<uint16_t> to_f16(const std::vector<float>& x) {
    std::vector<uint16_t> h(x.size());
    for (size_t i = 0; i < x.size(); ++i) h[i] = f32_to_fp16(x[i]);
    return h;
}

// Accumulates squared errors and squared references; reports the NMSE.
struct Nmse {
    double err2 = 0, ref2 = 0;
    void add(double got, double want) {
        err2 += (got - want) * (got - want);
        ref2 += want * want;
    }
    double value() const { return err2 / std::max(ref2, 1e-30); }
};

class SimdAttn : public testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        table_ = simd_test::simd_table(GetParam());
        if (table_ == nullptr) GTEST_SKIP() << GetParam() << " is not supported by this CPU";
    }
    const KernelTable* table_ = nullptr;
};

TEST_P(SimdAttn, DotF16F32) {
    Nmse nmse;
    for (int64_t n : kLengths)
        for (size_t off = 0; off < 4; ++off) {
            const std::vector<uint16_t> k = to_f16(simd_test::normal_floats(n, (uint32_t)(n + 11 * off)));
            const std::vector<float> q = simd_test::normal_floats(n, (uint32_t)(n + 11 * off + 5));
            std::vector<uint16_t> k_off(k.size() + off);
            std::vector<float> q_off(q.size() + 3 - off);
            std::copy(k.begin(), k.end(), k_off.begin() + (ptrdiff_t)off);
            std::copy(q.begin(), q.end(), q_off.begin() + (ptrdiff_t)(3 - off));
            nmse.add(table_->dot_f16_f32(n, k_off.data() + off, q_off.data() + 3 - off),
                     ref_dot_f16_f32(n, k.data(), q.data()));
        }
    EXPECT_LE(nmse.value(), kNmse);
}

TEST_P(SimdAttn, DotF32) {
    Nmse nmse;
    for (int64_t n : kLengths)
        for (size_t off = 0; off < 4; ++off) {
            const std::vector<float> x = simd_test::normal_floats(n + 3, (uint32_t)(n + 13 * off));
            const std::vector<float> y = simd_test::normal_floats(n + 3, (uint32_t)(n + 13 * off + 1));
            nmse.add(table_->dot_f32(n, x.data() + off, y.data() + 3 - off),
                     ref_dot_f32(n, x.data() + off, y.data() + 3 - off));
        }
    EXPECT_LE(nmse.value(), kNmse);
}

TEST_P(SimdAttn, AxpyF16F32) {
    for (int64_t n : kLengths)
        for (size_t off = 0; off < 4; ++off) {
            const std::vector<uint16_t> v = to_f16(simd_test::normal_floats(n + 3, (uint32_t)(n + 17 * off)));
            const std::vector<float> y0 = simd_test::normal_floats(n + 3, (uint32_t)(n + 17 * off + 2));
            const float a = 0.37f + 0.1f * (float)off;
            std::vector<float> want = y0, got = y0;
            ref_axpy_f16_f32(n, a, v.data() + off, want.data() + 3 - off);
            table_->axpy_f16_f32(n, a, v.data() + off, got.data() + 3 - off);
            Nmse nmse;
            for (size_t i = 0; i < got.size(); ++i) nmse.add(got[i], want[i]);
            ASSERT_LE(nmse.value(), kNmse) << "n=" << n << " offset=" << off;
            // elements outside [0, n) are untouched
            for (size_t i = 0; i < 3 - off; ++i) ASSERT_EQ(got[i], y0[i]);
            for (size_t i = 3 - off + (size_t)n; i < got.size(); ++i) ASSERT_EQ(got[i], y0[i]);
        }
}

TEST_P(SimdAttn, AxpyF32) {
    for (int64_t n : kLengths)
        for (size_t off = 0; off < 4; ++off) {
            const std::vector<float> x = simd_test::normal_floats(n + 3, (uint32_t)(n + 19 * off));
            const std::vector<float> y0 = simd_test::normal_floats(n + 3, (uint32_t)(n + 19 * off + 3));
            const float a = -1.25f + 0.5f * (float)off;
            std::vector<float> want = y0, got = y0;
            ref_axpy_f32(n, a, x.data() + off, want.data() + 3 - off);
            table_->axpy_f32(n, a, x.data() + off, got.data() + 3 - off);
            Nmse nmse;
            for (size_t i = 0; i < got.size(); ++i) nmse.add(got[i], want[i]);
            ASSERT_LE(nmse.value(), kNmse) << "n=" << n << " offset=" << off;
            for (size_t i = 0; i < 3 - off; ++i) ASSERT_EQ(got[i], y0[i]);
            for (size_t i = 3 - off + (size_t)n; i < got.size(); ++i) ASSERT_EQ(got[i], y0[i]);
        }
}

// The block forms: n rows (n = 1..33: every tail of the 4-row step) of head sizes 64, 80,
// 128, 136 at a row stride larger than the head, scores (and their max), the weighted sum into
// an output head (values past hd untouched), exp-and-sum, and F16 conversion.
TEST_P(SimdAttn, BlockScoresAccumExpAndConvert) {
    Nmse scores, accum, expo, conv;
    for (int64_t hd : {64, 80, 128, 136})
        for (int64_t n = 1; n <= 33; ++n) {
            const int64_t stride = hd + 8;
            const uint32_t seed = (uint32_t)(1000 * hd + n);
            const std::vector<float> rows = simd_test::normal_floats(n * stride, seed);
            const std::vector<float> q = simd_test::normal_floats(hd, seed + 1);
            const float scale = 1.0f / std::sqrt((float)hd);
            std::vector<float> want_s((size_t)n), got_s((size_t)n);
            const float want_max = ref_attn_scores(n, hd, rows.data(), stride, q.data(), scale, want_s.data());
            const float got_max = table_->attn_scores(n, hd, rows.data(), stride, q.data(), scale, got_s.data());
            for (int64_t i = 0; i < n; ++i) scores.add(got_s[(size_t)i], want_s[(size_t)i]);
            ASSERT_EQ(got_max, *std::max_element(got_s.begin(), got_s.end())) << "hd=" << hd << " n=" << n;
            ASSERT_NEAR(got_max, want_max, 1e-4 * (1 + std::fabs(want_max)));

            std::vector<float> want_e = want_s, got_e = want_s;
            const float want_sum = ref_exp_sum(n, want_e.data(), want_max);
            const float got_sum = table_->exp_sum(n, got_e.data(), want_max);
            for (int64_t i = 0; i < n; ++i) expo.add(got_e[(size_t)i], want_e[(size_t)i]);
            expo.add(got_sum, want_sum);

            const std::vector<float> o0 = simd_test::normal_floats(hd + 16, seed + 2);
            std::vector<float> want_o = o0, got_o = o0;
            ref_attn_accum(n, hd, rows.data(), stride, want_e.data(), want_o.data());
            table_->attn_accum(n, hd, rows.data(), stride, want_e.data(), got_o.data());
            for (int64_t d = 0; d < hd; ++d) accum.add(got_o[(size_t)d], want_o[(size_t)d]);
            for (size_t d = (size_t)hd; d < o0.size(); ++d) ASSERT_EQ(got_o[d], o0[d]) << "wrote past hd";

            const std::vector<uint16_t> h = to_f16(rows);
            std::vector<float> want_f((size_t)(n * hd) + 1, -7.0f), got_f = want_f;
            ref_f16_to_f32(n * hd, h.data(), want_f.data());
            table_->f16_to_f32(n * hd, h.data(), got_f.data());
            ASSERT_EQ(got_f, want_f) << "hd=" << hd << " n=" << n;  // exact, and the guard value kept
        }
    EXPECT_LE(scores.value(), kNmse);
    EXPECT_LE(accum.value(), kNmse);
    EXPECT_LE(expo.value(), kNmse);
    // exp of very negative arguments: 0 or tiny, never NaN or negative
    std::vector<float> x = {-200.0f, -87.0f, -50.0f, 0.0f};
    table_->exp_sum((int64_t)x.size(), x.data(), 0.0f);
    for (float v : x) EXPECT_TRUE(v >= 0 && v <= 1) << v;
    EXPECT_EQ(x[3], 1.0f);
}

// The F16 group forms: g = 1..8 heads of head sizes 64, 128, 256 (the fused AVX-512 path) and
// 80, 136 (its by-heads fallback), n = 1..33 rows at a stride larger than the head, with and
// without a next block to prefetch. Scores within NMSE of the reference, each head's max the
// max of its old value and its scores, nothing written past n in a scores row or past the g
// heads of the output.
TEST_P(SimdAttn, GroupF16ScoresAndAccum) {
    Nmse scores, accum;
    for (int64_t hd : {64, 80, 128, 136, 256})
        for (int64_t g : {1, 3, 6, 7, 8})
            for (int64_t n : {1, 2, 7, 15, 16, 17, 32, 33}) {
                const int64_t stride = 2 * hd + 8, ls = n + 5, lp = n + 3;
                const uint32_t seed = (uint32_t)(100000 * g + 1000 * hd + n);
                const std::vector<uint16_t> k = to_f16(simd_test::normal_floats(n * stride, seed));
                const std::vector<uint16_t> next = to_f16(simd_test::normal_floats(n * stride, seed + 1));
                const std::vector<float> q = simd_test::normal_floats(g * hd, seed + 2);
                const F16Rows rows{k.data(), n, stride, n % 2 ? next.data() : nullptr, n % 2 ? std::min<int64_t>(n, 5) : 0};
                const float scale = 1.0f / std::sqrt((float)hd);
                std::vector<float> want_s((size_t)(g * ls), -7.0f), got_s = want_s;
                std::vector<float> mx0((size_t)g, -INFINITY);
                mx0[0] = 50.0f;  // an earlier block's max, larger than these scores
                std::vector<float> want_mx = mx0, got_mx = mx0;
                ref_attn_scores_f16(rows, hd, g, q.data(), scale, want_s.data(), ls, want_mx.data());
                table_->attn_scores_f16(rows, hd, g, q.data(), scale, got_s.data(), ls, got_mx.data());
                for (int64_t j = 0; j < g; ++j) {
                    const float* gs = &got_s[(size_t)(j * ls)];
                    for (int64_t i = 0; i < n; ++i) scores.add(gs[i], want_s[(size_t)(j * ls + i)]);
                    for (int64_t i = n; i < ls; ++i) ASSERT_EQ(gs[i], -7.0f) << "wrote past n, head " << j;
                    ASSERT_EQ(got_mx[(size_t)j], std::max(mx0[(size_t)j], *std::max_element(gs, gs + n)))
                        << "hd=" << hd << " g=" << g << " n=" << n << " head " << j;
                    ASSERT_NEAR(got_mx[(size_t)j], want_mx[(size_t)j], 1e-4 * (1 + std::fabs(want_mx[(size_t)j])));
                }

                std::vector<float> p((size_t)(g * lp));
                for (size_t i = 0; i < p.size(); ++i) p[i] = std::exp(-0.1f * (float)(i % 17));
                const std::vector<float> o0 = simd_test::normal_floats(g * hd + 16, seed + 3);
                std::vector<float> want_o = o0, got_o = o0;
                ref_attn_accum_f16(rows, hd, g, p.data(), lp, want_o.data());
                table_->attn_accum_f16(rows, hd, g, p.data(), lp, got_o.data());
                for (int64_t d = 0; d < g * hd; ++d) accum.add(got_o[(size_t)d], want_o[(size_t)d]);
                for (size_t d = (size_t)(g * hd); d < o0.size(); ++d) ASSERT_EQ(got_o[d], o0[d]) << "wrote past g heads";
            }
    EXPECT_LE(scores.value(), kNmse);
    EXPECT_LE(accum.value(), kNmse);
}

// The FFN gate against ref_silu_mul: every element within 1e-6 relative (the polynomial exp
// is ~2e-7), every tail length, large arguments of both signs (no overflow, no NaN), and
// nothing written past n.
TEST_P(SimdAttn, SiluMul) {
    for (int64_t n : kLengths) {
        std::vector<float> g = simd_test::normal_floats(n + 8, (uint32_t)n, 4.0f);
        const std::vector<float> u = simd_test::normal_floats(n + 8, (uint32_t)n + 1);
        g[0] = 100.0f;
        if (n > 1) g[1] = -100.0f;
        if (n > 2) g[2] = 0.0f;
        if (n > 3) g[3] = -1e-8f;
        std::vector<float> want = g, got = g;
        ref_silu_mul(n, want.data(), u.data());
        table_->silu_mul(n, got.data(), u.data());
        for (int64_t i = 0; i < n; ++i) {
            const float w = want[(size_t)i], v = got[(size_t)i];
            ASSERT_TRUE(std::isfinite(v)) << "n=" << n << " i=" << i;
            ASSERT_NEAR(v, w, 1e-6 * std::fabs(w) + 1e-30) << "n=" << n << " i=" << i << " g=" << g[(size_t)i];
        }
        for (size_t i = (size_t)n; i < g.size(); ++i) ASSERT_EQ(got[i], g[i]) << "wrote past n=" << n;
    }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, SimdAttn, testing::ValuesIn(simd_test::simd_isas()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace retort
