#include "kernels/matmul.h"

#include "kernels/packed.h"
#include "tensor/blocks.h"
#include "util/fp16.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <cstring>
#include <span>

namespace retort {

namespace {
// Rows of W handled together for a batch of tokens: 16 rows of a 1536-wide Q4_K matrix are
// ~14 KB, so the tile stays in L1/L2 while every token's activations stream past it.
constexpr int64_t kRowTile = 16;

// Packed path: activations of this many bytes are taken per pass over a thread's row groups, so
// they stay in L2 while each 16-row group is reused for all of them from L1.
constexpr size_t kPackedActTileBytes = 256 << 10;

// Decoding claims half of what is left of a share at a time, at least kClaimGroups 16-row
// groups (see decode_packed).
constexpr int64_t kClaimGroups = 4;

constexpr int kMaxStealThreads = 64;
struct alignas(64) ShareCursor {
    std::atomic<int64_t> next{0};  // groups of the share claimed so far
};

// f(t) for every t < n_tok, rows split over the pool (one row: not worth waking it).
template <class F>
void for_each_row(ThreadPool& pool, int64_t n_tok, const F& f) {
    if (n_tok == 1) return f(0);
    pool.run([&](int ith, int nth) {
        int64_t t0, t1;
        split_range(n_tok, ith, nth, &t0, &t1);
        for (int64_t t = t0; t < t1; ++t) f(t);
    });
}

// ActBuffer::sums of one Q8_0 row: the sum of each block's 32 quants.
void block_sums_q8_0(const BlockQ8_0* blocks, int64_t n_blocks, int32_t* out) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        int32_t s = 0;
        for (int j = 0; j < kQK8_0; ++j) s += blocks[b].qs[j];
        out[b] = s;
    }
}

// ActBuffer::sums of one Q8_K row: per super-block, kQ8KSumPairs dwords of (sub-block 2j,
// sub-block 2j + 1) sums as int16. A sub-block of 32 is two of the 16-input bsums; |sum| <= 32 * 128
// fits int16.
void pair_sums_q8_k(const BlockQ8_K* blocks, int64_t n_blocks, int32_t* out) {
    for (int64_t b = 0; b < n_blocks; ++b)
        for (int j = 0; j < kQ8KSumPairs; ++j) {
            const int16_t* bs = blocks[b].bsums + 4 * j;
            const int32_t lo = bs[0] + bs[1], hi = bs[2] + bs[3];
            out[b * kQ8KSumPairs + j] = (int32_t)((uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16));
        }
}

static_assert(kQ8_0TileRows == kMaxPackedTokens, "a tile holds the rows of one packed kernel call");

// Tile i of a.tiles from rows kQ8_0TileRows * i.. of a (Q8_0, its block sums filled); rows past
// the last are zero.
void build_q8_0_tile(const ActBuffer& a, int64_t i) {
    const int64_t n_blocks = a.n_in / kQK8_0, t0 = i * kQ8_0TileRows;
    Q8_0TileBlock* out = a.tiles.data() + i * n_blocks;
    std::fill(out, out + n_blocks, Q8_0TileBlock{});
    for (int m = 0; m < kQ8_0TileRows && t0 + m < a.n_tok; ++m) {
        const BlockQ8_0* blocks = reinterpret_cast<const BlockQ8_0*>(a.row(t0 + m));
        const int32_t* sums = a.sums.data() + (t0 + m) * n_blocks;
        for (int64_t b = 0; b < n_blocks; ++b) {
            std::memcpy(out[b].qs[m], blocks[b].qs, kQK8_0);
            out[b].d[m] = fp16_to_f32(blocks[b].d);
            out[b].neg_sum[m] = -sums[b];
        }
    }
}

// Token rows per pass over a thread's row groups: the activations of that many rows stay in L2.
int64_t packed_token_tile(const ActBuffer& a) {
    return std::max<int64_t>(kMaxPackedTokens,
                             (int64_t)(kPackedActTileBytes / a.row_bytes) / kMaxPackedTokens * kMaxPackedTokens);
}

