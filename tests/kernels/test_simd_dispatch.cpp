// Table selection: the best table this CPU runs is picked, a forced name is honoured or refused,
// and every SIMD table is complete (an entry it does not implement is the ref one).

#include <gtest/gtest.h>

#include <cstring>

#include "kernels/kernel_table.h"
#include "tensor/dtype.h"
#include "test_simd_util.h"

namespace retort {
namespace {

TEST(SimdDispatch, PicksTheBestSupportedTable) {
    const KernelTable* best = select_kernels();
    ASSERT_NE(best, nullptr);
    if (avx512_kernels() != nullptr)
        EXPECT_STREQ(best->isa, "avx512");
    else if (avx2_kernels() != nullptr)
        EXPECT_STREQ(best->isa, "avx2");
    else
        EXPECT_STREQ(best->isa, "ref");
    EXPECT_EQ(select_kernels(""), best);
}

TEST(SimdDispatch, ForcedNames) {
    EXPECT_EQ(select_kernels("ref"), &ref_kernels());
    EXPECT_EQ(select_kernels("avx2"), avx2_kernels());
    EXPECT_EQ(select_kernels("avx512"), avx512_kernels());
    EXPECT_EQ(select_kernels("neon"), nullptr);
    EXPECT_EQ(select_kernels("AVX2"), nullptr);
}

TEST(SimdDispatch, FeatureChecksMatchTheCpu) {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    EXPECT_EQ(avx2_kernels() != nullptr, avx2);
    if (!avx2 || !__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512bf16")) {
        EXPECT_EQ(avx512_kernels(), nullptr);
    }
    // Asking twice gives the same table: it is built once.
    EXPECT_EQ(avx2_kernels(), avx2_kernels());
    EXPECT_EQ(avx512_kernels(), avx512_kernels());
}

class SimdTableComplete : public testing::TestWithParam<std::string> {};

TEST_P(SimdTableComplete, EveryRefEntryIsFilled) {
    const KernelTable* table = simd_test::simd_table(GetParam());
    if (table == nullptr) GTEST_SKIP() << GetParam() << " is not supported by this CPU";
    EXPECT_STREQ(table->isa, GetParam().c_str());
    const KernelTable& ref = ref_kernels();
    for (int id = 0; id < kDTypeIdLimit; ++id) {
        EXPECT_EQ(table->vec_dot[id] != nullptr, ref.vec_dot[id] != nullptr) << "vec_dot of type id " << id;
        EXPECT_EQ(table->from_float[id] != nullptr, ref.from_float[id] != nullptr) << "from_float of type id " << id;
    }
    EXPECT_NE(table->dot_f16_f32, nullptr);
    EXPECT_NE(table->axpy_f16_f32, nullptr);
    EXPECT_NE(table->dot_f32, nullptr);
    EXPECT_NE(table->axpy_f32, nullptr);
    // The ref table carries the scalar attention helpers without listing them.
    EXPECT_EQ(ref.dot_f16_f32, &ref_dot_f16_f32);
    EXPECT_EQ(ref.axpy_f32, &ref_axpy_f32);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, SimdTableComplete, testing::ValuesIn(simd_test::simd_isas()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace retort
