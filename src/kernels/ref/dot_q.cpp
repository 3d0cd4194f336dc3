// Reference dots of the 32-element block types against their Q8 activation blocks: an exact
// integer dot per block, then one float multiply-add per block. The float expressions are
// ggml's generic ones, term for term, so results equal llama.cpp's scalar path.

#include "kernels/ref/ref_kernels.h"
#include "tensor/blocks.h"
#include "util/fp16.h"

#include <cassert>
#include <cstring>

namespace retort {

namespace {
// The 5th bits of a Q5_0/Q5_1 block: bit j of qh belongs to element j.
inline uint32_t load_qh(const uint8_t qh[4]) {
    uint32_t v;
    std::memcpy(&v, qh, sizeof(v));
    return v;
}
}  // namespace

// sum_j d_w (q_j - 8) * d_a a_j = d_w d_a * sum_j (q_j - 8) a_j
void vec_dot_q4_0_q8_0_ref(int64_t n, float* out, const void* w, const void* a) {
    assert(n % kQK8_0 == 0);
    const auto* x = static_cast<const BlockQ4_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0;
    for (int64_t ib = 0; ib < n / kQK8_0; ++ib) {
        int sumi = 0;
        for (int j = 0; j < kQK8_0 / 2; ++j) {
            sumi += ((x[ib].qs[j] & 0x0F) - 8) * y[ib].qs[j];
            sumi += ((x[ib].qs[j] >> 4) - 8) * y[ib].qs[j + kQK8_0 / 2];
        }
        sum += sumi * fp16_to_f32(x[ib].d) * fp16_to_f32(y[ib].d);
    }
    *out = sum;
}

// sum_j (d_w q_j + m_w) d_a a_j = d_w d_a * sum_j q_j a_j + m_w * (d_a sum_j a_j),
// and the last factor is the activation block's precomputed s.
void vec_dot_q4_1_q8_1_ref(int64_t n, float* out, const void* w, const void* a) {
    assert(n % kQK8_1 == 0);
    const auto* x = static_cast<const BlockQ4_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    float sum = 0;
    for (int64_t ib = 0; ib < n / kQK8_1; ++ib) {
        int sumi = 0;
        for (int j = 0; j < kQK8_1 / 2; ++j) {
            sumi += (x[ib].qs[j] & 0x0F) * y[ib].qs[j];
            sumi += (x[ib].qs[j] >> 4) * y[ib].qs[j + kQK8_1 / 2];
        }
        sum += (fp16_to_f32(x[ib].d) * fp16_to_f32(y[ib].d)) * sumi +
               fp16_to_f32(x[ib].m) * fp16_to_f32(y[ib].s);
    }
    *out = sum;
}

void vec_dot_q5_0_q8_0_ref(int64_t n, float* out, const void* w, const void* a) {
    assert(n % kQK8_0 == 0);
    const auto* x = static_cast<const BlockQ5_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0;
    for (int64_t ib = 0; ib < n / kQK8_0; ++ib) {
        const uint32_t qh = load_qh(x[ib].qh);
        int sumi = 0;
        for (int j = 0; j < kQK8_0 / 2; ++j) {
            const int q0 = ((x[ib].qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16;
            const int q1 = ((x[ib].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            sumi += q0 * y[ib].qs[j] + q1 * y[ib].qs[j + kQK8_0 / 2];
        }
        sum += (fp16_to_f32(x[ib].d) * fp16_to_f32(y[ib].d)) * sumi;
    }
    *out = sum;
}

void vec_dot_q5_1_q8_1_ref(int64_t n, float* out, const void* w, const void* a) {
    assert(n % kQK8_1 == 0);
    const auto* x = static_cast<const BlockQ5_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    float sum = 0;
    for (int64_t ib = 0; ib < n / kQK8_1; ++ib) {
        const uint32_t qh = load_qh(x[ib].qh);
        int sumi = 0;
        for (int j = 0; j < kQK8_1 / 2; ++j) {
            const int q0 = (x[ib].qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
            const int q1 = (x[ib].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            sumi += q0 * y[ib].qs[j] + q1 * y[ib].qs[j + kQK8_1 / 2];
        }
        sum += (fp16_to_f32(x[ib].d) * fp16_to_f32(y[ib].d)) * sumi +
               fp16_to_f32(x[ib].m) * fp16_to_f32(y[ib].s);
    }
    *out = sum;
}

void vec_dot_q8_0_q8_0_ref(int64_t n, float* out, const void* w, const void* a) {
    assert(n % kQK8_0 == 0);
    const auto* x = static_cast<const BlockQ8_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0;
    for (int64_t ib = 0; ib < n / kQK8_0; ++ib) {
        int sumi = 0;
        for (int j = 0; j < kQK8_0; ++j) sumi += x[ib].qs[j] * y[ib].qs[j];
        sum += sumi * (fp16_to_f32(x[ib].d) * fp16_to_f32(y[ib].d));
    }
    *out = sum;
}

}  // namespace retort
