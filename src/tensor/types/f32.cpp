// F32: the identity "quantization"; here so the traits table treats every type alike.

#include "tensor/types/types.h"

#include <cstring>

namespace retort {

void dequantize_row_f32(const void* src, float* dst, int64_t n) {
    std::memcpy(dst, src, (size_t)n * sizeof(float));
}

void quantize_row_f32_ref(const float* src, void* dst, int64_t n) {
    std::memcpy(dst, src, (size_t)n * sizeof(float));
}

}  // namespace retort
