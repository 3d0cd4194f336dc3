// ref_kernels(): the scalar reference KernelTable. Every weight type the traits table marks
// as a weight gets a vec_dot, every activation format a from_float; SIMD tables fall back here.

#include "kernels/kernel_table.h"
#include "kernels/ref/ref_kernels.h"
#include "tensor/types/types.h"

namespace retort {

namespace {
KernelTable make_ref_table() {
    KernelTable t;
    t.isa = "ref";
    auto dot = [&](DType w, VecDotFn f) { t.vec_dot[(int)w] = f; };
    auto from = [&](DType act, FromFloatFn f) { t.from_float[(int)act] = f; };

    dot(DType::F32, vec_dot_f32_ref);
    dot(DType::F16, vec_dot_f16_ref);
    dot(DType::BF16, vec_dot_bf16_ref);
    dot(DType::Q4_0, vec_dot_q4_0_q8_0_ref);
    dot(DType::Q4_1, vec_dot_q4_1_q8_1_ref);
    dot(DType::Q5_0, vec_dot_q5_0_q8_0_ref);
    dot(DType::Q5_1, vec_dot_q5_1_q8_1_ref);
    dot(DType::Q8_0, vec_dot_q8_0_q8_0_ref);
    dot(DType::Q2_K, vec_dot_q2_k_q8_k_ref);
    dot(DType::Q3_K, vec_dot_q3_k_q8_k_ref);
    dot(DType::Q4_K, vec_dot_q4_k_q8_k_ref);
    dot(DType::Q5_K, vec_dot_q5_k_q8_k_ref);
    dot(DType::Q6_K, vec_dot_q6_k_q8_k_ref);

    // Activation conversion is the reference quantizer itself: llama.cpp rounds its
    // activations exactly this way before the integer dots.
    from(DType::F32, quantize_row_f32_ref);
    from(DType::F16, quantize_row_f16_ref);
    from(DType::BF16, quantize_row_bf16_ref);
    from(DType::Q8_0, quantize_row_q8_0_ref);
    from(DType::Q8_1, quantize_row_q8_1_ref);
    from(DType::Q8_K, quantize_row_q8_k_ref);
    return t;
}
}  // namespace

const KernelTable& ref_kernels() {
    static const KernelTable table = make_ref_table();
    return table;
}

}  // namespace retort
