#include "tensor/dtype.h"

#include "gguf/ggml_types.h"
#include "tensor/blocks.h"
#include "tensor/types/types.h"

namespace retort {

namespace {
// RMSE bounds of quantize->dequantize on N(0,1) data, per element (checked in tests/tensor):
// measured with the reference quantizers on 16384 samples, plus ~25% margin.
// clang-format off
const TypeTraits kTraits[] = {
    {DType::F32,  "F32",  1,      4,                 true,  DType::F32,  dequantize_row_f32,  quantize_row_f32_ref,  0.0},
    {DType::F16,  "F16",  1,      2,                 true,  DType::F16,  dequantize_row_f16,  quantize_row_f16_ref,  2.6e-4},
    {DType::BF16, "BF16", 1,      2,                 true,  DType::BF16, dequantize_row_bf16, quantize_row_bf16_ref, 2.1e-3},
    {DType::Q4_0, "Q4_0", kQK4_0, sizeof(BlockQ4_0), true,  DType::Q8_0, dequantize_row_q4_0, quantize_row_q4_0_ref, 0.11},
    {DType::Q4_1, "Q4_1", kQK4_1, sizeof(BlockQ4_1), true,  DType::Q8_1, dequantize_row_q4_1, quantize_row_q4_1_ref, 0.10},
    {DType::Q5_0, "Q5_0", kQK5_0, sizeof(BlockQ5_0), true,  DType::Q8_0, dequantize_row_q5_0, quantize_row_q5_0_ref, 0.053},
    {DType::Q5_1, "Q5_1", kQK5_1, sizeof(BlockQ5_1), true,  DType::Q8_1, dequantize_row_q5_1, quantize_row_q5_1_ref, 0.047},
    {DType::Q8_0, "Q8_0", kQK8_0, sizeof(BlockQ8_0), true,  DType::Q8_0, dequantize_row_q8_0, quantize_row_q8_0_ref, 0.007},
    {DType::Q8_1, "Q8_1", kQK8_1, sizeof(BlockQ8_1), false, DType::Q8_1, dequantize_row_q8_1, quantize_row_q8_1_ref, 0.007},
    {DType::Q2_K, "Q2_K", kQK_K,  sizeof(BlockQ2_K), true,  DType::Q8_K, dequantize_row_q2_k, quantize_row_q2_k_ref, 0.37},
    {DType::Q3_K, "Q3_K", kQK_K,  sizeof(BlockQ3_K), true,  DType::Q8_K, dequantize_row_q3_k, quantize_row_q3_k_ref, 0.19},
    {DType::Q4_K, "Q4_K", kQK_K,  sizeof(BlockQ4_K), true,  DType::Q8_K, dequantize_row_q4_k, quantize_row_q4_k_ref, 0.09},
    {DType::Q5_K, "Q5_K", kQK_K,  sizeof(BlockQ5_K), true,  DType::Q8_K, dequantize_row_q5_k, quantize_row_q5_k_ref, 0.045},
    {DType::Q6_K, "Q6_K", kQK_K,  sizeof(BlockQ6_K), true,  DType::Q8_K, dequantize_row_q6_k, quantize_row_q6_k_ref, 0.022},
    {DType::Q8_K, "Q8_K", kQK_K,  sizeof(BlockQ8_K), false, DType::Q8_K, dequantize_row_q8_k, quantize_row_q8_k_ref, 0.009},
};
// clang-format on
}  // namespace

const TypeTraits* find_traits(uint32_t ggml_type_id) {
    for (const auto& t : kTraits)
        if ((uint32_t)t.type == ggml_type_id) return &t;
    return nullptr;
}

const TypeTraits& traits(DType t) { return *find_traits((uint32_t)t); }

std::string ggml_type_name(uint32_t ggml_type_id) {
    const GgmlTypeInfo* info = ggml_type_info(ggml_type_id);
    return info != nullptr ? info->name : "unknown type id " + std::to_string(ggml_type_id);
}

}  // namespace retort
