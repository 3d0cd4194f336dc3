// Properties ggml's reference quantizers guarantee, checked on our quantized bytes: how the
// block scale is chosen, which element lands exactly on the end of the range, rounding rules
// of the activation formats (Q8_0 / Q8_1 / Q8_K must round exactly like llama.cpp), bsums.

#include "quant_test_util.h"
#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"
#include "util/fp16.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace retort::test {
namespace {

template <typename Block>
std::vector<Block> quantize_blocks(DType t, const std::vector<float>& x) {
    std::vector<Block> b(x.size() / (size_t)traits(t).block_elems);
    traits(t).quantize_row(x.data(), b.data(), (int64_t)x.size());
    return b;
}

// Q8_0: d = f16(amax / 127) and q = roundf(x * (1 / (amax/127))), halves away from zero.
TEST(QuantProperties, Q8_0ScaleAndRounding) {
    std::vector<float> x = normal_data(32 * 40, 21);
    // Block 0 holds exact halves of the step: with amax = 127 the step is 1, so x = k + 0.5
    // must round away from zero (ggml uses roundf here, not round-to-even).
    for (int j = 0; j < 32; ++j) x[j] = (j % 2 ? 1.0f : -1.0f) * (0.5f + (float)(j % 5));
    x[31] = 127.0f;
    const auto blocks = quantize_blocks<BlockQ8_0>(DType::Q8_0, x);
    for (size_t ib = 0; ib < blocks.size(); ++ib) {
        const float* xb = &x[ib * 32];
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127;
        ASSERT_EQ(blocks[ib].d, f32_to_fp16(d)) << "block " << ib;
        for (int j = 0; j < 32; ++j)
            ASSERT_EQ(blocks[ib].qs[j], (int8_t)std::round(xb[j] * (1.0f / d))) << ib << "/" << j;
    }
    EXPECT_EQ(blocks[0].qs[0], -1);  // -0.5 -> -1
    EXPECT_EQ(blocks[0].qs[1], 2);   //  1.5 ->  2
    EXPECT_EQ(blocks[0].qs[31], 127);
}

// Q8_1: the same quants and d as Q8_0, plus s = f16(d * sum(q)) with the f32 d.
TEST(QuantProperties, Q8_1MatchesQ8_0PlusSum) {
    const std::vector<float> x = normal_data(32 * 40, 22);
    const auto b0 = quantize_blocks<BlockQ8_0>(DType::Q8_0, x);
    const auto b1 = quantize_blocks<BlockQ8_1>(DType::Q8_1, x);
    for (size_t ib = 0; ib < b1.size(); ++ib) {
        ASSERT_EQ(b1[ib].d, b0[ib].d);
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            ASSERT_EQ(b1[ib].qs[j], b0[ib].qs[j]);
            sum += b1[ib].qs[j];
        }
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[ib * 32 + j]));
        EXPECT_EQ(b1[ib].s, f32_to_fp16((float)sum * (amax / 127))) << "block " << ib;
    }
}

// Q8_K: the signed max maps to exactly -127, d = 1 / (-127 / max) in f32, rounding is
// nearest-even (ggml's nearest_int), bsums are the sums of each 16 quants.
TEST(QuantProperties, Q8_KScaleRoundingAndBsums) {
    std::vector<float> x = normal_data(256 * 12, 23);
    // Block 0: max 127 so the step is -1; halves must go to the even neighbour.
    for (int j = 0; j < 256; ++j) x[j] = 0.0f;
    x[0] = 127.0f;
    x[1] = 2.5f;   // * -1 = -2.5 -> -2
    x[2] = 3.5f;   // -3.5 -> -4
    x[3] = -0.5f;  //  0.5 -> 0
    const auto blocks = quantize_blocks<BlockQ8_K>(DType::Q8_K, x);
    EXPECT_EQ(blocks[0].qs[0], -127);
    EXPECT_EQ(blocks[0].qs[1], -2);
    EXPECT_EQ(blocks[0].qs[2], -4);
    EXPECT_EQ(blocks[0].qs[3], 0);
    for (size_t ib = 0; ib < blocks.size(); ++ib) {
        const float* xb = &x[ib * 256];
        float amax = 0, max = 0;
        for (int j = 0; j < 256; ++j)
            if (std::fabs(xb[j]) > amax) amax = std::fabs(xb[j]), max = xb[j];
        const float iscale = -127.f / max;
        EXPECT_EQ(blocks[ib].d, 1 / iscale) << "block " << ib;
        for (int j = 0; j < 256; ++j)
            ASSERT_EQ(blocks[ib].qs[j], std::min(127, (int)std::nearbyint(iscale * xb[j]))) << ib << "/" << j;
        for (int k = 0; k < 16; ++k) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += blocks[ib].qs[16 * k + l];
            ASSERT_EQ(blocks[ib].bsums[k], sum) << ib << "/" << k;
        }
    }
}

