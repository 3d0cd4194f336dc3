// AVX-512 attention over a block of KV rows (see kernel_table.h): scores of one query head
// against n f32 rows, the p-weighted sum of n rows into one output head, exp-and-sum for the
// softmax, and F16 -> f32 conversion of a block. Rows are short (head_dim 64-128), so the
// scores run four rows at a time and reduce the four sums together; the output head stays in
// registers across the block.

#include "kernels/avx512/avx512_common.h"

#include <algorithm>
#include <cmath>

#include "kernels/attn_by_heads.h"
#include "kernels/avx512/kernels_avx512.h"

namespace retort::avx512 {

namespace {

inline __mmask16 first_n(int64_t n) { return (__mmask16)((1u << n) - 1); }  // n < 16

// dot(q, row) as 16 lanes still to be summed.
inline __m512 dot_lanes(int64_t hd, const float* row, const float* q) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t d = 0;
    for (; d + 32 <= hd; d += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(row + d), _mm512_loadu_ps(q + d), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(row + d + 16), _mm512_loadu_ps(q + d + 16), a1);
    }
    for (; d < hd; d += 16) {
        const __mmask16 k = hd - d >= 16 ? (__mmask16)0xFFFF : first_n(hd - d);
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, row + d), _mm512_maskz_loadu_ps(k, q + d), a0);
    }
    return _mm512_add_ps(a0, a1);
}

// The four lane sums of a, b, c, e as one 128-bit vector [sum a, sum b, sum c, sum e].
inline __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 e) {
    auto half = [](__m512 x) {
        return _mm256_add_ps(_mm512_castps512_ps256(x), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    };
    const __m256 ab = _mm256_hadd_ps(half(a), half(b));  // a01 a23 b01 b23 | a45 a67 b45 b67
    const __m256 ce = _mm256_hadd_ps(half(c), half(e));
    const __m256 abce = _mm256_hadd_ps(ab, ce);          // a b c e (low 4) | a b c e (high 4)
    return _mm_add_ps(_mm256_castps256_ps128(abce), _mm256_extractf128_ps(abce, 1));
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
        s[i] = scale * _mm512_reduce_add_ps(dot_lanes(hd, rows + i * stride, q));
        mx = std::max(mx, s[i]);
    }
    return mx;
}

void attn_accum(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* p, float* o) {
    // 128 output values (8 registers) per pass over the rows.
    for (int64_t d0 = 0; d0 < hd; d0 += 128) {
        const int64_t w = std::min<int64_t>(128, hd - d0);
        const int nv = (int)((w + 15) / 16);
        __mmask16 k[8];
        __m512 acc[8];
        for (int v = 0; v < 8; ++v) {
            const int64_t left = w - 16 * v;
            k[v] = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? first_n(left) : (__mmask16)0;
            acc[v] = _mm512_maskz_loadu_ps(k[v], o + d0 + 16 * v);
        }
        if (nv == 8 && w == 128) {
            for (int64_t i = 0; i < n; ++i) {
                const __m512 pi = _mm512_set1_ps(p[i]);
                const float* r = rows + i * stride + d0;
#pragma GCC unroll 8
                for (int v = 0; v < 8; ++v) acc[v] = _mm512_fmadd_ps(pi, _mm512_loadu_ps(r + 16 * v), acc[v]);
            }
        } else {
            for (int64_t i = 0; i < n; ++i) {
                const __m512 pi = _mm512_set1_ps(p[i]);
                const float* r = rows + i * stride + d0;
                for (int v = 0; v < nv; ++v)
                    acc[v] = _mm512_fmadd_ps(pi, _mm512_maskz_loadu_ps(k[v], r + 16 * v), acc[v]);
            }
        }
        for (int v = 0; v < nv; ++v) _mm512_mask_storeu_ps(o + d0 + 16 * v, k[v], acc[v]);
    }
}

// exp(x) for x <= 0: x = k ln2 + r, |r| <= ln2 / 2, exp(r) by a degree-6 polynomial (relative
// error ~2e-7 on that range), times 2^k by scalef. Below -87.3 the result flushes to 0 (the
// reference gives a denormal there, which is 0 for the softmax's purposes).
inline __m512 exp_nonpositive(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3f);
    x = _mm512_max_ps(x, lo);
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 y = _mm512_set1_ps(1.0f / 720);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 120));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 24));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 6));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(0.5f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, k);
}

