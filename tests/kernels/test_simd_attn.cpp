// The attention helpers of every SIMD table (dot_f16_f32, axpy_f16_f32, dot_f32, axpy_f32)
// against the scalar references in kernels/ref_attn.cpp: NMSE <= 1e-7 over ragged lengths
// (every tail of the unrolled loops, head sizes 64/128) and rows at element offsets 0..3.

#include <gtest/gtest.h>

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

INSTANTIATE_TEST_SUITE_P(AllIsas, SimdAttn, testing::ValuesIn(simd_test::simd_isas()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace retort