// Whether a packed product is decoding-sized: all its tokens in one tile, so a thread's share of
// the row groups is read once, and the pool is small enough for the share cursors.
bool decodes_packed(const ThreadPool& pool, const MatmulPart& p) {
    return p.w->packed != nullptr && p.a->n_tok <= packed_token_tile(*p.a) && pool.size() <= kMaxStealThreads;
}

// One product of a packed dispatch, its groups numbered [g_begin, g_end) among all the dispatch's groups.
// tile_gemm, where set, takes the calls of 2+ token rows (from a.tiles).
struct PackedPart {
    GemmPackedFn gemm;
    GemmPackedTileFn tile_gemm;
    const MatmulPart* p;
    PackedLayout layout;
    int64_t sums_row;
    int64_t g_begin, g_end;
};

// Groups [g0, g1) of `part` (local numbers) for tokens [t0, t1), one column slice after another
// (kernels/packed.h); the prefetches of slice k stop at its group g_stream_end. Slice 0 writes y,
// the others add their products to it: in the same order whatever the token count, so a token's
// result does not depend on the batch.
void run_groups(const PackedPart& part, int64_t g0, int64_t g1, int64_t t0, int64_t t1, int64_t g_stream_end) {
    const MatmulPart& p = *part.p;
    const PackedLayout& l = part.layout;
    const TypeTraits& at = traits(p.a->type);
    alignas(64) float partial[kMaxPackedTokens * kPackRows];
    for (int k = 0; k < l.n_slices; ++k) {
        const uint8_t* slice = p.w->packed + l.slice_offset(k);
        const size_t group_bytes = l.group_bytes(k);
        const int64_t c0 = l.slice_begin(k), width = l.slice_width(k);
        const size_t act_offset = row_bytes(at, c0);  // the slice's first activation block
        const int64_t sums_offset = part.sums_row * c0 / p.w->cols;  // slices start on a sums boundary
        assert(part.sums_row * c0 % p.w->cols == 0);
        const uint8_t* stream_end = slice + (size_t)g_stream_end * group_bytes;
        for (int64_t g = g0; g < g1; ++g) {
            const uint8_t* group = slice + (size_t)g * group_bytes;
            for (int64_t t = t0; t < t1; t += kMaxPackedTokens) {
                const int nm = (int)std::min<int64_t>(kMaxPackedTokens, t1 - t);
                // Only the first pass over the group streams it; the later ones read it from L1.
                const uint8_t* ahead = t == t0 ? stream_end : nullptr;
                float* y = p.y + t * p.ldy + g * kPackRows;
                float* out = k == 0 ? y : partial;
                const int64_t ldo = k == 0 ? p.ldy : kPackRows;
                if (nm > 1 && part.tile_gemm != nullptr)
                    part.tile_gemm(width, nm, group, p.a->tile(t) + c0 / kQK8_0, out, ldo, ahead);
                else
                    part.gemm(width, nm, group, p.a->row(t) + act_offset, p.a->row_bytes,
                              p.a->sums.data() + t * part.sums_row + sums_offset, part.sums_row, out, ldo, ahead);
                if (k == 0) continue;
                for (int m = 0; m < nm; ++m)
                    for (int64_t r = 0; r < kPackRows; ++r) y[m * p.ldy + r] += partial[m * kPackRows + r];
            }
        }
    }
}

PackedPart packed_part(const KernelTable& kt, ThreadPool& pool, const MatmulPart& p, int64_t g_begin) {
    const GemmPackedFn gemm = kt.gemm_packed[(int)p.w->type()];
    assert(gemm != nullptr);
    ensure_block_sums(pool, *p.a);
    // Weights with a tile kernel take Q8_0 activations (matmul_fused asserts the type).
    GemmPackedTileFn tile_gemm = p.a->n_tok > 1 ? kt.gemm_packed_tile[(int)p.w->type()] : nullptr;
    if (tile_gemm != nullptr) ensure_q8_0_tiles(pool, *p.a);
    return {gemm, tile_gemm, &p, packed_layout(p.w->type(), p.w->rows, p.w->cols), p.a->sums_row(), g_begin,
            g_begin + p.w->rows / kPackRows};
}

