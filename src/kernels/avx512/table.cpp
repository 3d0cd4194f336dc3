// The avx512 KernelTable entries: what this ISA overrides in its copy of ref_kernels().
// Called by dispatch.cpp only on a CPU with AVX-512 F/BW/VL/DQ/VNNI/BF16 (and AVX2).

#include "kernels/avx512/kernels_avx512.h"
#include "kernels/kernel_table.h"

namespace retort {

void add_avx512_kernels(KernelTable& t) {
    auto set_dot = [&](DType type, VecDotFn fn) { t.vec_dot[(int)type] = fn; };
    set_dot(DType::Q8_0, avx512::vec_dot_q8_0);
    set_dot(DType::Q4_0, avx512::vec_dot_q4_0);
    set_dot(DType::Q5_0, avx512::vec_dot_q5_0);
    set_dot(DType::Q4_1, avx512::vec_dot_q4_1);
    set_dot(DType::Q5_1, avx512::vec_dot_q5_1);
    set_dot(DType::Q2_K, avx512::vec_dot_q2_k);
    set_dot(DType::Q3_K, avx512::vec_dot_q3_k);
    set_dot(DType::Q4_K, avx512::vec_dot_q4_k);
    set_dot(DType::Q5_K, avx512::vec_dot_q5_k);
    set_dot(DType::Q6_K, avx512::vec_dot_q6_k);
    set_dot(DType::F16, avx512::vec_dot_f16);
    set_dot(DType::BF16, avx512::vec_dot_bf16);
    set_dot(DType::F32, avx512::vec_dot_f32);

    auto set_rows = [&](DType type, VecDotRowsFn fn) { t.vec_dot_rows[(int)type] = fn; };
    set_rows(DType::Q8_0, avx512::vec_dot_rows_q8_0);
    set_rows(DType::Q4_0, avx512::vec_dot_rows_q4_0);
    set_rows(DType::Q5_0, avx512::vec_dot_rows_q5_0);
    set_rows(DType::Q4_1, avx512::vec_dot_rows_q4_1);
    set_rows(DType::Q5_1, avx512::vec_dot_rows_q5_1);
    set_rows(DType::Q4_K, avx512::vec_dot_rows_q4_k);
    set_rows(DType::Q5_K, avx512::vec_dot_rows_q5_k);
    set_rows(DType::Q6_K, avx512::vec_dot_rows_q6_k);

    t.gemm_packed[(int)DType::Q4_0] = avx512::gemm_packed_q4_0;
    t.gemm_packed[(int)DType::Q8_0] = avx512::gemm_packed_q8_0;
    t.gemm_packed[(int)DType::Q4_K] = avx512::gemm_packed_q4_k;
    t.gemm_packed[(int)DType::Q6_K] = avx512::gemm_packed_q6_k;
    t.gemm_packed_tile[(int)DType::Q4_0] = avx512::gemm_packed_tile_q4_0;
    t.gemm_packed_tile[(int)DType::Q8_0] = avx512::gemm_packed_tile_q8_0;

    t.from_float[(int)DType::Q8_0] = avx512::from_float_q8_0;
    t.from_float[(int)DType::Q8_1] = avx512::from_float_q8_1;
    t.from_float[(int)DType::Q8_K] = avx512::from_float_q8_k;
    t.from_float[(int)DType::F16] = avx512::from_float_f16;
    t.from_float[(int)DType::BF16] = avx512::from_float_bf16;

    t.dot_f16_f32 = avx512::dot_f16_f32;
    t.axpy_f16_f32 = avx512::axpy_f16_f32;
    t.dot_f32 = avx512::dot_f32;
    t.axpy_f32 = avx512::axpy_f32;
    t.attn_scores = avx512::attn_scores;
    t.attn_accum = avx512::attn_accum;
    t.exp_sum = avx512::exp_sum;
    t.f16_to_f32 = avx512::f16_to_f32;
    t.silu_mul = avx512::silu_mul;
    t.attn_scores_f16 = avx512::attn_scores_f16;
    t.attn_accum_f16 = avx512::attn_accum_f16;
}

}  // namespace retort
