// The reference KernelTable: completeness against the traits table, from_float == the
// reference quantizers, and every vec_dot against f64 dots of the dequantized values.
// Types come from the traits table, so a new weight type is covered as soon as it has a row.

#include "kernels/kernel_table.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"
#include "util/fp16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace retort {
namespace {

std::vector<const TypeTraits*> weight_type_traits() {
    std::vector<const TypeTraits*> out;
    for (uint32_t id = 0; id < (uint32_t)kDTypeIdLimit; ++id)
        if (const TypeTraits* t = find_traits(id); t != nullptr && t->is_weight_type) out.push_back(t);
    return out;
}

std::vector<float> normal_data(int64_t n, uint32_t seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> x((size_t)n);
    for (float& v : x) v = dist(rng);
    return x;
}

// A weight row in its own type and an activation row converted by the table, both also
// dequantized back to floats, as the dot kernel sees them.
struct DotCase {
    std::vector<uint8_t> w, a;
    std::vector<float> w_deq, a_deq;
};

DotCase make_case(const TypeTraits& wt, const std::vector<float>& w, const std::vector<float>& a) {
    const KernelTable& k = ref_kernels();
    const TypeTraits& at = traits(wt.vec_dot_type);
    const int64_t n = (int64_t)w.size();
    DotCase c;
    c.w.resize(row_bytes(wt, n));
    c.a.resize(row_bytes(at, n));
    wt.quantize_row(w.data(), c.w.data(), n);
    k.from_float[(int)wt.vec_dot_type](a.data(), c.a.data(), n);
    c.w_deq.resize((size_t)n);
    c.a_deq.resize((size_t)n);
    wt.dequantize_row(c.w.data(), c.w_deq.data(), n);
    at.dequantize_row(c.a.data(), c.a_deq.data(), n);
    return c;
}

float run_dot(const TypeTraits& wt, const DotCase& c) {
    float out = NAN;
    ref_kernels().vec_dot[(int)wt.type]((int64_t)c.w_deq.size(), &out, c.w.data(), c.a.data());
    return out;
}

// Every weight type has a dot, and every activation format one of them needs has a
// from_float; conversions are exactly the reference quantizers (llama.cpp's rounding).
TEST(RefKernels, TableCoversTheTraitsTable) {
    const KernelTable& k = ref_kernels();
    EXPECT_STREQ(k.isa, "ref");
    for (const TypeTraits* t : weight_type_traits()) {
        EXPECT_NE(k.vec_dot[(int)t->type], nullptr) << t->name;
        EXPECT_NE(k.from_float[(int)t->vec_dot_type], nullptr) << t->name << " activations";
    }
}

TEST(RefKernels, FromFloatIsTheReferenceQuantizer) {
    const KernelTable& k = ref_kernels();
    const std::vector<float> x = normal_data(256 * 5, 3);
    for (uint32_t id = 0; id < (uint32_t)kDTypeIdLimit; ++id) {
        if (k.from_float[id] == nullptr) continue;
        const TypeTraits* t = find_traits(id);
        ASSERT_NE(t, nullptr) << "from_float for unknown type " << id;
        std::vector<uint8_t> a(row_bytes(*t, (int64_t)x.size())), b(a.size());
        k.from_float[id](x.data(), a.data(), (int64_t)x.size());
        t->quantize_row(x.data(), b.data(), (int64_t)x.size());
        EXPECT_EQ(a, b) << t->name;
    }
}

class RefDot : public testing::TestWithParam<const TypeTraits*> {};

// The integer kernel computes exactly sum_i w_deq[i] * a_deq[i], up to float rounding of the
// per-block scale products: compared with f64 at 2e-6 of sum |w a| (a few f32 ulps).
// Q4_1/Q5_1 are the exception: their Q8_1 partner carries s = f16(d * sum q) computed with
// the f32 d, which differs from the f16 d times the sum by up to 2^-11 relative per block,
// so their bound adds that term.
TEST_P(RefDot, MatchesF64DotOfDequantizedValues) {
    const TypeTraits& wt = *GetParam();
    const bool q8_1_partner = wt.vec_dot_type == DType::Q8_1;
    for (int nblocks : {1, 3, 7, 33}) {
        const int64_t n = nblocks * traits(wt.vec_dot_type).block_elems *
                          std::max<int64_t>(1, wt.block_elems / traits(wt.vec_dot_type).block_elems);
        const DotCase c = make_case(wt, normal_data(n, 100 + (uint32_t)nblocks),
                                    normal_data(n, 200 + (uint32_t)nblocks));
        double exact = 0, magnitude = 0, offset_term = 0;
        for (int64_t i = 0; i < n; ++i) {
            exact += (double)c.w_deq[(size_t)i] * c.a_deq[(size_t)i];
            magnitude += std::fabs((double)c.w_deq[(size_t)i] * c.a_deq[(size_t)i]);
        }
        if (q8_1_partner) {
            // sum over blocks of |m| * |d sum q|: the part of the dot routed through s
            const size_t bw = wt.block_bytes;
            for (int64_t ib = 0; ib < n / 32; ++ib) {
                uint16_t m;
                std::memcpy(&m, c.w.data() + ib * bw + 2, 2);  // {d, m, ...} in both Q4_1 and Q5_1
                double s = 0;
                for (int j = 0; j < 32; ++j) s += c.a_deq[(size_t)(ib * 32 + j)];
                offset_term += std::fabs(fp16_to_f32(m) * s);
            }
        }
        const float got = run_dot(wt, c);
        const double tol = 2e-6 * magnitude + 1e-3 * offset_term + 1e-6;
        EXPECT_NEAR(got, exact, tol) << wt.name << ", n = " << n;
    }
}

// End to end, as the engine uses it: weights quantized, activations converted, compared with
// the f64 dot of the original floats. abs error / n <= 0.02 (0.04 for 2-3 bit weights), on
// N(0,1) and on weight-like scales (sigma 0.02, normalised by it). The error of one dot is a
// random walk over its elements, so for a single 32-element block one row alone is noise:
// the metric is averaged over 8 rows per length.
TEST_P(RefDot, CloseToF64DotOfOriginalFloats) {
    const TypeTraits& wt = *GetParam();
    const double bound = (wt.type == DType::Q2_K || wt.type == DType::Q3_K) ? 0.04 : 0.02;
    const int n_rows = 8;
    for (float sigma : {1.0f, 0.02f}) {
        for (int nblocks : {1, 3, 7, 33}) {
            const int64_t n = nblocks * std::max<int64_t>(wt.block_elems, traits(wt.vec_dot_type).block_elems);
            double err_sum = 0;
            for (int row = 0; row < n_rows; ++row) {
                const uint32_t seed = 1000 * (uint32_t)nblocks + (uint32_t)row;
                const std::vector<float> w = normal_data(n, seed, sigma);
                const std::vector<float> a = normal_data(n, seed + 500);
                double exact = 0;
                for (int64_t i = 0; i < n; ++i) exact += (double)w[(size_t)i] * a[(size_t)i];
                const float got = run_dot(wt, make_case(wt, w, a));
                ASSERT_TRUE(std::isfinite(got)) << wt.name << ", n = " << n;
                err_sum += std::fabs(got - exact) / (double)n / sigma;
            }
            EXPECT_LE(err_sum / n_rows, bound) << wt.name << ", n = " << n << ", sigma " << sigma;
        }
    }
}

// Zero weights or zero activations give exactly 0 (no NaN from a 0 scale).
TEST_P(RefDot, ZerosGiveZero) {
    const TypeTraits& wt = *GetParam();
    const int64_t n = 2 * std::max<int64_t>(wt.block_elems, traits(wt.vec_dot_type).block_elems);
    const std::vector<float> zeros((size_t)n, 0.0f), x = normal_data(n, 9);
    EXPECT_EQ(run_dot(wt, make_case(wt, zeros, x)), 0.0f) << wt.name;
    EXPECT_EQ(run_dot(wt, make_case(wt, x, zeros)), 0.0f) << wt.name;
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, RefDot, testing::ValuesIn(weight_type_traits()),
                         [](const testing::TestParamInfo<const TypeTraits*>& info) {
                             return std::string(info.param->name);
                         });

// Hand-computed dots on hand-built blocks (f16: 1.0 = 0x3C00, 0.5 = 0x3800).
TEST(RefDotKnownAnswer, Q8_0xQ8_0) {
    BlockQ8_0 w{}, a{};
    w.d = 0x3C00;  // 1.0
    a.d = 0x3800;  // 0.5
    for (int j = 0; j < 32; ++j) {
        w.qs[j] = 1;
        a.qs[j] = (int8_t)j;
    }
    float out = 0;
    ref_kernels().vec_dot[(int)DType::Q8_0](32, &out, &w, &a);
    EXPECT_EQ(out, 0.5f * 496);  // 1.0 * 0.5 * (0 + 1 + ... + 31)
}

TEST(RefDotKnownAnswer, Q4_0xQ8_0) {
    BlockQ4_0 w{};
    BlockQ8_0 a{};
    w.d = 0x3800;                                    // 0.5
    for (int j = 0; j < 16; ++j) w.qs[j] = 0x9A;     // low nibble 10 (-> +2), high 9 (-> +1)
    a.d = 0x3C00;                                    // 1.0
    for (int j = 0; j < 32; ++j) a.qs[j] = (int8_t)(j < 16 ? 3 : -1);
    float out = 0;
    ref_kernels().vec_dot[(int)DType::Q4_0](32, &out, &w, &a);
    EXPECT_EQ(out, 0.5f * (16 * 2 * 3 + 16 * 1 * -1));  // 0.5 * (96 - 16) = 40
}

// Q4_K against Q8_K: the min term goes through bsums. All quants 1, scale 2 and min 3 in
// every sub-block, d = 1, dmin = 0.5, activations all 1 with d_a = 0.25:
// each weight is 1*2*1 - 0.5*3 = 0.5, each activation 0.25, so the dot is 256 * 0.125 = 32.
TEST(RefDotKnownAnswer, Q4_KxQ8_K) {
    BlockQ4_K w{};
    w.d = 0x3C00;
    w.dmin = 0x3800;
    for (int j = 0; j < 4; ++j) {
        w.scales[j] = 2;      // sc 0-3 (top bits of sc 4-7 are 0)
        w.scales[j + 4] = 3;  // m 0-3
        w.scales[j + 8] = 2 | (3 << 4);  // low nibbles of sc/m 4-7
    }
    std::memset(w.qs, 0x11, sizeof(w.qs));
    BlockQ8_K a{};
    a.d = 0.25f;
    std::memset(a.qs, 1, sizeof(a.qs));
    for (int k = 0; k < 16; ++k) a.bsums[k] = 16;
    float out = 0;
    ref_kernels().vec_dot[(int)DType::Q4_K](256, &out, &w, &a);
    EXPECT_EQ(out, 32.0f);
}

// Float dots: products in f32, sums in f64, so on exactly representable inputs they are exact.
TEST(RefDotKnownAnswer, FloatTypes) {
    const int n = 64;
    std::vector<float> w(n), a(n);
    double exact = 0;
    for (int i = 0; i < n; ++i) {
        w[i] = 0.25f * (float)(i - 32);
        a[i] = (float)(i % 7) - 3.0f;
        exact += (double)w[i] * a[i];
    }
    for (DType t : {DType::F32, DType::F16, DType::BF16}) {
        const DotCase c = make_case(traits(t), w, a);
        EXPECT_EQ(run_dot(traits(t), c), (float)exact) << traits(t).name;
    }
}

}  // namespace
}  // namespace retort