// Decoding: the row groups of all parts, numbered one after another, are split into one
// contiguous share per thread (one prefetch stream). A thread claims half of what is left of its
// share at a time (at least kClaimGroups), and once done goes on claiming from the others'
// shares, so a core slowed down (interrupts, the caller's serial work) does not hold the whole
// dispatch up. Halving keeps the claims few (about log2 of the share: a claim is a locked
// instruction, which waits for the loads in flight; fixed claims of 4 groups put it at 1.7% of
// the samples of a 2-thread decode) while the last ones stay small.
// One wake and one wait for all parts: the small products (k and v of a GQA model are 1/6 of q)
// would otherwise each end in a wait on the slower thread.
void decode_packed(ThreadPool& pool, const PackedPart* parts, int n_parts) {
    const int64_t n_groups = parts[n_parts - 1].g_end;
    std::array<ShareCursor, kMaxStealThreads> cursors;
    pool.run([&](int ith, int nth) {
        for (int k = 0; k < nth; ++k) {
            const int s = (ith + k) % nth;
            int64_t s0, s1;
            split_range(n_groups, s, nth, &s0, &s1);
            int i = 0;  // the part holding group b; claims only move forward
            for (;;) {
                const int64_t left = s1 - s0 - cursors[s].next.load(std::memory_order_relaxed);
                const int64_t claim = std::max(kClaimGroups, left / 2);
                const int64_t b = s0 + cursors[s].next.fetch_add(claim, std::memory_order_relaxed);
                if (b >= s1) break;
                for (int64_t g = b, e = std::min(b + claim, s1); g < e;) {
                    while (g >= parts[i].g_end) ++i;
                    const PackedPart& part = parts[i];
                    const int64_t g_stop = std::min(e, part.g_end);
                    // Where this thread stops reading the part: the share's end or the part's.
                    const int64_t share_end = std::min(s1, part.g_end) - part.g_begin;
                    run_groups(part, g - part.g_begin, g_stop - part.g_begin, 0, part.p->a->n_tok, share_end);
                    g = g_stop;
                }
            }
        }
    });
}

// Prompts: each thread takes a contiguous range of row groups and runs every token tile over it,
// so a group is read from memory once per tile of tokens.
void prefill_packed(ThreadPool& pool, const PackedPart& part) {
    const int64_t n_tok = part.p->a->n_tok, tile = packed_token_tile(*part.p->a);
    pool.run([&](int ith, int nth) {
        int64_t g0, g1;
        split_range(part.g_end, ith, nth, &g0, &g1);
        for (int64_t t0 = 0; t0 < n_tok; t0 += tile) run_groups(part, g0, g1, t0, std::min(t0 + tile, n_tok), g1);
    });
}

// File-layout weights: a vec_dot per (row, token), rows split evenly over the threads.
void matmul_rows(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const ActBuffer& a, float* y, int64_t ldy) {
    const VecDotFn dot = kt.vec_dot[(int)w.type()];
    assert(dot != nullptr);
    const int64_t n = w.cols, n_tok = a.n_tok;
    pool.run([&](int ith, int nth) {
        // Contiguous row ranges per thread: no two threads write the same cache line of y
        // except at range borders.
        int64_t r0, r1;
        split_range(w.rows, ith, nth, &r0, &r1);
        if (n_tok == 1) {
            const uint8_t* act = a.row(0);
            for (int64_t r = r0; r < r1; ++r) dot(n, y + r, w.row(r), act);
            return;
        }
        const VecDotRowsFn dot_rows = kt.vec_dot_rows[(int)w.type()];
        for (int64_t rt = r0; rt < r1; rt += kRowTile) {
            const int64_t rt1 = std::min(rt + kRowTile, r1);
            if (dot_rows != nullptr) {
                // Up to kMaxDotRows tokens per call: each weight row is unpacked once for them.
                for (int64_t t = 0; t < n_tok; t += kMaxDotRows) {
                    const int nr = (int)std::min<int64_t>(kMaxDotRows, n_tok - t);
                    for (int64_t r = rt; r < rt1; ++r)
                        dot_rows(n, nr, y + t * ldy + r, ldy, w.row(r), a.row(t), a.row_bytes);
                }
                continue;
            }
            for (int64_t t = 0; t < n_tok; ++t) {
                const uint8_t* act = a.row(t);
                float* yt = y + t * ldy;
                for (int64_t r = rt; r < rt1; ++r) dot(n, yt + r, w.row(r), act);
            }
        }
    });
}

}  // namespace

