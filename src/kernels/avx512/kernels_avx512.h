// The AVX-512 (F/BW/VL/DQ + VNNI + BF16) kernels, one per op x dtype; table.cpp puts them in the
// avx512 table. Each matches the ref_kernels() entry of the same slot (tests/kernels).
#pragma once

#include "kernels/kernel_table.h"

#include <cstddef>
#include <cstdint>

namespace retort::avx512 {

// vec_dot, weight type x its vec_dot_type (dot_legacy.cpp, dot_kquants.cpp, dot_float.cpp)
void vec_dot_q8_0(int64_t n, float* out, const void* w, const void* a);  // x Q8_0
void vec_dot_q4_0(int64_t n, float* out, const void* w, const void* a);  // x Q8_0
void vec_dot_q5_0(int64_t n, float* out, const void* w, const void* a);  // x Q8_0
void vec_dot_q4_1(int64_t n, float* out, const void* w, const void* a);  // x Q8_1
void vec_dot_q5_1(int64_t n, float* out, const void* w, const void* a);  // x Q8_1
void vec_dot_q2_k(int64_t n, float* out, const void* w, const void* a);  // x Q8_K
void vec_dot_q3_k(int64_t n, float* out, const void* w, const void* a);  // x Q8_K
void vec_dot_q4_k(int64_t n, float* out, const void* w, const void* a);  // x Q8_K
void vec_dot_q5_k(int64_t n, float* out, const void* w, const void* a);  // x Q8_K
void vec_dot_q6_k(int64_t n, float* out, const void* w, const void* a);  // x Q8_K
void vec_dot_f16(int64_t n, float* out, const void* w, const void* a);   // x F16
void vec_dot_bf16(int64_t n, float* out, const void* w, const void* a);  // x BF16
void vec_dot_f32(int64_t n, float* out, const void* w, const void* a);   // x F32

// vec_dot_rows: the same dots on 1..kMaxDotRows activation rows, the weight row unpacked once.
void vec_dot_rows_q8_0(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a, size_t a_row);
void vec_dot_rows_q4_0(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a, size_t a_row);
void vec_dot_rows_q5_0(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a, size_t a_row);
void vec_dot_rows_q4_1(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a, size_t a_row);
void vec_dot_rows_q5_1(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a, size_t a_row);
void vec_dot_rows_q4_k(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a, size_t a_row);
void vec_dot_rows_q5_k(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a, size_t a_row);
void vec_dot_rows_q6_k(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a, size_t a_row);

// gemm_packed (gemm_packed.cpp): one packed group of 16 weight rows x 1..8 activation rows.
// (Q4_K's and Q6_K's activations, Q8_K, carry their own sums; they ignore `sums`.)
void gemm_packed_q4_0(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row,
                      const int32_t* sums, int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end);
void gemm_packed_q8_0(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row,
                      const int32_t* sums, int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end);
void gemm_packed_q4_k(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row,
                      const int32_t* sums, int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end);
void gemm_packed_q6_k(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row,
                      const int32_t* sums, int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end);
// The same products against tiles of Q8_0 activation rows (GemmPackedTileFn).
void gemm_packed_tile_q4_0(int64_t n, int nm, const uint8_t* group, const Q8_0TileBlock* tile, float* y, int64_t ldy,
                           const uint8_t* stream_end);
void gemm_packed_tile_q8_0(int64_t n, int nm, const uint8_t* group, const Q8_0TileBlock* tile, float* y, int64_t ldy,
                           const uint8_t* stream_end);

// One vec_dot_rows entry for 1..kMaxDotRows rows from a Kernel class with a static
// template<int R> run(n, out, out_stride, w, a, a_row).
template <class Kernel>
inline void dot_rows(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a, size_t a_row) {
    static_assert(kMaxDotRows == 4, "dot_rows instantiates 1..4 rows");
    const auto* pw = static_cast<const uint8_t*>(w);
    const auto* pa = static_cast<const uint8_t*>(a);
    switch (nr) {
        case 1: Kernel::template run<1>(n, out, out_stride, pw, pa, a_row); break;
        case 2: Kernel::template run<2>(n, out, out_stride, pw, pa, a_row); break;
        case 3: Kernel::template run<3>(n, out, out_stride, pw, pa, a_row); break;
        default: Kernel::template run<4>(n, out, out_stride, pw, pa, a_row); break;
    }
}

// Defines vec_dot_NAME (the single-row dot, Kernel::run<1>) and vec_dot_rows_NAME (1..4 rows)
// from one Kernel class, so both entries always run the same code.
#define RETORT_AVX512_DOT_ENTRIES(name, Kernel)                                                                \
    void vec_dot_##name(int64_t n, float* out, const void* w, const void* a) {                              \
        Kernel::run<1>(n, out, 0, static_cast<const uint8_t*>(w), static_cast<const uint8_t*>(a), 0);        \
    }                                                                                                        \
    void vec_dot_rows_##name(int64_t n, int nr, float* out, int64_t out_stride, const void* w, const void* a, \
                             size_t a_row) {                                                                 \
        dot_rows<Kernel>(n, nr, out, out_stride, w, a, a_row);                                               \
    }

// from_float (quantize.cpp): byte-identical to the reference quantizers.
void from_float_q8_0(const float* x, void* dst, int64_t n);
void from_float_q8_1(const float* x, void* dst, int64_t n);
void from_float_q8_k(const float* x, void* dst, int64_t n);
void from_float_f16(const float* x, void* dst, int64_t n);
void from_float_bf16(const float* x, void* dst, int64_t n);

// attention helpers (dot_float.cpp; the block forms in attn.cpp)
float dot_f16_f32(int64_t n, const uint16_t* x, const float* y);
void axpy_f16_f32(int64_t n, float a, const uint16_t* x, float* y);
float dot_f32(int64_t n, const float* x, const float* y);
void axpy_f32(int64_t n, float a, const float* x, float* y);
float attn_scores(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* q, float scale, float* s);
void attn_accum(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* p, float* o);
float exp_sum(int64_t n, float* x, float max);
void f16_to_f32(int64_t n, const uint16_t* x, float* y);
void silu_mul(int64_t n, float* g, const float* u);  // attn.cpp, for its exp
void attn_scores_f16(const F16Rows& k, int64_t hd, int64_t g, const float* q, float scale, float* s, int64_t ls,
                     float* mx);
void attn_accum_f16(const F16Rows& v, int64_t hd, int64_t g, const float* p, int64_t lp, float* o);

}  // namespace retort::avx512
