// Reference dots for the float weight types. As ggml's scalar path: each product is formed in
// f32 (after widening f16/bf16 exactly), and the products are summed in f64.

#include "kernels/ref/ref_kernels.h"
#include "util/fp16.h"

namespace retort {

void vec_dot_f32_ref(int64_t n, float* out, const void* w, const void* a) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (double)(x[i] * y[i]);
    *out = (float)sum;
}

void vec_dot_f16_ref(int64_t n, float* out, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const uint16_t*>(a);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (double)(fp16_to_f32(x[i]) * fp16_to_f32(y[i]));
    *out = (float)sum;
}

void vec_dot_bf16_ref(int64_t n, float* out, const void* w, const void* a) {
    const auto* x = static_cast<const uint16_t*>(w);
    const auto* y = static_cast<const uint16_t*>(a);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (double)(bf16_to_f32(x[i]) * bf16_to_f32(y[i]));
    *out = (float)sum;
}

}  // namespace retort
