// AVX2 attention over a block of KV rows (see kernel_table.h and avx512/attn.cpp, which this
// mirrors with 8 lanes): scores four rows at a time, output head in registers, exp-and-sum,
// F16 -> f32 conversion.

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/attn_by_heads.h"
#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/kernels_avx2.h"

namespace retort::avx2 {

using namespace simd;

namespace {

// The first n (< 8) lanes set: a mask for maskload / maskstore.
inline __m256i first_n(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline __m256 dot_lanes(int64_t hd, const float* row, const float* q) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= hd; d += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + d), _mm256_loadu_ps(q + d), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + d + 8), _mm256_loadu_ps(q + d + 8), a1);
    }
    for (; d < hd; d += 8) {
        const __m256i k = first_n(std::min<int64_t>(8, hd - d));
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(row + d, k), _mm256_maskload_ps(q + d, k), a0);
    }
    return _mm256_add_ps(a0, a1);
}

inline __m128 sum4(__m256 a, __m256 b, __m256 c, __m256 e) {
    const __m256 ab = _mm256_hadd_ps(a, b);
    const __m256 ce = _mm256_hadd_ps(c, e);
    const __m256 abce = _mm256_hadd_ps(ab, ce);
    return _mm_add_ps(_mm256_castps256_ps128(abce), _mm256_extractf128_ps(abce, 1));
}

// exp(x) for x <= 0, as avx512/attn.cpp; 2^k built in the exponent bits.
inline __m256 exp_nonpositive(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
    const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 y = _mm256_set1_ps(1.0f / 720);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 120));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 24));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 6));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(0.5f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
    const __m256i two_k = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(two_k));
}

}  // namespace

float attn_scores(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* q, float scale, float* s) {
    __m128 mx4 = _mm_set1_ps(-INFINITY);
    const __m128 sc = _mm_set1_ps(scale);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float* r = rows + i * stride;
        const __m128 v = _mm_mul_ps(sc, sum4(dot_lanes(hd, r, q), dot_lanes(hd, r + stride, q),
                                              dot_lanes(hd, r + 2 * stride, q), dot_lanes(hd, r + 3 * stride, q)));
        _mm_storeu_ps(s + i, v);
        mx4 = _mm_max_ps(mx4, v);
    }
    alignas(16) float m[4];
    _mm_store_ps(m, mx4);
    float mx = std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
    for (; i < n; ++i) {
        s[i] = scale * hsum_ps(dot_lanes(hd, rows + i * stride, q));
        mx = std::max(mx, s[i]);
    }
    return mx;
}

void attn_accum(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* p, float* o) {
    // 64 output values (8 registers) per pass over the rows.
    for (int64_t d0 = 0; d0 < hd; d0 += 64) {
        const int64_t w = std::min<int64_t>(64, hd - d0);
        const int nv = (int)((w + 7) / 8);
        __m256i k[8];
        __m256 acc[8];
        for (int v = 0; v < nv; ++v) {
            k[v] = first_n(std::min<int64_t>(8, w - 8 * v));
            acc[v] = _mm256_maskload_ps(o + d0 + 8 * v, k[v]);
        }
        for (int64_t i = 0; i < n; ++i) {
            const __m256 pi = _mm256_set1_ps(p[i]);
            const float* r = rows + i * stride + d0;
            for (int v = 0; v < nv; ++v) acc[v] = _mm256_fmadd_ps(pi, _mm256_maskload_ps(r + 8 * v, k[v]), acc[v]);
        }
        for (int v = 0; v < nv; ++v) _mm256_maskstore_ps(o + d0 + 8 * v, k[v], acc[v]);
    }
}

float exp_sum(int64_t n, float* x, float max) {
    const __m256 m = _mm256_set1_ps(max);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i k = first_n(std::min<int64_t>(8, n - i));
        const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), m));
        _mm256_maskstore_ps(x + i, k, e);
        sum = _mm256_add_ps(sum, _mm256_and_ps(e, _mm256_castsi256_ps(k)));
    }
    return hsum_ps(sum);
}

void f16_to_f32(int64_t n, const uint16_t* x, float* y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(x + i))));
    if (i < n) {
        uint16_t tmp[8] = {};
        std::memcpy(tmp, x + i, (size_t)(n - i) * 2);
        float out[8];
        _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)tmp)));
        std::memcpy(y + i, out, (size_t)(n - i) * 4);
    }
}

// silu(g) * u as avx512/attn.cpp: t = exp(-|g|), g / (1 + t) or g t / (1 + t).
void silu_mul(int64_t n, float* g, const float* u) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i k = first_n(std::min<int64_t>(8, n - i));
        const __m256 x = _mm256_maskload_ps(g + i, k);
        const __m256 t = exp_nonpositive(_mm256_or_ps(x, sign));  // -|x|
        const __m256 num = _mm256_blendv_ps(one, t, _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
        const __m256 s = _mm256_div_ps(num, _mm256_add_ps(one, t));
        _mm256_maskstore_ps(g + i, k, _mm256_mul_ps(_mm256_mul_ps(x, s), _mm256_maskload_ps(u + i, k)));
    }
}

// F16 group attention: a tile of rows converted, then one head at a time (attn_by_heads.h).
void attn_scores_f16(const F16Rows& k, int64_t hd, int64_t g, const float* q, float scale, float* s, int64_t ls,
                     float* mx) {
    attn_scores_f16_by_heads<f16_to_f32, attn_scores>(k, hd, g, q, scale, s, ls, mx);
}

void attn_accum_f16(const F16Rows& v, int64_t hd, int64_t g, const float* p, int64_t lp, float* o) {
    attn_accum_f16_by_heads<f16_to_f32, attn_accum>(v, hd, g, p, lp, o);
}

}  // namespace retort::avx2
