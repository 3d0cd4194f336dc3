// Q5_K: Q4_K with a fifth bit per quant (q in 0..31): x = d*sc[j] * q - dmin*m[j] over
// 8 sub-blocks of 32. Scales as Q4_K; quant order: quant::unpack_q5_k.

#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace retort {

void dequantize_row_q5_k(const void* src, float* dst, int64_t n) {
    assert(n % kQK_K == 0);
    const auto* blocks = static_cast<const BlockQ5_K*>(src);
    uint8_t q[kQK_K];
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const BlockQ5_K& b = blocks[ib];
        const float d = fp16_to_f32(b.d), dmin = fp16_to_f32(b.dmin);
        quant::unpack_q5_k(b, q);
        float* y = dst + ib * kQK_K;
        for (int j = 0; j < kQK_K / 32; ++j) {
            uint8_t sc, m;
            quant::get_scale_min_k4(j, b.scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            for (int l = 0; l < 32; ++l) y[32 * j + l] = dl * q[32 * j + l] - ml;
        }
    }
}

void quantize_row_q5_k_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK_K == 0);
    auto* blocks = static_cast<BlockQ5_K*>(dst);
    uint8_t L[kQK_K], Laux[32];
    float weights[32], mins[kQK_K / 32], scales[kQK_K / 32];

    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        BlockQ5_K& b = blocks[ib];

        // 1. Best (scale, min) per sub-block, weighted as in Q4_K; a narrower sweep than
        //    Q4_K's (rmin -0.5, 16 steps) because 31 levels leave less to gain.
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < kQK_K / 32; ++j) {
            const float* xs = x + 32 * j;
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
            const float av_x = std::sqrt(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
            scales[j] = quant::make_qkx2_quants(32, 31, xs, weights, L + 32 * j, &mins[j], Laux,
                                                -0.5f, 0.1f, 15, false);
            max_scale = std::max(max_scale, scales[j]);
            max_min = std::max(max_min, mins[j]);
        }

        // 2. 6-bit scales and mins, packed exactly as Q4_K's.
        const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < kQK_K / 32; ++j) {
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

        // 3. Re-quantize against the stored scales.
        for (int j = 0; j < kQK_K / 32; ++j) {
            uint8_t sc, m;
            quant::get_scale_min_k4(j, b.scales, &sc, &m);
            const float d = fp16_to_f32(b.d) * sc;
            if (!d) continue;
            const float dm = fp16_to_f32(b.dmin) * m;
            for (int l = 0; l < 32; ++l)
                L[32 * j + l] = (uint8_t)std::clamp(quant::nearest_int((x[32 * j + l] + dm) / d), 0, 31);
        }

        // 4. Pack low nibbles as Q4_K; bit 4 of element e goes to bit e/32 of qh[e%32].
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
