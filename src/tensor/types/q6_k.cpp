// Q6_K: super-blocks of 256 = 16 sub-blocks of 16; x = d * sc[j] * q with q in -32..31, an
// int8 scale per sub-block and one f16 super-scale; no mins. Quant order: quant::unpack_q6_k.

#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace retort {

void dequantize_row_q6_k(const void* src, float* dst, int64_t n) {
    assert(n % kQK_K == 0);
    const auto* blocks = static_cast<const BlockQ6_K*>(src);
    int8_t q[kQK_K];
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const BlockQ6_K& b = blocks[ib];
        const float d = fp16_to_f32(b.d);
        quant::unpack_q6_k(b, q);
        float* y = dst + ib * kQK_K;
        // (d * sc) * q, in ggml's order.
        for (int e = 0; e < kQK_K; ++e) y[e] = d * b.scales[e / 16] * q[e];
    }
}

void quantize_row_q6_k_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK_K == 0);
    auto* blocks = static_cast<BlockQ6_K*>(dst);
    int8_t L[kQK_K];
    float scales[kQK_K / 16];

    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        BlockQ6_K& b = blocks[ib];

        // 1. Best signed scale per sub-block of 16 (searched, x^2-weighted).
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            scales[j] = quant::make_qx_quants(16, 32, x + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > max_abs_scale) {
                max_abs_scale = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs_scale < quant::kGroupMaxEps) {
            std::memset(&b, 0, sizeof(b));
            continue;
        }

        // 2. int8 sub-block scales: the largest-magnitude one maps to -128 (then clipped to
        //    127 on the other side), so the super-scale d may be negative.
        const float iscale = -128.f / max_scale;
        b.d = f32_to_fp16(1 / iscale);
        for (int j = 0; j < kQK_K / 16; ++j)
            b.scales[j] = (int8_t)std::min(127, quant::nearest_int(iscale * scales[j]));

        // 3. Re-quantize against the stored scales.
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float d = fp16_to_f32(b.d) * b.scales[j];
            if (!d) continue;
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = (int8_t)(std::clamp(quant::nearest_int(x[16 * j + l] / d), -32, 31) + 32);
        }

        // 4. Pack (see quant::unpack_q6_k): low nibbles to ql, top 2 bits to qh.
        std::memset(b.ql, 0, sizeof(b.ql));
        std::memset(b.qh, 0, sizeof(b.qh));
        for (int e = 0; e < kQK_K; ++e) {
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            const uint8_t v = (uint8_t)L[e];
            b.ql[64 * h + 32 * (k % 2) + l] |= (uint8_t)((v & 0xF) << (k < 2 ? 0 : 4));
            b.qh[32 * h + l] |= (uint8_t)((v >> 4) << (2 * k));
        }
    }
}

}  // namespace retort
