// BF16: the top 16 bits of an f32. Widening is exact; narrowing rounds to nearest even and
// keeps NaN a NaN, as ggml's GGML_FP32_TO_BF16.

#include "tensor/types/types.h"
#include "util/fp16.h"

namespace retort {

void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
    const auto* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
}

void quantize_row_bf16_ref(const float* src, void* dst, int64_t n) {
    auto* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
}

}  // namespace retort
