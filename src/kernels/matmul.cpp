#include "kernels/matmul.h"

#include "kernels/packed.h"
#include "tensor/blocks.h"
#include "util/fp16.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <cstring>
#include <span>
#include <vector>

namespace retort {

namespace {
// Rows of W handled together for a batch of tokens: 16 rows of a 1536-wide Q4_K matrix are
// ~14 KB, so the tile stays in L1/L2 while every token's activations stream past it.
constexpr int64_t kRowTile = 16;

// Packed path: activations of this many bytes are taken per pass over a thread's row groups, so
// they stay in L2 while each 16-row group is reused for all of them from L1.
constexpr size_t kPackedActTileBytes = 256 << 10;

// Decoding claims half of what is left of a share at a time, at least kClaimUnits units (16-row
// groups of one column slice; see decode_packed).
constexpr int64_t kClaimUnits = 4;

// Bytes of its share of the next product a worker reads ahead after a decoding dispatch: about
// the caller's serial work between two products at one core's read rate, and half of L2.
constexpr size_t kWarmBytes = 512 << 10;

constexpr int kMaxStealThreads = 64;
// Products one dispatch of matmul_fused takes together.
constexpr int kMaxParts = 4;

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

// One product of a packed dispatch. Decoding numbers its work in units, one per (column slice,
// row group) in the order the packed matrix lies in memory (slice-major). tile_gemm, where set,
// takes the calls of 2+ token rows (from a.tiles).
struct PackedPart {
    GemmPackedFn gemm;
    GemmPackedTileFn tile_gemm;
    const MatmulPart* p;
    PackedLayout layout;
    int64_t sums_row;
};

// Column slice k of a part (kernels/packed.h): where it lies and which inputs it takes.
struct SliceView {
    const uint8_t* base;   // group 0
    size_t group_bytes;
    int64_t c0, width;     // inputs [c0, c0 + width)
    size_t act_offset;     // the slice's first activation byte in a row
    int64_t sums_offset;   // and its first block sum
};

SliceView slice_view(const PackedPart& part, int k) {
    const PackedLayout& l = part.layout;
    const int64_t c0 = l.slice_begin(k);
    // Slices start on a block-sums boundary.
    assert(part.sums_row * c0 % part.p->w->cols == 0);
    return {part.p->w->packed + l.slice_offset(k), l.group_bytes(k), c0, l.slice_width(k),
            row_bytes(traits(part.p->a->type), c0), part.sums_row * c0 / part.p->w->cols};
}

// One kernel call: the group at `group` of slice s times token rows [t, t + nm) (nm <=
// kMaxPackedTokens); row t + m's 16 products go to out + m * ldo. `ahead` is the end of the
// stream the kernel may prefetch in, or null (the group is already in L1).
void group_call(const PackedPart& part, const SliceView& s, const uint8_t* group, int64_t t, int nm,
                const uint8_t* ahead, float* out, int64_t ldo) {
    const ActBuffer& a = *part.p->a;
    if (nm > 1 && part.tile_gemm != nullptr)
        part.tile_gemm(s.width, nm, group, a.tile(t) + s.c0 / kQK8_0, out, ldo, ahead);
    else
        part.gemm(s.width, nm, group, a.row(t) + s.act_offset, a.row_bytes, a.sums.data() + t * part.sums_row + s.sums_offset,
                  part.sums_row, out, ldo, ahead);
}

// Prompts: groups [g0, g1) of `part` for tokens [t0, t1), one column slice after another, so a
// slice's activations stay in L1 while its groups stream past; the prefetches of slice k stop at
// its group g_stream_end. Slice 0 writes y, the others add their products to it in slice order,
// as decode_packed does: a token's result does not depend on the batch.
void run_groups(const PackedPart& part, int64_t g0, int64_t g1, int64_t t0, int64_t t1, int64_t g_stream_end) {
    const MatmulPart& p = *part.p;
    alignas(64) float partial[kMaxPackedTokens * kPackRows];
    for (int k = 0; k < part.layout.n_slices; ++k) {
        const SliceView s = slice_view(part, k);
        const uint8_t* stream_end = s.base + (size_t)g_stream_end * s.group_bytes;
        for (int64_t g = g0; g < g1; ++g) {
            const uint8_t* group = s.base + (size_t)g * s.group_bytes;
            for (int64_t t = t0; t < t1; t += kMaxPackedTokens) {
                const int nm = (int)std::min<int64_t>(kMaxPackedTokens, t1 - t);
                // Only the first pass over the group streams it; the later ones read it from L1.
                const uint8_t* ahead = t == t0 ? stream_end : nullptr;
                float* y = p.y + t * p.ldy + g * kPackRows;
                if (k == 0) {
                    group_call(part, s, group, t, nm, ahead, y, p.ldy);
                    continue;
                }
                group_call(part, s, group, t, nm, ahead, partial, kPackRows);
                for (int m = 0; m < nm; ++m)
                    for (int64_t r = 0; r < kPackRows; ++r) y[m * p.ldy + r] += partial[m * kPackRows + r];
            }
        }
    }
}

// Where unit u of a packed matrix starts; u = the unit count gives the matrix's end.
const uint8_t* unit_address(const PackedLayout& l, const uint8_t* packed, int64_t u) {
    const int k = (int)std::min<int64_t>(u / l.groups(), l.n_slices - 1);
    return packed + l.group_offset(k, u - k * l.groups());
}

int64_t unit_count(const PackedLayout& l) { return l.groups() * l.n_slices; }

// Units [begin, end) of part `part` of a decoding dispatch.
struct UnitRun {
    int part;
    int64_t begin, end;
    int64_t size() const { return end - begin; }
};

// A thread's share of a decoding dispatch (decode_packed): one run of units per part at most,
// walked in order; `units` in all.
struct Share {
    std::array<UnitRun, kMaxParts> runs;
    int n_runs = 0;
    int64_t units = 0;
};

// Thread ith's share of a decoding dispatch whose parts have units[0..n_parts) units.
// - Parts of equal unit counts (gate and up) are split alike, so a thread computes the same rows
//   of each and matmul_fused's `then` (the SwiGLU) finds both halves of its rows in its own cache.
//   When each thread took one matrix, up's rows came from the other core, and the SwiGLU, its
//   conversion and the threads' meeting took 6.0-6.1 us of a 2-thread Q4_0 gate/up dispatch;
//   split alike, 4.4-4.5 us (docs/bench.md).
// - Otherwise the parts' units, numbered one after another, are split into contiguous ranges, so
//   a share is one sequential stream: small parts (k and v of a GQA model are 1/6 of q) are not
//   cut in pieces.
Share thread_share(std::span<const int64_t> units, int ith, int nth) {
    Share share;
    const bool alike = std::all_of(units.begin(), units.end(), [&](int64_t u) { return u == units[0]; });
    int64_t first = 0, s0 = 0, s1 = 0;  // [s0, s1): the share in the parts' numbering, when not alike
    if (!alike) {
        int64_t total = 0;
        for (int64_t u : units) total += u;
        split_range(total, ith, nth, &s0, &s1);
    }
    for (size_t i = 0; i < units.size(); ++i) {
        int64_t b, e;
        if (alike) {
            split_range(units[i], ith, nth, &b, &e);
        } else {
            b = std::clamp(s0 - first, (int64_t)0, units[i]);
            e = std::clamp(s1 - first, (int64_t)0, units[i]);
            first += units[i];
        }
        if (b == e) continue;
        share.runs[(size_t)share.n_runs++] = {(int)i, b, e};
        share.units += e - b;
    }
    return share;
}

PackedPart packed_part(const KernelTable& kt, ThreadPool& pool, const MatmulPart& p) {
    const GemmPackedFn gemm = kt.gemm_packed[(int)p.w->type()];
    assert(gemm != nullptr);
    ensure_block_sums(pool, *p.a);
    // Weights with a tile kernel take Q8_0 activations (matmul_fused asserts the type).
    GemmPackedTileFn tile_gemm = p.a->n_tok > 1 ? kt.gemm_packed_tile[(int)p.w->type()] : nullptr;
    if (tile_gemm != nullptr) ensure_q8_0_tiles(pool, *p.a);
    return {gemm, tile_gemm, &p, packed_layout(p.w->type(), p.w->rows, p.w->cols), p.a->sums_row()};
}

// Decoding's partial products (decode_packed): those of slice k >= 1 for token t start at this
// offset, [slice - 1][token][row]; k = n_slices gives the part's size.
size_t partial_offset(const PackedPart& part, int k, int64_t t) {
    return (size_t)(((k - 1) * part.p->a->n_tok + t) * part.layout.rows);
}

// Decoding: units [u0, u1) of `part` (local numbers) for all its tokens; the prefetches stop at
// unit u_stream_end. Slice 0 writes y; slice k > 0 writes its partial products (partial_offset),
// which add_slice_partials adds to y.
void run_units(const PackedPart& part, int64_t u0, int64_t u1, int64_t u_stream_end, float* partials) {
    const MatmulPart& p = *part.p;
    const PackedLayout& l = part.layout;
    const int64_t groups = l.groups(), n_tok = p.a->n_tok;
    const uint8_t* stream_end = unit_address(l, p.w->packed, u_stream_end);
    for (int64_t u = u0; u < u1;) {
        const int k = (int)(u / groups);
        const int64_t g0 = u % groups, g1 = std::min(groups, g0 + (u1 - u));
        const SliceView s = slice_view(part, k);
        float* out = k == 0 ? p.y : partials + partial_offset(part, k, 0);
        const int64_t ldo = k == 0 ? p.ldy : l.rows;
        for (int64_t g = g0; g < g1; ++g) {
            const uint8_t* group = s.base + (size_t)g * s.group_bytes;
            for (int64_t t = 0; t < n_tok; t += kMaxPackedTokens) {
                const int nm = (int)std::min<int64_t>(kMaxPackedTokens, n_tok - t);
                group_call(part, s, group, t, nm, t == 0 ? stream_end : nullptr, out + t * ldo + g * kPackRows, ldo);
            }
        }
        u += g1 - g0;
    }
}

// y += the partial products of slices 1.. in slice order, the adds run_groups makes.
void add_slice_partials(const PackedPart& part, const float* partials) {
    const MatmulPart& p = *part.p;
    const int64_t rows = part.layout.rows, n_tok = p.a->n_tok;
    for (int k = 1; k < part.layout.n_slices; ++k)
        for (int64_t t = 0; t < n_tok; ++t) {
            const float* src = partials + partial_offset(part, k, t);
            float* y = p.y + t * p.ldy;
            for (int64_t r = 0; r < rows; ++r) y[r] += src[r];
        }
}

// Where each worker's share of a decoding dispatch over `next` starts, and kWarmBytes of it (up
// to the end of its first run): what the workers of the dispatch before read ahead
// (ThreadPool::run's `warm`). Empty ranges when `next` would not decode packed.
std::array<WarmRange, kMaxStealThreads> share_heads(const ThreadPool& pool, std::span<const Matrix* const> next) {
    std::array<WarmRange, kMaxStealThreads> heads{};
    std::array<PackedLayout, kMaxParts> layouts;
    std::array<int64_t, kMaxParts> units;
    // One thread has no worker to read ahead: nothing to compute on its decoding path.
    if (pool.size() == 1 || next.size() > (size_t)kMaxParts) return heads;
    for (size_t i = 0; i < next.size(); ++i) {
        if (next[i]->packed == nullptr) return heads;
        layouts[i] = packed_layout(next[i]->type(), next[i]->rows, next[i]->cols);
        units[i] = unit_count(layouts[i]);
    }
    for (int ith = 1; ith < pool.size(); ++ith) {
        const Share share = thread_share({units.data(), next.size()}, ith, pool.size());
        if (share.n_runs == 0) continue;
        const UnitRun& r = share.runs[0];
        const uint8_t* begin = unit_address(layouts[(size_t)r.part], next[(size_t)r.part]->packed, r.begin);
        const uint8_t* end = unit_address(layouts[(size_t)r.part], next[(size_t)r.part]->packed, r.end);
        heads[(size_t)ith] = {begin, begin + std::min<size_t>(kWarmBytes, (size_t)(end - begin))};
    }
    return heads;
}

// Decoding: the units of all parts are split into one share per thread (thread_share). Units lie
// in memory in their order, so a run of a share is one sequential stream (one prefetch stream)
// even across column slices. Walking a share group by group, each group's slices one after
// another (as prompts do), every claim jumped between slices: the sliced
// ffn_down of the 1.5B model took 1.06-1.11x the time of this order at 2 threads, 1.03-1.05x at
// 1 (docs/bench.md). A thread claims half of what is left of its share at a time (at least
// kClaimUnits), and once done goes on claiming from the others' shares, so a core slowed down
// (interrupts, the caller's serial work) does not hold the whole dispatch up. Halving keeps the
// claims few (about log2 of the share: a claim is a locked instruction, which waits for the loads
// in flight; fixed claims of 4 groups put it at 1.7% of the samples of a 2-thread decode) while
// the last ones stay small.
// One wake and one wait for all parts: the small products (k and v of a GQA model are 1/6 of q)
// would otherwise each end in a wait on the slower thread. Column slices 1.. write partial
// products that are added to y after the wait, in slice order (as run_groups adds them).
// Once done, each worker reads the start of its share of `next` (share_heads) while the caller
// does the serial work before it: a 2-thread decode step took 0.97-1.00x the time (docs/bench.md).
// With `then`, the threads meet once every unit is done and run it in the same job, unless a
// part has column slices: their partial products are added after the job, and `then` after that.
void decode_packed(ThreadPool& pool, const PackedPart* parts, int n_parts, std::span<const Matrix* const> next,
                   const ThreadPool::Job* then) {
    std::array<int64_t, kMaxParts> units;
    for (int i = 0; i < n_parts; ++i) units[(size_t)i] = unit_count(parts[i].layout);
    // Partial products of slices 1.. of every part: a buffer per calling thread, which only grows.
    thread_local std::vector<float> partials;
    std::array<size_t, kMaxParts> partials_at{};
    size_t n_partials = 0;
    for (int i = 0; i < n_parts; ++i) {
        partials_at[(size_t)i] = n_partials;
        n_partials += partial_offset(parts[i], parts[i].layout.n_slices, 0);
    }
    if (partials.size() < n_partials) partials.resize(n_partials);
    float* const partial_base = partials.data();  // the workers see their own thread_local, not this one
    std::array<ShareCursor, kMaxStealThreads> cursors;
    const std::array<WarmRange, kMaxStealThreads> warm = share_heads(pool, next);
    bool sliced = false;
    for (int i = 0; i < n_parts; ++i) sliced |= parts[i].layout.n_slices > 1;
    const ThreadPool::Job* then_in_job = sliced ? nullptr : then;
    alignas(64) std::atomic<int> arrived{0};
    pool.run([&](int ith, int nth) {
        for (int k = 0; k < nth; ++k) {
            const int s = (ith + k) % nth;
            const Share share = thread_share({units.data(), (size_t)n_parts}, s, nth);
            int r = 0;             // the run holding the claim's first unit; claims only move forward
            int64_t run_at = 0;    // units of the share before run r
            for (int64_t b, e; cursors[s].claim(share.units, kClaimUnits, &b, &e);) {
                for (int64_t u = b; u < e;) {
                    for (; u >= run_at + share.runs[(size_t)r].size(); ++r) run_at += share.runs[(size_t)r].size();
                    const UnitRun& run = share.runs[(size_t)r];
                    const int64_t u_stop = std::min(e, run_at + run.size());
                    // The prefetches stop where the run does.
                    run_units(parts[run.part], run.begin + (u - run_at), run.begin + (u_stop - run_at), run.end,
                              partial_base + partials_at[(size_t)run.part]);
                    u = u_stop;
                }
            }
        }
        if (then_in_job == nullptr) return;
        // Every unit is done once every thread has arrived: no share has any left to claim.
        arrived.fetch_add(1, std::memory_order_acq_rel);
        while (arrived.load(std::memory_order_acquire) < nth) _mm_pause();
        (*then_in_job)(ith, nth);
    }, {warm.data(), (size_t)pool.size()});
    for (int i = 0; i < n_parts; ++i)
        if (parts[i].layout.n_slices > 1) add_slice_partials(parts[i], partial_base + partials_at[(size_t)i]);
    if (then != nullptr && then_in_job == nullptr) pool.run(*then);
}

// Prompts: each thread takes a contiguous range of row groups and runs every token tile over it,
// so a group is read from memory once per tile of tokens.
void prefill_packed(ThreadPool& pool, const PackedPart& part) {
    const int64_t n_tok = part.p->a->n_tok, tile = packed_token_tile(*part.p->a);
    pool.run([&](int ith, int nth) {
        int64_t g0, g1;
        split_range(part.layout.groups(), ith, nth, &g0, &g1);
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

// ActBuffer::sums of blocks [b0, b1) of row t (Q8_0 and Q8_K; nothing for other types).
void fill_block_sums(const ActBuffer& a, int64_t t, int64_t b0, int64_t b1) {
    int32_t* out = a.sums.data() + t * a.sums_row();
    if (a.type == DType::Q8_0)
        block_sums_q8_0(reinterpret_cast<const BlockQ8_0*>(a.row(t)) + b0, b1 - b0, out + b0);
    else if (a.type == DType::Q8_K)
        pair_sums_q8_k(reinterpret_cast<const BlockQ8_K*>(a.row(t)) + b0, b1 - b0, out + b0 * kQ8KSumPairs);
}

// Sets out's format and shape and grows its bytes to fit; its tiles are stale.
void shape_acts(int64_t n_tok, int64_t n_in, DType type, ActBuffer& out) {
    out.type = type;
    out.n_tok = n_tok;
    out.n_in = n_in;
    out.row_bytes = row_bytes(traits(type), n_in);
    const size_t need = out.row_bytes * (size_t)n_tok;
    if (out.bytes.size() < need) out.bytes.resize(need);
    out.tiles_ready = false;
}

}  // namespace

void convert_acts(const KernelTable& kt, ThreadPool& pool, const float* x, int64_t n_tok, int64_t n_in, DType type,
                  ActBuffer& out) {
    shape_acts(n_tok, n_in, type, out);
    out.sums_ready = false;
    const FromFloatFn from_float = kt.from_float[(int)type];
    assert(from_float != nullptr);
    for_each_row(pool, n_tok,
                 [&](int64_t t) { from_float(x + t * n_in, out.bytes.data() + (size_t)t * out.row_bytes, n_in); });
}

void prepare_acts(int64_t n_tok, int64_t n_in, DType type, ActBuffer& out) {
    shape_acts(n_tok, n_in, type, out);
    const size_t sums = (size_t)(n_tok * out.sums_row());
    if (out.sums.size() < sums) out.sums.resize(sums);
    out.sums_ready = true;  // convert_blocks fills them with the blocks
}

void convert_blocks(const KernelTable& kt, const float* x, int64_t t, int64_t b0, int64_t b1, ActBuffer& out) {
    const TypeTraits& tr = traits(out.type);
    const int64_t be = tr.block_elems;
    uint8_t* row = out.bytes.data() + (size_t)t * out.row_bytes;
    kt.from_float[(int)out.type](x + b0 * be, row + (size_t)b0 * tr.block_bytes, (b1 - b0) * be);
    fill_block_sums(out, t, b0, b1);
}

void ensure_block_sums(ThreadPool& pool, const ActBuffer& a) {
    const int64_t per_row = a.sums_row();
    if (per_row == 0 || a.sums_ready) return;
    if (a.sums.size() < (size_t)(a.n_tok * per_row)) a.sums.resize((size_t)(a.n_tok * per_row));
    const int64_t n_blocks = a.n_in / traits(a.type).block_elems;
    for_each_row(pool, a.n_tok, [&](int64_t t) { fill_block_sums(a, t, 0, n_blocks); });
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

void matmul_fused(const KernelTable& kt, ThreadPool& pool, std::span<const MatmulPart> parts,
                  std::span<const Matrix* const> next, const ThreadPool::Job* then) {
    for ([[maybe_unused]] const MatmulPart& p : parts)
        assert(p.a->type == p.w->traits->vec_dot_type && p.a->n_in == p.w->cols);
    const auto decoding = [&](const MatmulPart& p) { return decodes_packed(pool, p); };
    if (!parts.empty() && parts.size() <= (size_t)kMaxParts && std::all_of(parts.begin(), parts.end(), decoding)) {
        std::array<PackedPart, kMaxParts> packed;
        for (size_t i = 0; i < parts.size(); ++i) packed[i] = packed_part(kt, pool, parts[i]);
        return decode_packed(pool, packed.data(), (int)parts.size(), next, then);
    }
    for (const MatmulPart& p : parts) {
        if (p.w->packed == nullptr) {
            matmul_rows(kt, pool, *p.w, *p.a, p.y, p.ldy);
            continue;
        }
        const PackedPart part = packed_part(kt, pool, p);
        // Only the last product is followed by `next`.
        if (decodes_packed(pool, p)) decode_packed(pool, &part, 1, &p == &parts.back() ? next : std::span<const Matrix* const>{}, nullptr);
        else prefill_packed(pool, part);
    }
    if (then != nullptr) pool.run(*then);
}

void matmul_f32(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const float* x, int64_t n_tok, float* y,
                int64_t ldy, ActBuffer& scratch, std::span<const Matrix* const> next) {
    convert_acts(kt, pool, x, n_tok, w.cols, w.traits->vec_dot_type, scratch);
    const MatmulPart part{&w, &scratch, y, ldy};
    matmul_fused(kt, pool, {&part, 1}, next);
}

}  // namespace retort
