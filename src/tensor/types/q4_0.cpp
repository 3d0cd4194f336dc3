// Q4_0: blocks of 32, x = d * (q - 8) with q in 0..15. The element of largest magnitude maps
// to q = 0 exactly (d = max / -8), which buys one level on the side where it matters.
// Byte j holds element j in its low nibble and element j + 16 in its high nibble.

#include "tensor/blocks.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace retort {

void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
    assert(n % kQK4_0 == 0);
    const auto* blocks = static_cast<const BlockQ4_0*>(src);
    for (int64_t ib = 0; ib < n / kQK4_0; ++ib) {
        const BlockQ4_0& b = blocks[ib];
        const float d = fp16_to_f32(b.d);
        float* y = dst + ib * kQK4_0;
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            y[j] = ((b.qs[j] & 0x0F) - 8) * d;
            y[j + kQK4_0 / 2] = ((b.qs[j] >> 4) - 8) * d;
        }
    }
}

void quantize_row_q4_0_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK4_0 == 0);
    auto* blocks = static_cast<BlockQ4_0*>(dst);
    for (int64_t ib = 0; ib < n / kQK4_0; ++ib) {
        const float* x = src + ib * kQK4_0;
        // The signed value of the largest-magnitude element (first one on ties).
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < kQK4_0; ++j) {
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        blocks[ib].d = f32_to_fp16(d);

        // x * id lies in [-8, 8]; +8.5 then truncation rounds half up; 16 is clipped to 15.
        auto quant = [&](float v) { return (uint8_t)std::min(15, (int)(int8_t)(v * id + 8.5f)); };
        for (int j = 0; j < kQK4_0 / 2; ++j)
            blocks[ib].qs[j] = (uint8_t)(quant(x[j]) | (quant(x[j + kQK4_0 / 2]) << 4));
    }
}

}  // namespace retort
