// Every from_float of every SIMD table against ref_kernels(): the bytes must be identical (the
// integer dots downstream would otherwise differ from llama.cpp's). Random rows, rows with
// outliers, and hand-made blocks that hit each rounding rule: halves (Q8_0/Q8_1 round them away
// from zero, Q8_K to even), ties for the largest magnitude, all-zero blocks, f16/bf16 edge values.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <tuple>

#include "kernels/kernel_table.h"
#include "tensor/dtype.h"
#include "test_simd_util.h"

namespace retort {
namespace {

using simd_test::OffsetBuffer;

std::vector<DType> activation_types() {
    std::vector<DType> out;
    const KernelTable& ref = ref_kernels();
    for (uint32_t id = 0; id < (uint32_t)kDTypeIdLimit; ++id)
        if (const TypeTraits* t = find_traits(id); t != nullptr && ref.from_float[id] != nullptr)
            out.push_back(t->type);
    return out;
}

// Rows that exercise the rounding rules; lengths are multiples of 256 so every type takes them.
std::vector<std::vector<float>> special_rows() {
    std::vector<std::vector<float>> rows;
    // amax 127 makes the Q8_0 scale 1 and a max of -127 makes the Q8_K scale 1, so the quants
    // are the values themselves: halves, and the f32 just below a half.
    std::vector<float> halves(256);
    for (int i = 0; i < 256; ++i) halves[i] = (float)((i % 16) - 8) + 0.5f;
    for (int b = 0; b < 256; b += 32) halves[b + 31] = (b / 32) % 2 ? 127.0f : -127.0f;
    halves[5] = 0.49999997f;
    halves[6] = -0.49999997f;
    halves[7] = 2.4999998f;
    rows.push_back(halves);
    // The largest magnitude twice with opposite signs: Q8_K takes the sign of the first.
    std::vector<float> ties = simd_test::normal_floats(256, 5);
    ties[10] = -4.0f;
    ties[200] = 4.0f;
    rows.push_back(ties);
    std::vector<float> ties2 = ties;
    ties2[10] = 4.0f;
    ties2[200] = -4.0f;
    ties2[3] = -0.0f;
    rows.push_back(ties2);
    // The maximum in the last element; zeros (incl. -0.0) in whole blocks.
    std::vector<float> last = simd_test::normal_floats(512, 6, 0.1f);
    last[255] = -9.0f;
    for (int i = 256; i < 512; ++i) last[i] = (i % 2) ? 0.0f : -0.0f;
    rows.push_back(last);
    // f16 / bf16 edges: subnormals, the overflow boundary, ties in the last mantissa bit,
    // infinities and NaNs with payloads.
    std::vector<float> edges = simd_test::normal_floats(256, 7);
    const float specials[] = {0.0f,
                              -0.0f,
                              1e-8f,
                              -3e-7f,
                              5.96e-8f,
                              6.1e-5f,
                              65504.0f,
                              65519.0f,
                              65520.0f,
                              -70000.0f,
                              1.00048828125f,
                              1.00146484375f,
                              1e30f,
                              -1e-30f,
                              1.0f + 0x1p-8f,
                              1.0f + 0x1p-7f + 0x1p-8f,
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::quiet_NaN(),
                              std::bit_cast<float>(0xffc12345u),
                              std::bit_cast<float>(0x7fa00001u),
                              std::numeric_limits<float>::denorm_min()};
    // Only the float formats take inf / NaN; quantizers of such rows are undefined.
    for (size_t i = 0; i < std::size(specials); ++i) edges[i * 11] = specials[i];
    rows.push_back(edges);
    return rows;
}

bool has_non_finite(const std::vector<float>& x) {
    for (float v : x)
        if (!std::isfinite(v)) return true;
    return false;
}

using Param = std::tuple<std::string, DType>;

class SimdFromFloat : public testing::TestWithParam<Param> {};

TEST_P(SimdFromFloat, BytesMatchRef) {
    const auto& [isa, type] = GetParam();
    const KernelTable* table = simd_test::simd_table(isa);
    if (table == nullptr) GTEST_SKIP() << isa << " is not supported by this CPU";
    const TypeTraits& at = traits(type);
    const FromFloatFn ref = ref_kernels().from_float[(int)type];
    const FromFloatFn simd = table->from_float[(int)type];
    ASSERT_NE(simd, nullptr);
    const bool float_format = at.block_elems == 1;

    std::vector<std::vector<float>> rows;
    const int64_t blocks[] = {1, 2, 3, 7, 33};
    for (int64_t nb : blocks) {
        const int64_t n = nb * at.block_elems;
        rows.push_back(simd_test::normal_floats(n, (uint32_t)(100 + nb)));
        rows.push_back(simd_test::normal_floats(n, (uint32_t)(200 + nb), 0.01f, 13, 300.0f));
    }
    if (float_format)
        for (int64_t n : {1, 5, 8, 9, 15, 17, 4097})
            rows.push_back(simd_test::normal_floats(n, (uint32_t)(300 + n), 3.0f));
    for (auto& r : special_rows())
        if (float_format || !has_non_finite(r)) rows.push_back(r);

    int case_no = 0;
    for (const std::vector<float>& x : rows) {
        const int64_t n = (int64_t)x.size();
        if (n % at.block_elems != 0) continue;
        const size_t bytes = row_bytes(at, n);
        std::vector<uint8_t> want(bytes);
        ref(x.data(), want.data(), n);
        for (size_t off = 0; off < 4; ++off, ++case_no) {
            // input floats at an element offset (unaligned for vectors), output at a byte offset
            std::vector<float> xin(x.size() + off);
            std::copy(x.begin(), x.end(), xin.begin() + (ptrdiff_t)off);
            OffsetBuffer got(bytes, (off + (size_t)case_no) % 4);
            std::memset(got.data(), 0xAB, bytes);
            simd(xin.data() + off, got.data(), n);
            const uint8_t* g = got.data();
            size_t first = bytes, n_diff = 0;
            for (size_t i = 0; i < bytes; ++i)
                if (g[i] != want[i]) {
                    if (first == bytes) first = i;
                    ++n_diff;
                }
            if (n_diff != 0) {
                ADD_FAILURE() << isa << " " << at.name << " n=" << n << " offset=" << off << ": " << n_diff << " of "
                              << bytes << " bytes differ; first at byte " << first << " (block "
                              << first / at.block_bytes << ", byte " << first % at.block_bytes << " in it): got "
                              << (int)g[first] << " want " << (int)want[first];
                return;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, SimdFromFloat,
                         testing::Combine(testing::ValuesIn(simd_test::simd_isas()),
                                          testing::ValuesIn(activation_types())),
                         [](const testing::TestParamInfo<Param>& info) {
                             return simd_test::param_name(std::get<0>(info.param) + "_" +
                                                          traits(std::get<1>(info.param)).name);
                         });

}  // namespace
}  // namespace retort
