// Scalar references of the attention helpers declared in kernel_table.h (dot / axpy over one
// F16 or f32 row). Dots accumulate in double: they are the oracle the SIMD versions are held to.

#include "kernels/kernel_table.h"
#include "util/fp16.h"

namespace retort {

float ref_dot_f16_f32(int64_t n, const uint16_t* x, const float* y) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (double)fp16_to_f32(x[i]) * y[i];
    return (float)sum;
}

void ref_axpy_f16_f32(int64_t n, float a, const uint16_t* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * fp16_to_f32(x[i]);
}

float ref_dot_f32(int64_t n, const float* x, const float* y) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (double)x[i] * y[i];
    return (float)sum;
}

void ref_axpy_f32(int64_t n, float a, const float* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace retort
