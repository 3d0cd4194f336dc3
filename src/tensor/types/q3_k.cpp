// Q3_K: super-blocks of 256 = 16 sub-blocks of 16; x = d * sc[j] * q with q in -4..3
// (2 low bits in qs, the third in hmask), signed 6-bit sub-block scales packed in 12 bytes
// (quant::unpack_q3_k_scales) and one f16 super-scale; no mins.

#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"
#include "tensor/types/types.h"
#include "util/fp16.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace retort {

void dequantize_row_q3_k(const void* src, float* dst, int64_t n) {
    assert(n % kQK_K == 0);
    const auto* blocks = static_cast<const BlockQ3_K*>(src);
    int8_t q[kQK_K], sc[16];
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const BlockQ3_K& b = blocks[ib];
        const float d = fp16_to_f32(b.d);
        quant::unpack_q3_k(b, q);
        quant::unpack_q3_k_scales(b.scales, sc);
        float* y = dst + ib * kQK_K;
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float dl = d * sc[j];
            for (int l = 0; l < 16; ++l) y[16 * j + l] = dl * q[16 * j + l];
        }
    }
}

void quantize_row_q3_k_ref(const float* src, void* dst, int64_t n) {
    assert(n % kQK_K == 0);
    auto* blocks = static_cast<BlockQ3_K*>(dst);
    int8_t L[kQK_K], sc[16];
    float scales[kQK_K / 16];

    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* x = src + ib * kQK_K;
        BlockQ3_K& b = blocks[ib];

        // 1. Best signed scale per sub-block of 16.
        float max_scale = 0, amax = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            scales[j] = quant::make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > amax) {
                amax = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }

        // 2. 6-bit signed scales: the largest-magnitude one maps to -32; stored as l + 32.
        std::memset(b.scales, 0, sizeof(b.scales));
        if (max_scale != 0) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < kQK_K / 16; ++j) {
                // int8_t first, then clip, as ggml does.
                const int8_t l0 = (int8_t)quant::nearest_int(iscale * scales[j]);
                const int l = std::clamp((int)l0, -32, 31) + 32;
                if (j < 8) b.scales[j] = (uint8_t)(l & 0xF);
                else b.scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                b.scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            b.d = f32_to_fp16(1 / iscale);
        } else {
            b.d = f32_to_fp16(0.f);
        }

        // 3. Re-quantize against the stored scales; sub-blocks with a zero scale keep the
        //    quants of step 1.
        quant::unpack_q3_k_scales(b.scales, sc);
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float d = fp16_to_f32(b.d) * sc[j];
            if (!d) continue;
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] = (int8_t)(std::clamp(quant::nearest_int(x[16 * j + l] / d), -4, 3) + 4);
        }

        // 4. Pack (see quant::unpack_q3_k): values 0..7; bit 2 set means "no -4" and goes to
        //    hmask, the low 2 bits to qs.
        std::memset(b.hmask, 0, sizeof(b.hmask));
        std::memset(b.qs, 0, sizeof(b.qs));
        for (int e = 0; e < kQK_K; ++e) {
            const int v = L[e];
            if (v > 3) b.hmask[e % 32] |= (uint8_t)(1 << (e / 32));
            b.qs[32 * (e / 128) + e % 32] |= (uint8_t)((v & 3) << (2 * ((e % 128) / 32)));
        }
    }
}

}  // namespace retort
