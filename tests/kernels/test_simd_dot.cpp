// Every vec_dot of every SIMD table against the same slot of ref_kernels(): same bytes in, the
// same dot within relative error 1e-5 (quantized; the magnitude floor is explained at kRtol) or
// NMSE 1e-7 (float types). Ragged lengths, weights from the reference quantizers and from random
// bits, rows at byte offsets 0..3 and more from a 64-byte boundary. Types come from the traits table.

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <tuple>

#include "kernels/kernel_table.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"
#include "test_simd_util.h"
#include "util/fp16.h"

namespace retort {
namespace {

using simd_test::OffsetBuffer;

std::vector<DType> weight_dtypes() {
    std::vector<DType> out;
    for (uint32_t id = 0; id < (uint32_t)kDTypeIdLimit; ++id)
        if (const TypeTraits* t = find_traits(id); t != nullptr && t->is_weight_type) out.push_back(t->type);
    return out;
}

bool is_float_type(const TypeTraits& t) { return t.block_elems == 1; }

// Lengths in blocks (quantized) or elements (float types): every tail of the unrolled loops.
const std::vector<int64_t> kBlockCounts = {1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 33, 67};
const std::vector<int64_t> kFloatLengths = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 255, 1536, 4097};

// Byte offsets of the rows from a 64-byte boundary: odd ones (blocks at any address), and
// multiples of the float element sizes that are not multiples of the vector width (the AVX-512
// float dots then take their alignment step).
constexpr size_t kOffsets[] = {0, 1, 2, 3, 4, 6, 8, 20, 36, 60};

enum class Source { Quantized, RandomBits };

// The f16 scale fields of a block type, so random bits can be given sane scales.
std::vector<size_t> f16_fields(DType t) {
    switch (t) {
        case DType::Q4_0:
            return {offsetof(BlockQ4_0, d)};
        case DType::Q4_1:
            return {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
        case DType::Q5_0:
            return {offsetof(BlockQ5_0, d)};
        case DType::Q5_1:
            return {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)};
        case DType::Q8_0:
            return {offsetof(BlockQ8_0, d)};
        case DType::Q2_K:
            return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
        case DType::Q3_K:
            return {offsetof(BlockQ3_K, d)};
        case DType::Q4_K:
            return {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
        case DType::Q5_K:
            return {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
        case DType::Q6_K:
            return {offsetof(BlockQ6_K, d)};
        default:
            return {};
    }
}

// A weight row: either a realistic row (sigma 0.02, a few 8x outlier columns) through the
// reference quantizer, or random bytes with scales of either sign in [1e-4, 1e-2]. Random bytes
// include Q8_0 quants of -128, which no quantizer writes but the kernels handle; activations
// always come from a quantizer, so they stay in [-127, 127] as the kernels require.
std::vector<uint8_t> make_weights(const TypeTraits& wt, int64_t n, Source src, uint32_t seed) {
    std::vector<uint8_t> w(row_bytes(wt, n));
    if (src == Source::Quantized || is_float_type(wt)) {
        const std::vector<float> x = simd_test::normal_floats(n, seed, 0.02f, 97, 8.0f);
        wt.quantize_row(x.data(), w.data(), n);
        return w;
    }
    std::mt19937 rng(seed);
    for (uint8_t& b : w) b = (uint8_t)rng();
    std::uniform_real_distribution<float> log_scale(std::log(1e-4f), std::log(1e-2f));
    for (size_t ib = 0; ib < w.size() / wt.block_bytes; ++ib) {
        uint8_t* block = w.data() + ib * wt.block_bytes;
        for (size_t off : f16_fields(wt.type)) {
            const float s = std::exp(log_scale(rng)) * ((rng() & 1) ? 1.0f : -1.0f);
            const uint16_t h = f32_to_fp16(s);
            std::memcpy(block + off, &h, 2);
        }
    }
    return w;
}

// Activations N(0, 1) with every 61st value 10x, converted by the reference from_float.
std::vector<uint8_t> make_acts(const TypeTraits& wt, int64_t n, uint32_t seed) {
    const TypeTraits& at = traits(wt.vec_dot_type);
    std::vector<uint8_t> a(row_bytes(at, n));
    const std::vector<float> x = simd_test::normal_floats(n, seed, 1.0f, 61, 10.0f);
    ref_kernels().from_float[(int)at.type](x.data(), a.data(), n);
    return a;
}

// sum_i |w_i * a_i| over the dequantized rows: the size of the terms a dot cancels.
double abs_dot(const TypeTraits& wt, const std::vector<uint8_t>& w, const std::vector<uint8_t>& a, int64_t n) {
    const TypeTraits& at = traits(wt.vec_dot_type);
    std::vector<float> wd((size_t)n), ad((size_t)n);
    wt.dequantize_row(w.data(), wd.data(), n);
    at.dequantize_row(a.data(), ad.data(), n);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::fabs((double)wd[(size_t)i] * ad[(size_t)i]);
    return s;
}

// Quantized dots: |got - ref| <= kRtol * max(|ref|, S / sqrt(n_blocks)), S = sum |w_i a_i|.
// Both sides sum exact per-block integers in f32, in different orders; when the terms cancel,
// |ref| alone can be far below that rounding noise, so it is floored at the typical size of a
// random-walk partial sum.
constexpr double kRtol = 1e-5;
constexpr double kFloatNmse = 1e-7;

using Param = std::tuple<std::string, DType>;

class SimdVecDot : public testing::TestWithParam<Param> {};

TEST_P(SimdVecDot, MatchesRef) {
    const auto& [isa, type] = GetParam();
    const KernelTable* table = simd_test::simd_table(isa);
    if (table == nullptr) GTEST_SKIP() << isa << " is not supported by this CPU";
    const TypeTraits& wt = traits(type);
    const VecDotFn ref = ref_kernels().vec_dot[(int)type];
    const VecDotFn simd = table->vec_dot[(int)type];
    ASSERT_NE(ref, nullptr);
    ASSERT_NE(simd, nullptr) << isa << " has no vec_dot for " << wt.name << " (not even the ref fallback)";

    const std::vector<int64_t>& lengths = is_float_type(wt) ? kFloatLengths : kBlockCounts;
    double err2 = 0, ref2 = 0;  // float types: NMSE over all cases
    int n_cases = 0, n_bad = 0;
    for (Source src : {Source::Quantized, Source::RandomBits}) {
        for (size_t li = 0; li < lengths.size(); ++li) {
            const int64_t n = lengths[li] * wt.block_elems;
            const uint32_t seed = 1000 * (uint32_t)type + 17 * (uint32_t)li + (src == Source::RandomBits ? 7 : 0);
            const std::vector<uint8_t> w = make_weights(wt, n, src, seed);
            const std::vector<uint8_t> a = make_acts(wt, n, seed + 1);
            float want = NAN;
            ref(n, &want, w.data(), a.data());  // the reference reads aligned copies
            const double mag_floor = is_float_type(wt) ? 0.0 : abs_dot(wt, w, a, n) / std::sqrt((double)lengths[li]);
            for (size_t oi = 0; oi < std::size(kOffsets); ++oi) {
                const size_t off = kOffsets[oi];
                OffsetBuffer wb = OffsetBuffer::copy_of(w, off);
                OffsetBuffer ab = OffsetBuffer::copy_of(a, kOffsets[(oi + 1 + li) % std::size(kOffsets)]);
                float got = NAN;
                simd(n, &got, wb.data(), ab.data());
                ++n_cases;
                const double err = std::fabs((double)got - want);
                if (is_float_type(wt)) {
                    err2 += err * err;
                    ref2 += (double)want * want;
                    if (!std::isfinite(got)) ++n_bad;
                    continue;
                }
                const double mag = std::max(std::fabs((double)want), mag_floor);
                if (!(err <= kRtol * mag)) {
                    if (++n_bad <= 5)
                        ADD_FAILURE() << isa << " " << wt.name << " n=" << n << " offset=" << off
                                      << (src == Source::RandomBits ? " random bits" : " quantized") << ": got " << got
                                      << " want " << want << " (err " << err << ", allowed " << kRtol * mag << ")";
                }
            }
        }
    }
    if (is_float_type(wt)) {
        const double nmse = err2 / std::max(ref2, 1e-30);
        EXPECT_LE(nmse, kFloatNmse) << isa << " " << wt.name << ": NMSE over " << n_cases << " dots";
        EXPECT_EQ(n_bad, 0) << "non-finite results";
    } else {
        EXPECT_EQ(n_bad, 0) << n_bad << " of " << n_cases << " dots out of tolerance";
    }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, SimdVecDot,
                         testing::Combine(testing::ValuesIn(simd_test::simd_isas()), testing::ValuesIn(weight_dtypes())),
                         [](const testing::TestParamInfo<Param>& info) {
                             return simd_test::param_name(std::get<0>(info.param) + "_" +
                                                          traits(std::get<1>(info.param)).name);
                         });

// vec_dot_rows (where a table has it): nr = 1..kMaxDotRows activation rows against one weight
// row, each result bit-identical to the same table's vec_dot on that row: the batched matmul
// must give exactly what one token at a time gives. Rows of the activation matrix are padded
// (a_row > row size) and the outputs strided, as the matmul driver calls it.
class SimdVecDotRows : public testing::TestWithParam<Param> {};

TEST_P(SimdVecDotRows, EachRowIsBitIdenticalToVecDot) {
    const auto& [isa, type] = GetParam();
    const KernelTable* table = simd_test::simd_table(isa);
    if (table == nullptr) GTEST_SKIP() << isa << " is not supported by this CPU";
    const VecDotRowsFn rows = table->vec_dot_rows[(int)type];
    if (rows == nullptr) GTEST_SKIP() << isa << " has no vec_dot_rows for " << traits(type).name;
    const TypeTraits& wt = traits(type);
    const VecDotFn one = table->vec_dot[(int)type];
    int n_checked = 0;
    for (Source src : {Source::Quantized, Source::RandomBits}) {
        for (size_t li = 0; li < kBlockCounts.size(); ++li) {
            const int64_t n = kBlockCounts[li] * wt.block_elems;
            const uint32_t seed = 7000 * (uint32_t)type + 13 * (uint32_t)li + (src == Source::RandomBits ? 5 : 0);
            const std::vector<uint8_t> w = make_weights(wt, n, src, seed);
            const size_t a_bytes = row_bytes(traits(wt.vec_dot_type), n), a_row = a_bytes + 24;
            std::vector<uint8_t> acts(a_row * kMaxDotRows);
            for (int r = 0; r < kMaxDotRows; ++r) {
                const std::vector<uint8_t> a = make_acts(wt, n, seed + 100 + (uint32_t)r);
                std::memcpy(acts.data() + r * a_row, a.data(), a_bytes);
            }
            for (int nr = 1; nr <= kMaxDotRows; ++nr) {
                constexpr int64_t kStride = 3;
                std::vector<float> got(kStride * kMaxDotRows, NAN);
                rows(n, nr, got.data(), kStride, w.data(), acts.data(), a_row);
                for (int r = 0; r < nr; ++r) {
                    float want = NAN;
                    one(n, &want, w.data(), acts.data() + r * a_row);
                    EXPECT_EQ(std::memcmp(&got[(size_t)r * kStride], &want, sizeof want), 0)
                        << isa << " " << wt.name << " n=" << n << " nr=" << nr << " row " << r << ": " << got[r * kStride]
                        << " vs vec_dot " << want;
                    ++n_checked;
                }
                for (int r = nr; r < kMaxDotRows; ++r) EXPECT_TRUE(std::isnan(got[(size_t)r * kStride])) << "wrote row " << r;
            }
        }
    }
    EXPECT_GT(n_checked, 0);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, SimdVecDotRows,
                         testing::Combine(testing::ValuesIn(simd_test::simd_isas()), testing::ValuesIn(weight_dtypes())),
                         [](const testing::TestParamInfo<Param>& info) {
                             return simd_test::param_name(std::get<0>(info.param) + "_" +
                                                          traits(std::get<1>(info.param)).name);
                         });

}  // namespace
}  // namespace retort
