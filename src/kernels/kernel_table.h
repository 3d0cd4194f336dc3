// KernelTable: the per-ISA function pointers for the inner products. Picked once at start-up
// from the CPU's features (dispatch.cpp), then immutable. Every entry of a SIMD table must
// match the same entry of the ref table (tests/kernels).
#pragma once

#include "tensor/dtype.h"

#include <cstddef>
#include <cstdint>

namespace retort {

// out = dot(w, a) over n elements. w: one row in the weight's type; a: the activation row,
// already converted to traits(weight).vec_dot_type. n is a multiple of the block size.
using VecDotFn = void (*)(int64_t n, float* out, const void* w, const void* a);

// The same dot for nr (1..kMaxDotRows) activation rows against one weight row:
// out[r * out_stride] = dot(w, a + r * a_row). Each result is bit-identical to vec_dot's; the
// weight row is unpacked once for all rows, which is what makes a batch (several sequences
// decoding together, or a prompt) cheaper per row than one dot at a time.
constexpr int kMaxDotRows = 4;
using VecDotRowsFn = void (*)(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a,
                              size_t a_row);

// Packed weights (kernels/packed.h): y[m * ldy + r] = dot(row r of one packed group of kPackRows
// rows, activation row m) for r < kPackRows and m < nm (1..kMaxPackedTokens). act: nm rows of
// the weight's vec_dot_type, act_row bytes apart; sums: the activation blocks' sums of quants
// (ActBuffer::sums), sums_row entries apart. stream_end: the end of the packed bytes the caller
// may go on to read after this group (the end of the thread share of the matrix it belongs to);
// the kernel prefetches ahead of itself up to there, across group borders, and never at or past it
// (nullptr: nothing to prefetch, the group is already in cache).
using GemmPackedFn = void (*)(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row,
                              const int32_t* sums, int64_t sums_row, float* y, int64_t ldy,
                              const uint8_t* stream_end);
// Q8_0 activation rows in tiles of kQ8_0TileRows (the rows of one packed-kernel call), block by
// block: one pointer reaches every row's quants, scale and sum, which 8 row pointers, 8 sum
// pointers and f16 scales did not (kernels/packed.h, "Activation tiles"). A tile's rows past the
// last activation row are zero.
constexpr int kQ8_0TileRows = 8;
struct Q8_0TileBlock {
    int8_t qs[kQ8_0TileRows][32];  // row m's quants of the block
    float d[kQ8_0TileRows];        // row m's scale, the BlockQ8_0 f16 widened
    int32_t neg_sum[kQ8_0TileRows];  // minus the sum of row m's quants
};
// The y of GemmPackedFn for the first nm (2..kQ8_0TileRows) rows of a tile, bit for bit, for
// packed Q4_0 and Q8_0 groups; tile: the block of the group's first input; stream_end as for
// GemmPackedFn.
using GemmPackedTileFn = void (*)(int64_t n, int nm, const uint8_t* group, const Q8_0TileBlock* tile, float* y,
                                  int64_t ldy, const uint8_t* stream_end);
// ActBuffer::sums of Q8_K activations: one int16 pair (two 32-input sub-blocks) per dword, so
// this many per super-block of 256.
constexpr int64_t kQ8KSumPairs = 4;

// Converts n floats to an activation format (Q8_0, Q8_1, Q8_K, F16, BF16, F32).
using FromFloatFn = void (*)(const float* x, void* dst, int64_t n);

// Attention inner loops over one K or V row (any n, no block structure; the KV cache is F16):
//   dot_f16_f32:  returns sum_i fp16(x[i]) * y[i]        (score = q . k)
//   axpy_f16_f32: y[i] += a * fp16(x[i]) for i < n      (out += p * v)
// and the same on f32 rows. No alignment required.
using DotF16F32Fn = float (*)(int64_t n, const uint16_t* x, const float* y);
using AxpyF16F32Fn = void (*)(int64_t n, float a, const uint16_t* x, float* y);
using DotF32Fn = float (*)(int64_t n, const float* x, const float* y);
using AxpyF32Fn = void (*)(int64_t n, float a, const float* x, float* y);

// Attention over a block of KV rows in f32 (row i at rows + i * stride, hd values each):
//   attn_scores: s[i] = scale * dot(q, row i) for i < n; returns max(s[0..n))
//   attn_accum:  o[d] += sum_i p[i] * row_i[d] for d < hd
//   exp_sum:     x[i] = exp(x[i] - max) for i < n; returns sum_i x[i]
//   f16_to_f32:  y[i] = fp16(x[i]) for i < n
// The decoder converts an F16 block of K or V rows once, then runs every query head of the
// GQA group over it.
using AttnScoresFn = float (*)(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* q, float scale,
                               float* s);
using AttnAccumFn = void (*)(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* p, float* o);
using ExpSumFn = float (*)(int64_t n, float* x, float max);
using F16ToF32Fn = void (*)(int64_t n, const uint16_t* x, float* y);

// Attention of the g query heads of a GQA group over one block of an F16 KV cache, n rows of
// their KV head (row i at rows + i * stride elements, hd of them), each row read once for all
// g heads:
//   attn_scores_f16: s[j * ls + i] = scale * dot(q + j * hd, row i); mx[j] = max(mx[j], those)
//   attn_accum_f16:  o[j * hd + d] += sum_i p[j * lp + i] * row_i[d]
// for j < g, i < n, d < hd. `next` (may be null): n_next rows (same stride) the caller reads
// after these, prefetched while these are processed: cache blocks lie anywhere in memory, so the
// hardware prefetcher cannot run ahead across them.
struct F16Rows {
    const uint16_t* rows;
    int64_t n, stride;
    const uint16_t* next;
    int64_t n_next;
};
using AttnScoresF16Fn = void (*)(const F16Rows& k, int64_t hd, int64_t g, const float* q, float scale, float* s,
                                 int64_t ls, float* mx);
using AttnAccumF16Fn = void (*)(const F16Rows& v, int64_t hd, int64_t g, const float* p, int64_t lp, float* o);

// The FFN's SwiGLU gate: g[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i] for i < n.
using SiluMulFn = void (*)(int64_t n, float* g, const float* u);

// Scalar references of the attention helpers (kernels/ref_attn.cpp): the oracle for the SIMD
// versions and the defaults of every table, so ref_kernels() carries them without listing them.
float ref_dot_f16_f32(int64_t n, const uint16_t* x, const float* y);
void ref_axpy_f16_f32(int64_t n, float a, const uint16_t* x, float* y);
float ref_dot_f32(int64_t n, const float* x, const float* y);
void ref_axpy_f32(int64_t n, float a, const float* x, float* y);
float ref_attn_scores(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* q, float scale, float* s);
void ref_attn_accum(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* p, float* o);
float ref_exp_sum(int64_t n, float* x, float max);
void ref_f16_to_f32(int64_t n, const uint16_t* x, float* y);
void ref_silu_mul(int64_t n, float* g, const float* u);
void ref_attn_scores_f16(const F16Rows& k, int64_t hd, int64_t g, const float* q, float scale, float* s, int64_t ls,
                         float* mx);
void ref_attn_accum_f16(const F16Rows& v, int64_t hd, int64_t g, const float* p, int64_t lp, float* o);

struct KernelTable {
    const char* isa = "ref";                 // "ref", "avx2", "avx512"
    VecDotFn vec_dot[kDTypeIdLimit] = {};    // indexed by weight DType
    VecDotRowsFn vec_dot_rows[kDTypeIdLimit] = {};  // optional; matmul loops vec_dot without it
    GemmPackedFn gemm_packed[kDTypeIdLimit] = {};   // optional; a model is packed only for a table that has it
    GemmPackedTileFn gemm_packed_tile[kDTypeIdLimit] = {};  // optional; 2+ rows take it where present
    FromFloatFn from_float[kDTypeIdLimit] = {};  // indexed by activation DType
    DotF16F32Fn dot_f16_f32 = ref_dot_f16_f32;
    AxpyF16F32Fn axpy_f16_f32 = ref_axpy_f16_f32;
    DotF32Fn dot_f32 = ref_dot_f32;
    AxpyF32Fn axpy_f32 = ref_axpy_f32;
    AttnScoresFn attn_scores = ref_attn_scores;
    AttnAccumFn attn_accum = ref_attn_accum;
    ExpSumFn exp_sum = ref_exp_sum;
    F16ToF32Fn f16_to_f32 = ref_f16_to_f32;
    SiluMulFn silu_mul = ref_silu_mul;
    AttnScoresF16Fn attn_scores_f16 = ref_attn_scores_f16;
    AttnAccumF16Fn attn_accum_f16 = ref_attn_accum_f16;
};

// The scalar reference table: every supported weight type and activation type is filled.
const KernelTable& ref_kernels();
// SIMD tables; entries a table lacks fall back to ref. nullptr when the CPU cannot run them.
const KernelTable* avx2_kernels();
const KernelTable* avx512_kernels();

// The best table this CPU runs, or the named one ("ref", "avx2", "avx512").
// Returns nullptr when the named table is unknown or unsupported by this CPU.
const KernelTable* select_kernels(const char* force = nullptr);

}  // namespace retort
