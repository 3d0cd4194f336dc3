// The scalar reference dot products, one per (weight type, activation type) pair. They are
// the oracle every SIMD kernel is tested against, and the fallback for entries a SIMD table
// lacks. All have the VecDotFn shape: out = dot(w, a) over n elements, n a multiple of the
// weight's block size, a already in traits(weight).vec_dot_type.
#pragma once

#include <cstdint>

namespace retort {

// dot_float.cpp: F32 x F32, F16 x F16, BF16 x BF16 (products in f32, summed in f64).
void vec_dot_f32_ref(int64_t n, float* out, const void* w, const void* a);
void vec_dot_f16_ref(int64_t n, float* out, const void* w, const void* a);
void vec_dot_bf16_ref(int64_t n, float* out, const void* w, const void* a);

// dot_q.cpp: the 32-element block types against Q8_0 / Q8_1.
void vec_dot_q4_0_q8_0_ref(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q4_1_q8_1_ref(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q5_0_q8_0_ref(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q5_1_q8_1_ref(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q8_0_q8_0_ref(int64_t n, float* out, const void* w, const void* a);

// dot_k.cpp: the k-quants against Q8_K.
void vec_dot_q2_k_q8_k_ref(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q3_k_q8_k_ref(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q4_k_q8_k_ref(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q5_k_q8_k_ref(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q6_k_q8_k_ref(int64_t n, float* out, const void* w, const void* a);

}  // namespace retort