void convert_acts(const KernelTable& kt, ThreadPool& pool, const float* x, int64_t n_tok, int64_t n_in, DType type,
                  ActBuffer& out) {
    const TypeTraits& tr = traits(type);
    out.type = type;
    out.n_tok = n_tok;
    out.n_in = n_in;
    out.row_bytes = row_bytes(tr, n_in);
    const size_t need = out.row_bytes * (size_t)n_tok;
    if (out.bytes.size() < need) out.bytes.resize(need);
    out.sums_ready = false;
    out.tiles_ready = false;
    const FromFloatFn from_float = kt.from_float[(int)type];
    assert(from_float != nullptr);
    for_each_row(pool, n_tok,
                 [&](int64_t t) { from_float(x + t * n_in, out.bytes.data() + (size_t)t * out.row_bytes, n_in); });
}

void ensure_block_sums(ThreadPool& pool, const ActBuffer& a) {
    const int64_t per_row = a.sums_row();
    if (per_row == 0 || a.sums_ready) return;
    if (a.sums.size() < (size_t)(a.n_tok * per_row)) a.sums.resize((size_t)(a.n_tok * per_row));
    for_each_row(pool, a.n_tok, [&](int64_t t) {
        int32_t* out = a.sums.data() + t * per_row;
        if (a.type == DType::Q8_0)
            block_sums_q8_0(reinterpret_cast<const BlockQ8_0*>(a.row(t)), a.n_in / kQK8_0, out);
        else
            pair_sums_q8_k(reinterpret_cast<const BlockQ8_K*>(a.row(t)), a.n_in / kQK_K, out);
    });
    a.sums_ready = true;
}

void ensure_q8_0_tiles(ThreadPool& pool, const ActBuffer& a) {
    if (a.type != DType::Q8_0 || a.tiles_ready) return;
    ensure_block_sums(pool, a);  // the tiles carry the rows' block sums
    const int64_t n_tiles = (a.n_tok + kQ8_0TileRows - 1) / kQ8_0TileRows;
    const size_t need = (size_t)(n_tiles * (a.n_in / kQK8_0));
    if (a.tiles.size() < need) a.tiles.resize(need);
    for_each_row(pool, n_tiles, [&](int64_t i) { build_q8_0_tile(a, i); });
    a.tiles_ready = true;
}

void matmul(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const ActBuffer& a, float* y, int64_t ldy) {
    const MatmulPart part{&w, &a, y, ldy};
    matmul_fused(kt, pool, {&part, 1});
}

void matmul_fused(const KernelTable& kt, ThreadPool& pool, std::span<const MatmulPart> parts) {
    constexpr int kMaxParts = 4;
    for ([[maybe_unused]] const MatmulPart& p : parts)
        assert(p.a->type == p.w->traits->vec_dot_type && p.a->n_in == p.w->cols);
    const auto decoding = [&](const MatmulPart& p) { return decodes_packed(pool, p); };
    if (!parts.empty() && parts.size() <= (size_t)kMaxParts && std::all_of(parts.begin(), parts.end(), decoding)) {
        std::array<PackedPart, kMaxParts> packed;
        int64_t g = 0;
        for (size_t i = 0; i < parts.size(); ++i) {
            packed[i] = packed_part(kt, pool, parts[i], g);
            g = packed[i].g_end;
        }
        return decode_packed(pool, packed.data(), (int)parts.size());
    }
    for (const MatmulPart& p : parts) {
        if (p.w->packed == nullptr) {
            matmul_rows(kt, pool, *p.w, *p.a, p.y, p.ldy);
            continue;
        }
        const PackedPart part = packed_part(kt, pool, p, 0);
        if (decodes_packed(pool, p)) decode_packed(pool, &part, 1);
        else prefill_packed(pool, part);
    }
}

void matmul_f32(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const float* x, int64_t n_tok, float* y,
                int64_t ldy, ActBuffer& scratch) {
    convert_acts(kt, pool, x, n_tok, w.cols, w.traits->vec_dot_type, scratch);
    matmul(kt, pool, w, scratch, y, ldy);
}

}  // namespace retort