float exp_sum(int64_t n, float* x, float max) {
    const __m512 m = _mm512_set1_ps(max);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : first_n(n - i);
        const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m));
        _mm512_mask_storeu_ps(x + i, k, e);
        sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

void f16_to_f32(int64_t n, const uint16_t* x, float* y) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : first_n(n - i);
        _mm512_mask_storeu_ps(y + i, k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, x + i)));
    }
}

// silu(g) * u with t = exp(-|g|) <= 1: silu(g) = g / (1 + t) for g >= 0 and g t / (1 + t) below,
// so the exp never overflows.
void silu_mul(int64_t n, float* g, const float* u) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : first_n(n - i);
        const __m512 x = _mm512_maskz_loadu_ps(k, g + i);
        const __m512 t = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(x)));
        const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
        const __m512 num = _mm512_mask_blend_ps(neg, one, t);
        const __m512 s = _mm512_div_ps(num, _mm512_add_ps(one, t));
        _mm512_mask_storeu_ps(g + i, k, _mm512_mul_ps(_mm512_mul_ps(x, s), _mm512_maskz_loadu_ps(k, u + i)));
    }
}

// F16 group attention (kernel_table.h). Each K or V row is read once for the g heads of its GQA
// group, straight from the cache: the previous form converted a block to f32 row by row through
// the table, then ran one head at a time over it, which perf put at 20% (the conversion calls,
// stalled on the rows from DRAM) + 15% (scores, a horizontal sum per head and row) + 8% of a
// 2-thread decode at depth 16384.
namespace {

// Lane i of the result = the sum of v[i]'s 16 lanes. Four rounds of pairing (128-bit lanes
// across registers, then floats within lanes) leave row 4k + L at float 4L + k; one permute
// puts it back. 30 shuffles and 15 adds for 16 sums, against 4-5 operations per sum alone.
inline __m512 sum16(const __m512 (&v)[16]) {
    __m512 a[8], b[4], c[2];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k)  // a[k]: row 2k in lanes 0-1, row 2k + 1 in lanes 2-3
        a[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE));
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)  // b[k]: row 4k + L in lane L
        b[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0xDD));
#pragma GCC unroll 2
    for (int k = 0; k < 2; ++k)  // c[k]: rows 8k + L and 8k + 4 + L in lane L, 2 floats each
        c[k] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * k], b[2 * k + 1], 0x44),
                             _mm512_shuffle_ps(b[2 * k], b[2 * k + 1], 0xEE));
    const __m512 d = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], 0x88), _mm512_shuffle_ps(c[0], c[1], 0xDD));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), d);
}

// 16 F16 values from memory as f32.
inline __m512 load_f16x16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }

constexpr int64_t kTileRows = 16;
constexpr int64_t kMaxFusedHd = 256;

// Scores of the g heads against one tile of kTileRows f32 rows (hd = 16 c_n; rows past m are
// zeros): per head, 16 dot products as 16 registers of lanes, then sum16.
void scores_tile(const float* tile, int64_t c_n, int64_t m, int64_t g, const float* q, __m512 scale, float* s,
                 int64_t ls, float* mx) {
    const int64_t hd = 16 * c_n;
    const __mmask16 keep = m >= 16 ? (__mmask16)0xFFFF : first_n(m);
    for (int64_t j = 0; j < g; ++j) {
        const float* qj = q + j * hd;
        __m512 acc[16];
#pragma GCC unroll 16
        for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_ps();
        for (int64_t c = 0; c < c_n; ++c) {
            const __m512 qc = _mm512_loadu_ps(qj + 16 * c);
#pragma GCC unroll 16
            for (int r = 0; r < 16; ++r) acc[r] = _mm512_fmadd_ps(_mm512_load_ps(tile + r * hd + 16 * c), qc, acc[r]);
        }
        const __m512 sc = _mm512_mul_ps(sum16(acc), scale);
        _mm512_mask_storeu_ps(s + j * ls, keep, sc);
        mx[j] = std::max(mx[j], _mm512_mask_reduce_max_ps(keep, sc));
    }
}

