// Q5_1: blocks of 32, x = d * q + m with q in 0..31, m = block min, d = (max - min) / 31.
// Bit layout as Q5_0.

#include "tensor/blocks.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <algorithm>
#include <cassert>
#include <cfloat>
#include <cstring>

namespace retort {

void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
    assert(n % kQK5_1 == 0);
    const auto* blocks = static_cast<const BlockQ5_1*>(src);
    for (int64_t ib = 0; ib < n / kQK5_1; ++ib) {
        const BlockQ5_1& b = blocks[ib];
        const float d = fp16_to_f32(b.d), m = fp16_to_f32(b.m);
        uint32_t qh;
        std::memcpy(&qh, b.qh, sizeof(qh));
        float* y = dst + ib * kQK5_1;
        for (int j = 0; j < kQK5_1 / 2; ++j) {
            const int hi0 = (qh >> j) & 1, hi1 = (qh >> (j + kQK5_1 / 2)) & 1;
            y[j] = ((b.qs[j] & 0x0F) | (hi0 << 4)) * d + m;
            y[j + kQK5_1 / 2] = ((b.qs[j] >> 4) | (hi1 << 4)) * d + m;
        }
    }
}

void quantize_row_q5_1_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK5_1 == 0);
    auto* blocks = static_cast<BlockQ5_1*>(dst);
    for (int64_t ib = 0; ib < n / kQK5_1; ++ib) {
        const float* x = src + ib * kQK5_1;
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < kQK5_1; ++j) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        blocks[ib].d = f32_to_fp16(d);
        blocks[ib].m = f32_to_fp16(min);

        // (x - min) * id lies in [0, 31] up to rounding; the clip only guards that rounding.
        auto quant = [&](float v) { return std::min(31, (int)((v - min) * id + 0.5f)); };
        uint32_t qh = 0;
        for (int j = 0; j < kQK5_1 / 2; ++j) {
            const int q0 = quant(x[j]), q1 = quant(x[j + kQK5_1 / 2]);
            blocks[ib].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + kQK5_1 / 2);
        }
        std::memcpy(blocks[ib].qh, &qh, sizeof(qh));
    }
}

}  // namespace retort
