// AVX-512 activation converters (from_float for Q8_0, Q8_1, Q8_K, F16, BF16). Each must write
// the same bytes as the reference quantizer of its type (tensor/types/*.cpp): the same f32
// divisions, the same rounding rule, in the same order.

#include "kernels/avx512/avx512_common.h"

#include <cstddef>

#include "kernels/avx512/kernels_avx512.h"
#include "tensor/blocks.h"

namespace retort::avx512 {

using namespace simd;

namespace {

// std::round (halves away from zero): trunc(|v|) + (fraction >= 0.5), sign put back. The
// fraction |v| - trunc(|v|) is exact in f32, unlike |v| + 0.5.
inline __m512 round_half_away(__m512 v) {
    const __m512 av = _mm512_abs_ps(v);
    const __m512 t = _mm512_roundscale_ps(av, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(av, t), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 r = _mm512_mask_add_ps(t, up, t, _mm512_set1_ps(1.0f));
    return _mm512_or_ps(r, _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
}

// One block of 32 as Q8_0 / Q8_1 quantize it: writes the f16 d and 32 quants, returns the f32 d
// and the quant sum.
inline float quantize_block_q8(const float* x, uint8_t* d_out, uint8_t* qs_out, int32_t* sum) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127;  // as the reference: inverse of the f32 d, before f16 rounding
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t dh = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    std::memcpy(d_out, &dh, 2);
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i i0 = _mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(v0, vid)));
    const __m512i i1 = _mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(v1, vid)));
    _mm_storeu_si128((__m128i*)qs_out, _mm512_cvtepi32_epi8(i0));  // vpmovdb: values are in int8 range
    _mm_storeu_si128((__m128i*)(qs_out + 16), _mm512_cvtepi32_epi8(i1));
    if (sum != nullptr) *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
    return d;
}

// f32 -> f16 bits as the reference f32_to_fp16: round to nearest even, a NaN becomes
// sign | 0x7e00 (the hardware would keep part of the payload).
inline __m256i cvt16_f16(__m512 v) {
    __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    if (nan != 0) {
        const __m512i u = _mm512_castps_si512(v);
        const __m512i qnan = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x8000)),
                                             _mm512_set1_epi32(0x7e00));
        h = _mm256_mask_blend_epi16(nan, h, _mm512_cvtepi32_epi16(qnan));
    }
    return h;
}

// f32 -> bf16 bits as the reference f32_to_bf16: integer round to nearest even, NaN kept quiet
// (| 64). Done by hand rather than with vcvtneps2bf16, which flushes subnormals to zero.
inline __m256i cvt16_bf16(__m512 v) {
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded =
        _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
    const __mmask16 nan =
        _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    const __m512i r = _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(64));
    return _mm512_cvtepi32_epi16(r);
}

template <class Cvt16>
inline void convert_row_16bit(const float* x, uint8_t* dst, int64_t n, Cvt16 cvt16) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i*)(dst + 2 * i), cvt16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(dst + 2 * i, k, cvt16(_mm512_maskz_loadu_ps(k, x + i)));
    }
}

}  // namespace

// ref: quantize_row_q8_0_ref.
void from_float_q8_0(const float* x, void* vdst, int64_t n) {
    auto* dst = static_cast<uint8_t*>(vdst);
    constexpr size_t B = sizeof(BlockQ8_0);
    for (int64_t ib = 0; ib < n / kQK8_0; ++ib) {
        uint8_t* b = dst + ib * B;
        quantize_block_q8(x + ib * kQK8_0, b + offsetof(BlockQ8_0, d), b + offsetof(BlockQ8_0, qs), nullptr);
    }
}

// ref: quantize_row_q8_1_ref. s = f16(sum(q) * d) with the f32 d.
void from_float_q8_1(const float* x, void* vdst, int64_t n) {
    auto* dst = static_cast<uint8_t*>(vdst);
    constexpr size_t B = sizeof(BlockQ8_1);
    for (int64_t ib = 0; ib < n / kQK8_1; ++ib) {
        uint8_t* b = dst + ib * B;
        int32_t sum = 0;
        const float d =
            quantize_block_q8(x + ib * kQK8_1, b + offsetof(BlockQ8_1, d), b + offsetof(BlockQ8_1, qs), &sum);
        const uint16_t s = _cvtss_sh((float)sum * d, _MM_FROUND_TO_NEAREST_INT);
        std::memcpy(b + offsetof(BlockQ8_1, s), &s, 2);
    }
}

// ref: quantize_row_q8_k_ref. The first value of largest magnitude maps to -127 exactly:
// iscale = -127 / max, q = min(127, round-half-even(iscale * x)), d = 1 / iscale; one 16-lane
// register is exactly one bsum group of 16.
void from_float_q8_k(const float* x, void* vdst, int64_t n) {
    auto* dst = static_cast<uint8_t*>(vdst);
    constexpr size_t B = sizeof(BlockQ8_K);
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* xb = x + ib * kQK_K;
        uint8_t* b = dst + ib * B;

        __m512 vmax = _mm512_setzero_ps();
        for (int j = 0; j < kQK_K; j += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(xb + j)));
        const float amax = _mm512_reduce_max_ps(vmax);
        if (amax == 0.0f) {
            std::memset(b, 0, B);
            continue;
        }
        float max = amax;
        const __m512 vamax = _mm512_set1_ps(amax);
        for (int j = 0; j < kQK_K; j += 16) {
            const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(xb + j)), vamax, _CMP_EQ_OQ);
            if (hit != 0) {
                max = xb[j + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        int16_t bsums[kQK_K / 16];
        for (int j = 0; j < kQK_K; j += 16) {
            const __m512i q = _mm512_min_epi32(_mm512_cvt_roundps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(xb + j)),
                                                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                               _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i*)(b + offsetof(BlockQ8_K, qs) + j), _mm512_cvtepi32_epi8(q));
            bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        std::memcpy(b + offsetof(BlockQ8_K, bsums), bsums, sizeof(bsums));
        const float d = 1 / iscale;
        std::memcpy(b + offsetof(BlockQ8_K, d), &d, 4);
    }
}

// ref: quantize_row_f16_ref.
void from_float_f16(const float* x, void* dst, int64_t n) {
    convert_row_16bit(x, static_cast<uint8_t*>(dst), n, cvt16_f16);
}

// ref: quantize_row_bf16_ref.
void from_float_bf16(const float* x, void* dst, int64_t n) {
    convert_row_16bit(x, static_cast<uint8_t*>(dst), n, cvt16_bf16);
}

}  // namespace retort::avx512
