// Reference dots of the k-quants against Q8_K activations. Per super-block: unpack the weight
// quants in element order (tensor/types/quant_common.h, shared with the dequantizers), take
// exact integer dots per sub-block, weight them by the integer sub-block scales, then apply
// the float super-scales once. The per-sub-block mins need only the sums of the activation
// quants, which Q8_K carries precomputed per 16 (bsums).
//
// The integer sums cannot overflow: the largest, Q6_K, is at most 256 * 128 * 32 * 127 < 2^31.
// ggml's generic code spreads the same integers over 8 lanes before the float scaling; we
// scale the exact total instead, which differs from it only by float rounding (~1 ulp).

#include "kernels/ref/ref_kernels.h"
#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"
#include "util/fp16.h"

#include <cassert>

namespace retort {

namespace {
// sum of q[i] * a[i] over one sub-block
template <typename Q>
int dot_i(const Q* q, const int8_t* a, int len) {
    int s = 0;
    for (int i = 0; i < len; ++i) s += q[i] * a[i];
    return s;
}
}  // namespace

// x = d*sc_j*q - dmin*m_j over 16 sub-blocks of 16, so
// dot = d_a * (d * sum_j sc_j (q.a)_j  -  dmin * sum_j m_j bsum_j)
void vec_dot_q2_k_q8_k_ref(int64_t n, float* out, const void* w, const void* a) {
    assert(n % kQK_K == 0);
    const auto* x = static_cast<const BlockQ2_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    uint8_t q[kQK_K];
    float sum = 0;
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        quant::unpack_q2_k(x[ib], q);
        int isum = 0, summs = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            isum += (x[ib].scales[j] & 0xF) * dot_i(q + 16 * j, y[ib].qs + 16 * j, 16);
            summs += (x[ib].scales[j] >> 4) * y[ib].bsums[j];
        }
        const float dall = y[ib].d * fp16_to_f32(x[ib].d);
        const float dmin = y[ib].d * fp16_to_f32(x[ib].dmin);
        sum += dall * isum - dmin * summs;
    }
    *out = sum;
}

// x = d*sc_j*q over 16 sub-blocks of 16 (signed scales, q in -4..3), no mins.
void vec_dot_q3_k_q8_k_ref(int64_t n, float* out, const void* w, const void* a) {
    assert(n % kQK_K == 0);
    const auto* x = static_cast<const BlockQ3_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    int8_t q[kQK_K], sc[16];
    float sum = 0;
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        quant::unpack_q3_k(x[ib], q);
        quant::unpack_q3_k_scales(x[ib].scales, sc);
        int isum = 0;
        for (int j = 0; j < kQK_K / 16; ++j) isum += sc[j] * dot_i(q + 16 * j, y[ib].qs + 16 * j, 16);
        const float d = fp16_to_f32(x[ib].d) * y[ib].d;
        sum += d * isum;
    }
    *out = sum;
}

namespace {
// Q4_K and Q5_K (Unpack gives q 0..15 or 0..31): x = d*sc_j*q - dmin*m_j over 8 sub-blocks
// of 32; sub-block j's activation sum is bsums[2j] + bsums[2j+1].
template <class Block, void (*Unpack)(const Block&, uint8_t*)>
void vec_dot_scale_min_k_ref(int64_t n, float* out, const void* w, const void* a) {
    assert(n % kQK_K == 0);
    const auto* x = static_cast<const Block*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    uint8_t q[kQK_K];
    float sum = 0;
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        Unpack(x[ib], q);
        int isum = 0, summs = 0;
        for (int j = 0; j < kQK_K / 32; ++j) {
            uint8_t sc, m;
            quant::get_scale_min_k4(j, x[ib].scales, &sc, &m);
            isum += sc * dot_i(q + 32 * j, y[ib].qs + 32 * j, 32);
            summs += m * (y[ib].bsums[2 * j] + y[ib].bsums[2 * j + 1]);
        }
        const float d = fp16_to_f32(x[ib].d) * y[ib].d;
        const float dmin = fp16_to_f32(x[ib].dmin) * y[ib].d;
        sum += d * isum - dmin * summs;
    }
    *out = sum;
}
}  // namespace

void vec_dot_q4_k_q8_k_ref(int64_t n, float* out, const void* w, const void* a) {
    vec_dot_scale_min_k_ref<BlockQ4_K, quant::unpack_q4_k>(n, out, w, a);
}

void vec_dot_q5_k_q8_k_ref(int64_t n, float* out, const void* w, const void* a) {
    vec_dot_scale_min_k_ref<BlockQ5_K, quant::unpack_q5_k>(n, out, w, a);
}

// x = d*sc_j*q over 16 sub-blocks of 16 (int8 scales, q in -32..31), no mins.
void vec_dot_q6_k_q8_k_ref(int64_t n, float* out, const void* w, const void* a) {
    assert(n % kQK_K == 0);
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    int8_t q[kQK_K];
    float sum = 0;
    for (int64_t ib = 0; ib < n / kQK_K; ++ib) {
        quant::unpack_q6_k(x[ib], q);
        int isum = 0;
        for (int j = 0; j < kQK_K / 16; ++j)
            isum += x[ib].scales[j] * dot_i(q + 16 * j, y[ib].qs + 16 * j, 16);
        const float d = fp16_to_f32(x[ib].d) * y[ib].d;
        sum += d * isum;
    }
    *out = sum;
}

}  // namespace retort
