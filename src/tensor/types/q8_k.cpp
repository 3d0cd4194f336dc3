// Q8_K: super-blocks of 256, x = d * q with an f32 scale and q in [-127, 127] (ggml chose
// -127/max over -128/max so that IQ2 SIMD code stays simple), plus bsums[k] = the sum of
// quants 16k..16k+15. The activation partner of every k-quant: the bsums turn a weight's
// per-sub-block min into one multiply. Never a weight type.

#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"
#include "tensor/types/types.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace retort {

void dequantize_row_q8_k(const void* src, float* dst, int64_t n) {
    assert(n % kQK_K == 0);
    const auto* blocks = static_cast<const BlockQ8_K*>(src);
    for (int64_t ib = 0; ib < n / kQK_K; ++ib)
        for (int j = 0; j < kQK_K; ++j) dst[ib * kQK_K + j] = blocks[ib].d * blocks[ib].qs[j];
}

void quantize_row_q8_k_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK_K == 0);
    auto* blocks = static_cast<BlockQ8_K*>(dst);
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        BlockQ8_K& b = blocks[ib];
        float amax = 0, max = 0;
        for (int j = 0; j < kQK_K; ++j) {
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        if (amax == 0) {  // ggml leaves bsums unset here; we zero the whole block
            std::memset(&b, 0, sizeof(b));
            continue;
        }
        // The signed max maps to -127 exactly; the f32 d is 1/iscale, not max/-127.
        const float iscale = -127.f / max;
        for (int j = 0; j < kQK_K; ++j)
            b.qs[j] = (int8_t)std::min(127, quant::nearest_int(iscale * x[j]));
        for (int k = 0; k < kQK_K / 16; ++k) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += b.qs[16 * k + l];
            b.bsums[k] = (int16_t)sum;
        }
        b.d = 1 / iscale;
    }
}

}  // namespace retort
