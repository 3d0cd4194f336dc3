// The avx2 KernelTable entries: what this ISA overrides in its copy of ref_kernels().
// Called by dispatch.cpp only on a CPU with AVX2, FMA, F16C and BMI2.

#include "kernels/avx2/kernels_avx2.h"
#include "kernels/kernel_table.h"

namespace retort {

void add_avx2_kernels(KernelTable& t) {
    auto set_dot = [&](DType type, VecDotFn fn) { t.vec_dot[(int)type] = fn; };
    set_dot(DType::Q8_0, avx2::vec_dot_q8_0);
    set_dot(DType::Q4_0, avx2::vec_dot_q4_0);
    set_dot(DType::Q5_0, avx2::vec_dot_q5_0);
    set_dot(DType::Q4_1, avx2::vec_dot_q4_1);
    set_dot(DType::Q5_1, avx2::vec_dot_q5_1);
    set_dot(DType::Q2_K, avx2::vec_dot_q2_k);
    set_dot(DType::Q3_K, avx2::vec_dot_q3_k);
    set_dot(DType::Q4_K, avx2::vec_dot_q4_k);
    set_dot(DType::Q5_K, avx2::vec_dot_q5_k);
    set_dot(DType::Q6_K, avx2::vec_dot_q6_k);
    set_dot(DType::F16, avx2::vec_dot_f16);
    set_dot(DType::BF16, avx2::vec_dot_bf16);
    set_dot(DType::F32, avx2::vec_dot_f32);

    t.from_float[(int)DType::Q8_0] = avx2::from_float_q8_0;
    t.from_float[(int)DType::Q8_1] = avx2::from_float_q8_1;
    t.from_float[(int)DType::Q8_K] = avx2::from_float_q8_k;
    t.from_float[(int)DType::F16] = avx2::from_float_f16;
    t.from_float[(int)DType::BF16] = avx2::from_float_bf16;

    t.dot_f16_f32 = avx2::dot_f16_f32;
    t.axpy_f16_f32 = avx2::axpy_f16_f32;
    t.dot_f32 = avx2::dot_f32;
    t.axpy_f32 = avx2::axpy_f32;
    t.attn_scores = avx2::attn_scores;
    t.attn_accum = avx2::attn_accum;
    t.exp_sum = avx2::exp_sum;
    t.f16_to_f32 = avx2::f16_to_f32;
    t.silu_mul = avx2::silu_mul;
    t.attn_scores_f16 = avx2::attn_scores_f16;
    t.attn_accum_f16 = avx2::attn_accum_f16;
}

}  // namespace retort