// Q4_0 / Q5_0: d = max / -8 (-16) with the signed largest-magnitude value, so that value is
// stored as q = 0 and comes back as f16(d) * -8, i.e. exact up to the f16 rounding of d.
TEST(QuantProperties, Q4_0AndQ5_0KeepTheBlockMax) {
    const std::vector<float> x = normal_data(32 * 50, 24);
    for (DType t : {DType::Q4_0, DType::Q5_0}) {
        const float levels = t == DType::Q4_0 ? 8.0f : 16.0f;
        const std::vector<float> y = round_trip(traits(t), x);
        for (size_t ib = 0; ib < x.size() / 32; ++ib) {
            size_t arg = ib * 32;
            for (size_t i = ib * 32; i < ib * 32 + 32; ++i)
                if (std::fabs(x[i]) > std::fabs(x[arg])) arg = i;
            const float d16 = fp16_to_f32(f32_to_fp16(x[arg] / -levels));
            EXPECT_EQ(y[arg], -levels * d16) << traits(t).name << " block " << ib;
        }
    }
}

// Q4_1 / Q5_1: the block min is stored as m and its element as q = 0, so it comes back as f16(min).
TEST(QuantProperties, Q4_1AndQ5_1KeepTheBlockMin) {
    const std::vector<float> x = normal_data(32 * 50, 25);
    for (DType t : {DType::Q4_1, DType::Q5_1}) {
        const std::vector<float> y = round_trip(traits(t), x);
        for (size_t ib = 0; ib < x.size() / 32; ++ib) {
            const auto first = x.begin() + (long)(ib * 32);
            const size_t arg = (size_t)(std::min_element(first, first + 32) - x.begin());
            EXPECT_EQ(y[arg], fp16_to_f32(f32_to_fp16(x[arg]))) << traits(t).name << " block " << ib;
        }
    }
}

// Q8_0 / Q4_0 quants are a fixed point of the round trip: quantizing the dequantized values
// again gives the same bytes (their max element is exactly representable on the grid).
TEST(QuantProperties, Q8_0AndQ4_0RequantizeIdentically) {
    const std::vector<float> x = normal_data(32 * 64, 26);
    for (DType t : {DType::Q8_0, DType::Q4_0}) {
        const TypeTraits& tr = traits(t);
        const int64_t n = (int64_t)x.size();
        std::vector<uint8_t> q1(row_bytes(tr, n)), q2(row_bytes(tr, n));
        std::vector<float> y((size_t)n);
        tr.quantize_row(x.data(), q1.data(), n);
        tr.dequantize_row(q1.data(), y.data(), n);
        tr.quantize_row(y.data(), q2.data(), n);
        EXPECT_EQ(q1, q2) << tr.name;
    }
}

// The k-quants spend their full scale range: the largest sub-block scale is stored at the
// top code (63 for Q4_K/Q5_K, 15 for Q2_K, -32 for Q3_K, -128 for Q6_K).
TEST(QuantProperties, KQuantsUseTheFullScaleRange) {
    const std::vector<float> x = normal_data(256 * 20, 27);
    for (const auto& b : quantize_blocks<BlockQ4_K>(DType::Q4_K, x)) {
        int top = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            quant::get_scale_min_k4(j, b.scales, &sc, &m);
            top = std::max<int>(top, sc);
        }
        EXPECT_EQ(top, 63);
    }
    for (const auto& b : quantize_blocks<BlockQ5_K>(DType::Q5_K, x)) {
        int top = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            quant::get_scale_min_k4(j, b.scales, &sc, &m);
            top = std::max<int>(top, sc);
        }
        EXPECT_EQ(top, 63);
    }
    for (const auto& b : quantize_blocks<BlockQ2_K>(DType::Q2_K, x)) {
        int top = 0;
        for (int j = 0; j < 16; ++j) top = std::max(top, b.scales[j] & 0xF);
        EXPECT_EQ(top, 15);
    }
    for (const auto& b : quantize_blocks<BlockQ3_K>(DType::Q3_K, x)) {
        int8_t sc[16];
        quant::unpack_q3_k_scales(b.scales, sc);
        EXPECT_EQ(*std::min_element(sc, sc + 16), -32);
    }
    for (const auto& b : quantize_blocks<BlockQ6_K>(DType::Q6_K, x))
        EXPECT_EQ(*std::min_element(b.scales, b.scales + 16), -128);
}

// Every element of a k-quant round trip lies within one quantization step of its sub-block
// (d * sc) of the input: no element lands on a wrong sub-block scale or bit position.
TEST(QuantProperties, Q4_KAndQ6_KErrorWithinOneStep) {
    const std::vector<float> x = normal_data(256 * 16, 28);
    {
        const auto blocks = quantize_blocks<BlockQ4_K>(DType::Q4_K, x);
        const std::vector<float> y = round_trip(traits(DType::Q4_K), x);
        for (size_t e = 0; e < x.size(); ++e) {
            uint8_t sc, m;
            quant::get_scale_min_k4((int)(e % 256) / 32, blocks[e / 256].scales, &sc, &m);
            const float step = fp16_to_f32(blocks[e / 256].d) * sc;
            ASSERT_LE(std::fabs(y[e] - x[e]), step) << "element " << e;
        }
    }
    {
        const auto blocks = quantize_blocks<BlockQ6_K>(DType::Q6_K, x);
        const std::vector<float> y = round_trip(traits(DType::Q6_K), x);
        for (size_t e = 0; e < x.size(); ++e) {
            const float step = std::fabs(fp16_to_f32(blocks[e / 256].d) * blocks[e / 256].scales[(e % 256) / 16]);
            ASSERT_LE(std::fabs(y[e] - x[e]), step) << "element " << e;
        }
    }
}

}  // namespace
}  // namespace retort::test
