// Q8_0: blocks of 32, x = d * q with q in [-127, 127] and an f16 scale d = amax / 127.
// Also the activation format for Q4_0/Q5_0/Q8_0 weights: llama.cpp quantizes activations with
// exactly this rounding before its integer dot products, so it must match ggml bit for bit.

#include "tensor/blocks.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <cassert>
#include <cmath>

namespace retort {

void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
    assert(n % kQK8_0 == 0);
    const auto* blocks = static_cast<const BlockQ8_0*>(src);
    for (int64_t ib = 0; ib < n / kQK8_0; ++ib) {
        const BlockQ8_0& b = blocks[ib];
        const float d = fp16_to_f32(b.d);
        for (int j = 0; j < kQK8_0; ++j) dst[ib * kQK8_0 + j] = b.qs[j] * d;
    }
}

void quantize_row_q8_0_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK8_0 == 0);
    auto* blocks = static_cast<BlockQ8_0*>(dst);
    for (int64_t ib = 0; ib < n / kQK8_0; ++ib) {
        const float* x = src + ib * kQK8_0;
        float amax = 0.0f;
        for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));

        // The inverse is taken of the f32 scale, before it is rounded to f16 (as ggml does).
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        blocks[ib].d = f32_to_fp16(d);
        // roundf: halves go away from zero (unlike the k-quants' nearest_int).
        for (int j = 0; j < kQK8_0; ++j) blocks[ib].qs[j] = (int8_t)std::round(x[j] * id);
    }
}

}  // namespace retort
