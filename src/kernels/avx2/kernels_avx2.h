// The AVX2 (+FMA, F16C) kernels, one per op x dtype; table.cpp puts them in the avx2 table.
// Each matches the ref_kernels() entry of the same slot (tests/kernels/test_simd_*.cpp).
#pragma once

#include "kernels/kernel_table.h"

#include <cstdint>

namespace retort::avx2 {

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

// from_float (quantize.cpp): byte-identical to the reference quantizers.
void from_float_q8_0(const float* x, void* dst, int64_t n);
void from_float_q8_1(const float* x, void* dst, int64_t n);
void from_float_q8_k(const float* x, void* dst, int64_t n);
void from_float_f16(const float* x, void* dst, int64_t n);
void from_float_bf16(const float* x, void* dst, int64_t n);

// attention helpers (dot_float.cpp)
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

}  // namespace retort::avx2
