// Q4_K: super-blocks of 256 = 8 sub-blocks of 32; x = d*sc[j] * q - dmin*m[j], q in 0..15,
// with 6-bit sub-block scales sc and mins m under two f16 super-scales d and dmin
// (packing: quant::get_scale_min_k4; quant order: quant::unpack_q4_k).

#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"
#include "tensor/types/types.h"

#include <cassert>

namespace retort {

void dequantize_row_q4_k(const void* src, float* dst, int64_t n) {
    assert(n % kQK_K == 0);
    const auto* blocks = static_cast<const BlockQ4_K*>(src);
    uint8_t q[kQK_K];
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const BlockQ4_K& b = blocks[ib];
        quant::unpack_q4_k(b, q);
        quant::dequantize_super_block_k(b.scales, b.d, b.dmin, q, dst + ib * kQK_K);
    }
}

void quantize_row_q4_k_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK_K == 0);
    auto* blocks = static_cast<BlockQ4_K*>(dst);
    uint8_t L[kQK_K];
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        BlockQ4_K& b = blocks[ib];
        // Scales, mins and quants 0..15 (quant_common.h).
        quant::quantize_super_block_k(x, 15, -1.f, 20, b.scales, &b.d, &b.dmin, L);

        // Pack: chunk c of 64 values -> 32 bytes, first 32 in low nibbles, next 32 in high.
        for (int c = 0; c < kQK_K / 64; ++c)
            for (int l = 0; l < 32; ++l)
                b.qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

}  // namespace retort
