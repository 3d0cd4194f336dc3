#include "kernels/matmul.h"

#include "kernels/packed.h"
#include "tensor/blocks.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>

namespace retort {

namespace {
// Rows of W handled together for a batch of tokens: 16 rows of a 1536-wide Q4_K matrix are
// ~14 KB, so the tile stays in L1/L2 while every token's activations stream past it.
constexpr int64_t kRowTile = 16;

// Packed path: activations of this many bytes are taken per pass over a thread's row groups, so
// they stay in L2 while each 16-row group is reused for all of them from L1.
constexpr size_t kPackedActTileBytes = 256 << 10;

// Decoding claims a thread's share this many 16-row groups at a time (see matmul_packed).
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

void matmul_packed(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const ActBuffer& a, float* y,
                   int64_t ldy) {
    const GemmPackedFn gemm = kt.gemm_packed[(int)w.type()];
    assert(gemm != nullptr);
    ensure_block_sums(pool, a);
    const int64_t n = w.cols, n_tok = a.n_tok, n_groups = w.rows / kPackRows;
    const int64_t sums_row = a.sums_row();
    const size_t group_bytes = packed_group_bytes(w.type(), n);
    const int64_t tile = std::max<int64_t>(kMaxPackedTokens, (int64_t)(kPackedActTileBytes / a.row_bytes) /
                                                                 kMaxPackedTokens * kMaxPackedTokens);
    auto run_groups = [&](int64_t g0, int64_t g1, int64_t t0, int64_t t1, const uint8_t* share_end) {
        for (int64_t g = g0; g < g1; ++g) {
            const uint8_t* group = w.packed + (size_t)g * group_bytes;
            for (int64_t t = t0; t < t1; t += kMaxPackedTokens) {
                const int nm = (int)std::min<int64_t>(kMaxPackedTokens, t1 - t);
                gemm(n, nm, group, a.row(t), a.row_bytes, a.sums.data() + t * sums_row, sums_row,
                     y + t * ldy + g * kPackRows, ldy, share_end);
            }
        }
    };
    if (n_tok <= tile && pool.size() <= kMaxStealThreads) {
        // Decoding: every thread owns a contiguous share (one prefetch stream) and claims it
        // kClaimGroups at a time; a thread done with its own share goes on claiming from the
        // others', so a core slowed down (interrupts, the caller's serial work) does not hold
        // the whole product up.
        std::array<ShareCursor, kMaxStealThreads> cursors;
        pool.run([&](int ith, int nth) {
            for (int k = 0; k < nth; ++k) {
                const int s = (ith + k) % nth;
                int64_t g0, g1;
                split_range(n_groups, s, nth, &g0, &g1);
                const uint8_t* share_end = w.packed + (size_t)g1 * group_bytes;
                for (;;) {
                    const int64_t b = g0 + cursors[s].next.fetch_add(kClaimGroups, std::memory_order_relaxed);
                    if (b >= g1) break;
                    run_groups(b, std::min(b + kClaimGroups, g1), 0, n_tok, share_end);
                }
            }
        });
        return;
    }
    pool.run([&](int ith, int nth) {
        int64_t g0, g1;
        split_range(n_groups, ith, nth, &g0, &g1);
        const uint8_t* share_end = w.packed + (size_t)g1 * group_bytes;  // where this thread stops reading
        for (int64_t t0 = 0; t0 < n_tok; t0 += tile) {
            run_groups(g0, g1, t0, std::min(t0 + tile, n_tok), share_end);
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

void matmul(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const ActBuffer& a, float* y, int64_t ldy) {
    assert(a.type == w.traits->vec_dot_type && a.n_in == w.cols);
    if (w.packed != nullptr) return matmul_packed(kt, pool, w, a, y, ldy);
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

void matmul_f32(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const float* x, int64_t n_tok, float* y,
                int64_t ldy, ActBuffer& scratch) {
    convert_acts(kt, pool, x, n_tok, w.cols, w.traits->vec_dot_type, scratch);
    matmul(kt, pool, w, scratch, y, ldy);
}

}  // namespace retort
