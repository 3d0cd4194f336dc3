// Q5_K: Q4_K with a fifth bit per quant (q in 0..31): x = d*sc[j] * q - dmin*m[j] over
// 8 sub-blocks of 32. Scales as Q4_K; quant order: quant::unpack_q5_k.

#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"
#include "tensor/types/types.h"

#include <cassert>
#include <cstring>

namespace retort {

void dequantize_row_q5_k(const void* src, float* dst, int64_t n) {
    assert(n % kQK_K == 0);
    const auto* blocks = static_cast<const BlockQ5_K*>(src);
    uint8_t q[kQK_K];
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const BlockQ5_K& b = blocks[ib];
        quant::unpack_q5_k(b, q);
        quant::dequantize_super_block_k(b.scales, b.d, b.dmin, q, dst + ib * kQK_K);
    }
}

void quantize_row_q5_k_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK_K == 0);
    auto* blocks = static_cast<BlockQ5_K*>(dst);
    uint8_t L[kQK_K];
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        BlockQ5_K& b = blocks[ib];
        // Scales, mins and quants 0..31 as Q4_K's (quant_common.h), with a narrower
        // sweep (rmin -0.5, 16 candidates) because 31 levels leave less to gain.
        quant::quantize_super_block_k(x, 31, -0.5f, 15, b.scales, &b.d, &b.dmin, L);

        // Pack low nibbles as Q4_K; bit 4 of element e goes to bit e/32 of qh[e%32].
        std::memset(b.qh, 0, sizeof(b.qh));
        for (int e = 0; e < kQK_K; ++e) {
            const uint8_t nib = L[e] & 0xF;
            uint8_t& byte = b.qs[32 * (e / 64) + e % 32];
            if (e % 64 < 32) byte = nib;  // low nibble comes first, so assign
            else byte |= (uint8_t)(nib << 4);
            b.qh[e % 32] |= (uint8_t)((L[e] >> 4) << (e / 32));
        }
    }
}

}  // namespace retort
