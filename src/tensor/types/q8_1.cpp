// Q8_1: Q8_0 plus s = d * sum(q), the activation partner of Q4_1/Q5_1: their offset m times
// the activation sum is then one multiply per block. Never a weight type.

#include "tensor/blocks.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <cassert>
#include <cmath>

namespace retort {

void dequantize_row_q8_1(const void* src, float* dst, int64_t n) {
    assert(n % kQK8_1 == 0);
    const auto* blocks = static_cast<const BlockQ8_1*>(src);
    for (int64_t ib = 0; ib < n / kQK8_1; ++ib) {
        const BlockQ8_1& b = blocks[ib];
        const float d = fp16_to_f32(b.d);
        for (int j = 0; j < kQK8_1; ++j) dst[ib * kQK8_1 + j] = b.qs[j] * d;
    }
}

void quantize_row_q8_1_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK8_1 == 0);
    auto* blocks = static_cast<BlockQ8_1*>(dst);
    for (int64_t ib = 0; ib < n / kQK8_1; ++ib) {
        const float* x = src + ib * kQK8_1;
        BlockQ8_1& b = blocks[ib];
        float amax = 0.0f;
        for (int j = 0; j < kQK8_1; ++j) amax = std::max(amax, std::fabs(x[j]));

        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b.d = f32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < kQK8_1; ++j) {
            b.qs[j] = (int8_t)std::round(x[j] * id);
            sum += b.qs[j];
        }
        // s uses the f32 d (not the f16-rounded one), as ggml does.
        b.s = f32_to_fp16((float)sum * d);
    }
}

}  // namespace retort
