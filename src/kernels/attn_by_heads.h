// The F16 group-attention entries of the KernelTable (attn_scores_f16, attn_accum_f16) composed
// from a table's one-head f32 kernels: the block is converted to f32 a tile of rows at a time,
// then every head of the group runs over the tile. The ref table's entries (the oracle) and the
// AVX2 table's are this; AVX-512 has fused kernels that convert each row in registers.
#pragma once

#include "kernels/kernel_table.h"

#include <algorithm>
#include <cassert>

namespace retort {

// Floats of f32 rows converted at a time (16 rows of head_dim 128 in 8 KB, on the stack).
constexpr int64_t kByHeadsTileFloats = 2048;

// Asks for the bytes of row i of r.next (nothing when there is no next block or no row i). The
// fused AVX-512 kernels call it once per row they process, spreading the requests out.
inline void prefetch_next_row(const F16Rows& r, int64_t i, int64_t hd) {
    if (r.next == nullptr || i >= r.n_next) return;
    const char* row = reinterpret_cast<const char*>(r.next + i * r.stride);
    for (int64_t b = 0; b < hd * 2; b += 64) __builtin_prefetch(row + b);
}

// Asks for all of the next rows' bytes at once.
inline void prefetch_f16_rows(const F16Rows& r, int64_t hd) {
    for (int64_t i = 0; i < r.n_next; ++i) prefetch_next_row(r, i, hd);
}

// f(tile, i0, m) for each run of up to kByHeadsTileFloats / hd rows from row i0, converted to f32
// into `tile` (m rows of hd values).
template <F16ToF32Fn kToF32, class F>
void for_each_f32_tile(const F16Rows& r, int64_t hd, F&& f) {
    assert(hd <= kByHeadsTileFloats);
    prefetch_f16_rows(r, hd);
    float tile[kByHeadsTileFloats];
    const int64_t tile_rows = kByHeadsTileFloats / hd;
    for (int64_t i0 = 0; i0 < r.n; i0 += tile_rows) {
        const int64_t m = std::min(tile_rows, r.n - i0);
        for (int64_t i = 0; i < m; ++i) kToF32(hd, r.rows + (i0 + i) * r.stride, tile + i * hd);
        f(tile, i0, m);
    }
}

template <F16ToF32Fn kToF32, AttnScoresFn kScores>
void attn_scores_f16_by_heads(const F16Rows& k, int64_t hd, int64_t g, const float* q, float scale, float* s,
                              int64_t ls, float* mx) {
    for_each_f32_tile<kToF32>(k, hd, [&](const float* tile, int64_t i0, int64_t m) {
        for (int64_t j = 0; j < g; ++j)
            mx[j] = std::max(mx[j], kScores(m, hd, tile, hd, q + j * hd, scale, s + j * ls + i0));
    });
}

template <F16ToF32Fn kToF32, AttnAccumFn kAccum>
void attn_accum_f16_by_heads(const F16Rows& v, int64_t hd, int64_t g, const float* p, int64_t lp, float* o) {
    for_each_f32_tile<kToF32>(v, hd, [&](const float* tile, int64_t i0, int64_t m) {
        for (int64_t j = 0; j < g; ++j) kAccum(m, hd, tile, hd, p + j * lp + i0, o + j * hd);
    });
}

}  // namespace retort