// o[j * hd + c0 ..] += sum_i p[j * lp + i] * row_i[c0 ..] for GH heads and NC registers of
// columns: GH x NC accumulators stay in registers over all the rows. Row i of the next block is
// asked for (prefetch_next_row) while row i is processed, when `prefetch`.
template <int GH, int NC>
void accum_tile(const F16Rows& v, int64_t hd, int64_t c0, const float* p, int64_t lp, float* o, bool prefetch) {
    __m512 acc[GH][NC];
#pragma GCC unroll 4
    for (int j = 0; j < GH; ++j)
#pragma GCC unroll 4
        for (int c = 0; c < NC; ++c) acc[j][c] = _mm512_loadu_ps(o + j * hd + c0 + 16 * c);
    for (int64_t i = 0; i < v.n; ++i) {
        if (prefetch) prefetch_next_row(v, i, hd);
        const uint16_t* src = v.rows + i * v.stride + c0;
        __m512 x[NC];
#pragma GCC unroll 4
        for (int c = 0; c < NC; ++c) x[c] = load_f16x16(src + 16 * c);
#pragma GCC unroll 4
        for (int j = 0; j < GH; ++j) {
            const __m512 pj = _mm512_set1_ps(p[j * lp + i]);
#pragma GCC unroll 4
            for (int c = 0; c < NC; ++c) acc[j][c] = _mm512_fmadd_ps(pj, x[c], acc[j][c]);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < GH; ++j)
#pragma GCC unroll 4
        for (int c = 0; c < NC; ++c) _mm512_storeu_ps(o + j * hd + c0 + 16 * c, acc[j][c]);
}

using AccumTileFn = void (*)(const F16Rows&, int64_t, int64_t, const float*, int64_t, float*, bool);
template <int GH>
constexpr AccumTileFn kAccumTiles[4] = {accum_tile<GH, 1>, accum_tile<GH, 2>, accum_tile<GH, 3>, accum_tile<GH, 4>};
constexpr const AccumTileFn* kAccumTilesByHeads[4] = {kAccumTiles<1>, kAccumTiles<2>, kAccumTiles<3>, kAccumTiles<4>};

}  // namespace

void attn_scores_f16(const F16Rows& k, int64_t hd, int64_t g, const float* q, float scale, float* s, int64_t ls,
                     float* mx) {
    if (hd % 16 != 0 || hd > kMaxFusedHd)
        return attn_scores_f16_by_heads<f16_to_f32, attn_scores>(k, hd, g, q, scale, s, ls, mx);
    const int64_t c_n = hd / 16;
    alignas(64) float tile[kTileRows * kMaxFusedHd];
    const __m512 sc = _mm512_set1_ps(scale);
    for (int64_t i0 = 0; i0 < k.n; i0 += kTileRows) {
        const int64_t m = std::min(kTileRows, k.n - i0);
        for (int64_t r = 0; r < kTileRows; ++r) {
            float* dst = tile + r * hd;
            if (r >= m) {
                for (int64_t c = 0; c < c_n; ++c) _mm512_store_ps(dst + 16 * c, _mm512_setzero_ps());
                continue;
            }
            prefetch_next_row(k, i0 + r, hd);  // a few requests per row, not a burst per block
            const uint16_t* src = k.rows + (i0 + r) * k.stride;
            for (int64_t c = 0; c < c_n; ++c) _mm512_store_ps(dst + 16 * c, load_f16x16(src + 16 * c));
        }
        scores_tile(tile, c_n, m, g, q, sc, s + i0, ls, mx);
    }
}

void attn_accum_f16(const F16Rows& v, int64_t hd, int64_t g, const float* p, int64_t lp, float* o) {
    if (hd % 16 != 0) return attn_accum_f16_by_heads<f16_to_f32, attn_accum>(v, hd, g, p, lp, o);
    // Heads in nearly equal groups of at most 4 (6 -> 3 + 3), columns 64 at a time: at most 16
    // accumulators. The first pass over the rows reads them from memory and prefetches the next
    // block; the others find them in L1.
    const int64_t n_groups = (g + 3) / 4, per_group = (g + n_groups - 1) / n_groups;
    bool first = true;
    for (int64_t j0 = 0; j0 < g; j0 += per_group) {
        const int64_t gh = std::min(per_group, g - j0);
        for (int64_t c0 = 0; c0 < hd; c0 += 64) {
            const int64_t nc = std::min<int64_t>(4, (hd - c0) / 16);
            kAccumTilesByHeads[gh - 1][nc - 1](v, hd, c0, p + j0 * lp, lp, o + j0 * hd, first);
            first = false;
        }
    }
}

}  // namespace retort::avx512
