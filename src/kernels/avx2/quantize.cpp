// AVX2 activation converters (from_float for Q8_0, Q8_1, Q8_K, F16, BF16). Each must write the
// same bytes as the reference quantizer of its type (tensor/types/*.cpp), so every rounding
// step below repeats the reference's: the same f32 divisions, the same rounding rule.

#include <cstddef>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/kernels_avx2.h"
#include "tensor/blocks.h"

namespace retort::avx2 {

using namespace simd;

namespace {

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

inline float hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// std::round: halves away from zero. trunc(|v|) + (frac >= 0.5), sign put back; the fraction
// |v| - trunc(|v|) is exact in f32, unlike |v| + 0.5 (0.49999997f + 0.5f rounds up to 1).
inline __m256 round_half_away(__m256 v) {
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    const __m256 av = abs_ps(v);
    const __m256 t = _mm256_round_ps(av, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 up = _mm256_cmp_ps(_mm256_sub_ps(av, t), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm256_or_ps(_mm256_add_ps(t, _mm256_and_ps(up, _mm256_set1_ps(1.0f))), sign);
}

// Four vectors of 8 int32 (each within int8) -> 32 bytes in order. The packs work per 128-bit
// half, leaving the 4-byte groups as [i0 lo, i1 lo, i2 lo, i3 lo | i0 hi, ...]; the permute
// restores i0 lo, i0 hi, i1 lo, ...
inline __m256i pack_i32x32_to_i8(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
    const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// One Q8_0-style block of 32: writes the f16 d and 32 quants, returns the f32 d and (via sum)
// the quant sum (Q8_1 needs both).
inline float quantize_block_q8(const float* x, uint8_t* d_out, uint8_t* qs_out, int32_t* sum) {
    const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    const __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    const float amax =
        hmax_ps(_mm256_max_ps(_mm256_max_ps(abs_ps(v0), abs_ps(v1)), _mm256_max_ps(abs_ps(v2), abs_ps(v3))));
    // as the reference: d = amax / 127 in f32, its inverse taken before d is rounded to f16
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t dh = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    std::memcpy(d_out, &dh, 2);

    const __m256 vid = _mm256_set1_ps(id);
    const __m256i i0 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v0, vid)));
    const __m256i i1 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v1, vid)));
    const __m256i i2 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v2, vid)));
    const __m256i i3 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v3, vid)));
    _mm256_storeu_si256((__m256i*)qs_out, pack_i32x32_to_i8(i0, i1, i2, i3));
    if (sum != nullptr) *sum = hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    return d;
}

// f32 -> f16 bits as the reference f32_to_fp16: round to nearest even (F16C does that), and a
// NaN becomes sign | 0x7e00 (F16C would keep part of the payload).
inline __m128i cvt8_f16(__m256 v) {
    __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    if (_mm256_movemask_ps(nan) != 0) {
        const __m256i u = _mm256_castps_si256(v);
        const __m256i qnan = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x8000)),
                                             _mm256_set1_epi32(0x7e00));
        const __m128i qnan16 = _mm_packus_epi32(_mm256_castsi256_si128(qnan), _mm256_extracti128_si256(qnan, 1));
        const __m256i m = _mm256_castps_si256(nan);
        const __m128i m16 = _mm_packs_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
        h = _mm_blendv_epi8(h, qnan16, m16);
    }
    return h;
}

// f32 -> bf16 bits as the reference f32_to_bf16: round to nearest even by integer add, a NaN
// keeps its top bits and is made quiet (| 64).
inline __m128i cvt8_bf16(__m256 v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
    const __m256i nan =
        _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
    const __m256i r = _mm256_blendv_epi8(rounded, quiet, nan);
    return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

// Tails of fewer than 8 floats go through the vector path on a zero-padded copy.
template <class Cvt8>
inline void convert_row_16bit(const float* x, uint8_t* dst, int64_t n, Cvt8 cvt8) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm_storeu_si128((__m128i*)(dst + 2 * i), cvt8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float tail[8] = {};
        uint16_t out[8];
        std::memcpy(tail, x + i, (size_t)(n - i) * sizeof(float));
        _mm_storeu_si128((__m128i*)out, cvt8(_mm256_loadu_ps(tail)));
        std::memcpy(dst + 2 * i, out, (size_t)(n - i) * 2);
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

// ref: quantize_row_q8_1_ref. s = f16(sum(q) * d) with the f32 d, as the reference.
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

// ref: quantize_row_q8_k_ref. The signed value of largest magnitude (the first one, on ties)
// maps to -127 exactly: iscale = -127 / max, q = min(127, round-half-even(iscale * x)),
// d = 1 / iscale; bsums[k] = sum of quants 16k..16k+15. An all-zero block is all zero bytes.
void from_float_q8_k(const float* x, void* vdst, int64_t n) {
    auto* dst = static_cast<uint8_t*>(vdst);
    constexpr size_t B = sizeof(BlockQ8_K);
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        const float* xb = x + ib * kQK_K;
        uint8_t* b = dst + ib * B;

        __m256 vmax = _mm256_setzero_ps();
        for (int j = 0; j < kQK_K; j += 8) vmax = _mm256_max_ps(vmax, abs_ps(_mm256_loadu_ps(xb + j)));
        const float amax = hmax_ps(vmax);
        if (amax == 0.0f) {
            std::memset(b, 0, B);
            continue;
        }
        float max = amax;
        const __m256 vamax = _mm256_set1_ps(amax);
        for (int j = 0; j < kQK_K; j += 8) {
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(xb + j)), vamax, _CMP_EQ_OQ));
            if (hit != 0) {
                max = xb[j + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i q_max = _mm256_set1_epi32(127);
        int16_t bsums[kQK_K / 16];
        for (int j = 0; j < kQK_K; j += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; ++k) {
                const __m256 r = _mm256_round_ps(_mm256_mul_ps(vs, _mm256_loadu_ps(xb + j + 8 * k)),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q[k] = _mm256_min_epi32(_mm256_cvttps_epi32(r), q_max);
            }
            _mm256_storeu_si256((__m256i*)(b + offsetof(BlockQ8_K, qs) + j), pack_i32x32_to_i8(q[0], q[1], q[2], q[3]));
            // hadd twice, then fold the halves: lane 0 = sum(q0, q1), lane 1 = sum(q2, q3)
            const __m256i h = _mm256_hadd_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            const __m256i hh = _mm256_hadd_epi32(h, h);
            const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(hh), _mm256_extracti128_si256(hh, 1));
            bsums[j / 16] = (int16_t)_mm_cvtsi128_si32(s);
            bsums[j / 16 + 1] = (int16_t)_mm_extract_epi32(s, 1);
        }
        std::memcpy(b + offsetof(BlockQ8_K, bsums), bsums, sizeof(bsums));
        const float d = 1 / iscale;
        std::memcpy(b + offsetof(BlockQ8_K, d), &d, 4);
    }
}

// ref: quantize_row_f16_ref.
void from_float_f16(const float* x, void* dst, int64_t n) {
    convert_row_16bit(x, static_cast<uint8_t*>(dst), n, cvt8_f16);
}

// ref: quantize_row_bf16_ref.
void from_float_bf16(const float* x, void* dst, int64_t n) {
    convert_row_16bit(x, static_cast<uint8_t*>(dst), n, cvt8_bf16);
}

}  // namespace retort::avx2
