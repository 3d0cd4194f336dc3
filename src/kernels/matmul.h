// Matrix products the models call: y = x · Wᵀ for a batch of activation rows.
// Activations are converted once per call to the weight's partner format (Q8_0, Q8_K, F16 ...)
// and every (weight row, token) pair is an inner product from the KernelTable.
#pragma once

#include "kernels/kernel_table.h"
#include "tensor/blocks.h"
#include "tensor/tensor.h"
#include "util/thread_pool.h"

#include <cstdint>
#include <span>
#include <vector>

namespace retort {

// Activation rows converted to one format; reused across matmuls that share an input
// (q/k/v, gate/up). The byte buffer only grows, so steady-state decoding never allocates.
struct ActBuffer {
    DType type = DType::F32;
    int64_t n_tok = 0;
    int64_t n_in = 0;
    size_t row_bytes = 0;
    std::vector<uint8_t> bytes;
    // The block sums the packed kernels need, sums_row() per row. Q8_0: the sum of each block's 32
    // quants. Q8_K: per super-block, the sums of its 8 sub-blocks of 32 as 4 pairs of int16
    // (sub-block 2j low, 2j + 1 high), the operand the Q4_K kernel's mins term takes as it is.
    // A cache of `bytes`: filled by ensure_block_sums on first use after a conversion, so
    // products that never read it (file-layout weights, other kernels) never pay for it.
    mutable std::vector<int32_t> sums;
    mutable bool sums_ready = false;
    // Q8_0 rows as tiles of kQ8_0TileRows (kernel_table.h), for the packed kernels of 2+ rows:
    // tile i holds rows kQ8_0TileRows * i.., n_in / 32 blocks. A cache of `bytes` like sums,
    // filled by ensure_q8_0_tiles.
    mutable std::vector<Q8_0TileBlock> tiles;
    mutable bool tiles_ready = false;
    const uint8_t* row(int64_t t) const { return bytes.data() + (size_t)t * row_bytes; }
    // Block 0 of the tile that starts at row t (a multiple of kQ8_0TileRows).
    const Q8_0TileBlock* tile(int64_t t) const { return tiles.data() + t / kQ8_0TileRows * (n_in / kQK8_0); }
    int64_t sums_row() const {
        return type == DType::Q8_0 ? n_in / kQK8_0 : type == DType::Q8_K ? n_in / kQK_K * kQ8KSumPairs : 0;
    }
};

// Fills a.sums (Q8_0 and Q8_K activations; a no-op otherwise or when already filled), in parallel over rows.
void ensure_block_sums(ThreadPool& pool, const ActBuffer& a);

// Fills a.tiles (Q8_0 activations; a no-op when already filled), and a.sums they copy from, in
// parallel over tiles.
void ensure_q8_0_tiles(ThreadPool& pool, const ActBuffer& a);

// Converts x [n_tok, n_in] (row stride n_in) to `type`, in parallel over rows.
void convert_acts(const KernelTable& kt, ThreadPool& pool, const float* x, int64_t n_tok, int64_t n_in, DType type,
                  ActBuffer& out);

// The same in pieces, for threads that each convert part of the rows: prepare_acts sizes `out`
// for n_tok rows of n_in values of `type`, then convert_blocks fills blocks [b0, b1) of row t
// from x, that row's n_in floats, with their block sums. `out` is ready once every block of
// every row is converted.
void prepare_acts(int64_t n_tok, int64_t n_in, DType type, ActBuffer& out);
void convert_blocks(const KernelTable& kt, const float* x, int64_t t, int64_t b0, int64_t b1, ActBuffer& out);

// y [a.n_tok, ldy] (first w.rows columns written) = a · wᵀ. a.type must be w's vec_dot_type
// and a.n_in == w.cols. Runs the packed kernels when w.packed is set (kt must have them).
void matmul(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const ActBuffer& a, float* y, int64_t ldy);

// One product y [a.n_tok, ldy] = a · wᵀ of matmul_fused.
struct MatmulPart {
    const Matrix* w;
    const ActBuffer* a;
    float* y;
    int64_t ldy;
};

// The products in `parts`, which must not write each other's inputs. When every one is a
// decoding-sized packed product (the q/k/v or gate/up projections of a decode step) they run as
// one dispatch: the pool is woken and waited for once, and the threads' shares run across the
// products' borders. Otherwise one product after another, as matmul.
// `next`: the matrices of the product the caller runs next, if known. After a decoding dispatch
// the workers read the start of their shares of it into their caches while the caller does the
// serial work in between (ThreadPool::run's `warm`).
// `then`: work on the results, split by (ith, nth) as a pool job, that every thread runs once
// all the products are written. A decoding dispatch runs it inside the same job, so the pool is
// not woken again and each thread finds the rows it wrote in its cache.
void matmul_fused(const KernelTable& kt, ThreadPool& pool, std::span<const MatmulPart> parts,
                  std::span<const Matrix* const> next = {}, const ThreadPool::Job* then = nullptr);

// Convenience: convert then multiply, using `scratch` for the converted activations.
void matmul_f32(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const float* x, int64_t n_tok, float* y,
                int64_t ldy, ActBuffer& scratch, std::span<const Matrix* const> next = {});

}  // namespace retort
