// Q4_1: blocks of 32, x = d * q + m with q in 0..15, m = block min, d = (max - min) / 15.
// Nibble order as Q4_0: byte j holds elements j (low) and j + 16 (high).

#include "tensor/blocks.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <algorithm>
#include <cassert>
#include <cfloat>

namespace retort {

void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
    assert(n % kQK4_1 == 0);
    const auto* blocks = static_cast<const BlockQ4_1*>(src);
    for (int64_t ib = 0; ib < n / kQK4_1; ++ib) {
        const BlockQ4_1& b = blocks[ib];
        const float d = fp16_to_f32(b.d), m = fp16_to_f32(b.m);
        float* y = dst + ib * kQK4_1;
        for (int j = 0; j < kQK4_1 / 2; ++j) {
            y[j] = (b.qs[j] & 0x0F) * d + m;
            y[j + kQK4_1 / 2] = (b.qs[j] >> 4) * d + m;
        }
    }
}

void quantize_row_q4_1_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK4_1 == 0);
    auto* blocks = static_cast<BlockQ4_1*>(dst);
    for (int64_t ib = 0; ib < n / kQK4_1; ++ib) {
        const float* x = src + ib * kQK4_1;
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < kQK4_1; ++j) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        blocks[ib].d = f32_to_fp16(d);
        blocks[ib].m = f32_to_fp16(min);

        // (x - min) * id lies in [0, 15]; +0.5 then truncation rounds half up.
        auto quant = [&](float v) {
            return (uint8_t)std::min(15, (int)(int8_t)((v - min) * id + 0.5f));
        };
        for (int j = 0; j < kQK4_1 / 2; ++j)
            blocks[ib].qs[j] = (uint8_t)(quant(x[j]) | (quant(x[j + kQK4_1 / 2]) << 4));
    }
}

}  // namespace retort
