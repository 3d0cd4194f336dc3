// Q2_K: super-blocks of 256 = 16 sub-blocks of 16; x = d*sc[j] * q - dmin*m[j], q in 0..3,
// a 4-bit scale (low nibble) and 4-bit min (high nibble) per sub-block in scales[j], under
// f16 super-scales d and dmin. Quant order: quant::unpack_q2_k.

#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace retort {

void dequantize_row_q2_k(const void* src, float* dst, int64_t n) {
    assert(n % kQK_K == 0);
    const auto* blocks = static_cast<const BlockQ2_K*>(src);
    uint8_t q[kQK_K];
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const BlockQ2_K& b = blocks[ib];
        const float d = fp16_to_f32(b.d), dmin = fp16_to_f32(b.dmin);
        quant::unpack_q2_k(b, q);
        float* y = dst + ib * kQK_K;
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float dl = d * (b.scales[j] & 0xF), ml = dmin * (b.scales[j] >> 4);
            for (int l = 0; l < 16; ++l) y[16 * j + l] = dl * q[16 * j + l] - ml;
        }
    }
}

void quantize_row_q2_k_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK_K == 0);
    auto* blocks = static_cast<BlockQ2_K*>(dst);
    uint8_t L[kQK_K], Laux[16];
    float weights[16], mins[kQK_K / 16], scales[kQK_K / 16];
    const float q4scale = 15.f;  // sub-block scales and mins are 4-bit

    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        BlockQ2_K& b = blocks[ib];

        // 1. Best (scale, min) per sub-block of 16, minimising |x|-weighted absolute error.
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = quant::make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j],
                                                Laux, -0.5f, 0.1f, 15, true);
            max_scale = std::max(max_scale, scales[j]);
            max_min = std::max(max_min, mins[j]);
        }

        // 2. 4-bit scales (low nibble) and mins (high nibble) against the largest of each.
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < kQK_K / 16; ++j)
                b.scales[j] = (uint8_t)quant::nearest_int(iscale * scales[j]);
            b.d = f32_to_fp16(max_scale / q4scale);
        } else {
            for (int j = 0; j < kQK_K / 16; ++j) b.scales[j] = 0;
            b.d = f32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < kQK_K / 16; ++j)
                b.scales[j] |= (uint8_t)(quant::nearest_int(iscale * mins[j]) << 4);
            b.dmin = f32_to_fp16(max_min / q4scale);
        } else {
            b.dmin = f32_to_fp16(0.f);
        }

        // 3. Re-quantize against the stored scales and mins.
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float d = fp16_to_f32(b.d) * (b.scales[j] & 0xF);
            if (!d) continue;
            const float dm = fp16_to_f32(b.dmin) * (b.scales[j] >> 4);
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = (uint8_t)std::clamp(quant::nearest_int((x[16 * j + l] + dm) / d), 0, 3);
        }

        // 4. Pack (see quant::unpack_q2_k): four 2-bit values per byte.
        std::memset(b.qs, 0, sizeof(b.qs));
        for (int e = 0; e < kQK_K; ++e)
            b.qs[32 * (e / 128) + e % 32] |= (uint8_t)(L[e] << (2 * ((e % 128) / 32)));
    }
}

}  // namespace retort
