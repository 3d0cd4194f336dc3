// Scalar references of the attention helpers declared in kernel_table.h (dot / axpy over one
// F16 or f32 row, and the block-of-rows forms the decoder uses). Dots accumulate in double:
// they are the oracle the SIMD versions are held to.

#include "kernels/attn_by_heads.h"
#include "kernels/kernel_table.h"
#include "util/fp16.h"

#include <algorithm>
#include <cmath>

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

float ref_attn_scores(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* q, float scale, float* s) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
        s[i] = scale * ref_dot_f32(hd, rows + i * stride, q);
        mx = std::max(mx, s[i]);
    }
    return mx;
}

void ref_attn_accum(int64_t n, int64_t hd, const float* rows, int64_t stride, const float* p, float* o) {
    for (int64_t i = 0; i < n; ++i) ref_axpy_f32(hd, p[i], rows + i * stride, o);
}

float ref_exp_sum(int64_t n, float* x, float max) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - max);
        sum += x[i];
    }
    return (float)sum;
}

void ref_f16_to_f32(int64_t n, const uint16_t* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(x[i]);
}

// Not attention, but the other exp-bound loop of a layer (the FFN gate), held to the same kind
// of reference.
void ref_silu_mul(int64_t n, float* g, const float* u) {
    for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void ref_attn_scores_f16(const F16Rows& k, int64_t hd, int64_t g, const float* q, float scale, float* s, int64_t ls,
                         float* mx) {
    attn_scores_f16_by_heads<ref_f16_to_f32, ref_attn_scores>(k, hd, g, q, scale, s, ls, mx);
}

void ref_attn_accum_f16(const F16Rows& v, int64_t hd, int64_t g, const float* p, int64_t lp, float* o) {
    attn_accum_f16_by_heads<ref_f16_to_f32, ref_attn_accum>(v, hd, g, p, lp, o);
}

}  // namespace retort
