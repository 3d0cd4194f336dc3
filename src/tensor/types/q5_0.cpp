// Q5_0: blocks of 32, x = d * (q - 16) with q in 0..31, d = max / -16 (as Q4_0, one bit more).
// Low 4 bits as Q4_0's nibbles; the fifth bit of element j is bit j of the 32-bit qh.

#include "tensor/blocks.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace retort {

void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
    assert(n % kQK5_0 == 0);
    const auto* blocks = static_cast<const BlockQ5_0*>(src);
    for (int64_t ib = 0; ib < n / kQK5_0; ++ib) {
        const BlockQ5_0& b = blocks[ib];
        const float d = fp16_to_f32(b.d);
        uint32_t qh;
        std::memcpy(&qh, b.qh, sizeof(qh));
        float* y = dst + ib * kQK5_0;
        for (int j = 0; j < kQK5_0 / 2; ++j) {
            const int hi0 = (qh >> j) & 1, hi1 = (qh >> (j + kQK5_0 / 2)) & 1;
            y[j] = (((b.qs[j] & 0x0F) | (hi0 << 4)) - 16) * d;
            y[j + kQK5_0 / 2] = (((b.qs[j] >> 4) | (hi1 << 4)) - 16) * d;
        }
    }
}

void quantize_row_q5_0_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK5_0 == 0);
    auto* blocks = static_cast<BlockQ5_0*>(dst);
    for (int64_t ib = 0; ib < n / kQK5_0; ++ib) {
        const float* x = src + ib * kQK5_0;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < kQK5_0; ++j) {
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        blocks[ib].d = f32_to_fp16(d);

        auto quant = [&](float v) { return std::min(31, (int)(int8_t)(v * id + 16.5f)); };
        uint32_t qh = 0;
        for (int j = 0; j < kQK5_0 / 2; ++j) {
            const int q0 = quant(x[j]), q1 = quant(x[j + kQK5_0 / 2]);
            blocks[ib].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + kQK5_0 / 2);
        }
        std::memcpy(blocks[ib].qh, &qh, sizeof(qh));
    }
}

}  // namespace retort
