// F16: IEEE binary16 rows. Conversion is exact one way and round-to-nearest-even the other,
// as ggml's (and F16C's) conversions are.

#include "tensor/types/types.h"
#include "util/fp16.h"

namespace retort {

void dequantize_row_f16(const void* src, float* dst, int64_t n) {
    const auto* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(h[i]);
}

void quantize_row_f16_ref(const float* src, void* dst, int64_t n) {
    auto* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(src[i]);
}

}  // namespace retort
