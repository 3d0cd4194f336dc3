// Q4_K: super-blocks of 256 = 8 sub-blocks of 32; x = d*sc[j] * q - dmin*m[j], q in 0..15,
// with 6-bit sub-block scales sc and mins m under two f16 super-scales d and dmin
// (packing: quant::get_scale_min_k4; quant order: quant::unpack_q4_k).

#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace retort {

void dequantize_row_q4_k(const void* src, float* dst, int64_t n) {
    assert(n % kQK_K == 0);
    const auto* blocks = static_cast<const BlockQ4_K*>(src);
    uint8_t q[kQK_K];
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const BlockQ4_K& b = blocks[ib];
        const float d = fp16_to_f32(b.d), dmin = fp16_to_f32(b.dmin);
        quant::unpack_q4_k(b, q);
        float* y = dst + ib * kQK_K;
        for (int j = 0; j < kQK_K / 32; ++j) {
            uint8_t sc, m;
            quant::get_scale_min_k4(j, b.scales, &sc, &m);
            // The products d*sc and dmin*m are formed first, as in ggml: bit-exact results.
            const float dl = d * sc, ml = dmin * m;
            for (int l = 0; l < 32; ++l) y[32 * j + l] = dl * q[32 * j + l] - ml;
        }
    }
}

void quantize_row_q4_k_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK_K == 0);
    auto* blocks = static_cast<BlockQ4_K*>(dst);
    uint8_t L[kQK_K], Laux[32];
    float weights[32], mins[kQK_K / 32], scales[kQK_K / 32];

    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        BlockQ4_K& b = blocks[ib];

        // 1. Best (scale, min) per sub-block. Weights favour large values, on top of the
        //    sub-block's RMS so that small values still count.
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < kQK_K / 32; ++j) {
            const float* xs = x + 32 * j;
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
            const float av_x = std::sqrt(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
            scales[j] = quant::make_qkx2_quants(32, 15, xs, weights, L + 32 * j, &mins[j], Laux,
                                                -1.f, 0.1f, 20, false);
            max_scale = std::max(max_scale, scales[j]);
            max_min = std::max(max_min, mins[j]);
        }

        // 2. Quantize the 8 scales and 8 mins to 6 bits against the largest of each.
        const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < kQK_K / 32; ++j) {
            // uint8_t, then clip: the same wrap-then-clip ggml applies.
            const uint8_t ls = std::min<uint8_t>(63, (uint8_t)quant::nearest_int(inv_scale * scales[j]));
            const uint8_t lm = std::min<uint8_t>(63, (uint8_t)quant::nearest_int(inv_min * mins[j]));
            if (j < 4) {
                b.scales[j] = ls;
                b.scales[j + 4] = lm;
            } else {
                b.scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
                b.scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
                b.scales[j] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        b.d = f32_to_fp16(max_scale / 63.f);
        b.dmin = f32_to_fp16(max_min / 63.f);

        // 3. Re-quantize every value against the scales as stored (after both roundings).
        for (int j = 0; j < kQK_K / 32; ++j) {
            uint8_t sc, m;
            quant::get_scale_min_k4(j, b.scales, &sc, &m);
            const float d = fp16_to_f32(b.d) * sc;
            if (!d) continue;
            const float dm = fp16_to_f32(b.dmin) * m;
            for (int l = 0; l < 32; ++l)
                L[32 * j + l] = (uint8_t)std::clamp(quant::nearest_int((x[32 * j + l] + dm) / d), 0, 15);
        }

        // 4. Pack: chunk c of 64 values -> 32 bytes, first 32 in low nibbles, next 32 in high.
        for (int c = 0; c < kQK_K / 64; ++c)
            for (int l = 0; l < 32; ++l)
                b.qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

}  // namespace retort
