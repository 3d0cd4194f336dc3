// AVX2 dot products of the 32-element block types (Q8_0, Q4_0, Q5_0 x Q8_0; Q4_1, Q5_1 x Q8_1).
// Each matches the same vec_dot slot of ref_kernels() (ggml's q*_q8_* generic kernels): per
// block an exact int32 sum of quant products, scaled by d_w * d_a, plus m_w * s_a for *_1.

#include <cstddef>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/kernels_avx2.h"
#include "tensor/blocks.h"

namespace retort::avx2 {

using namespace simd;

namespace {

// sum over blocks of d_w d_a * block_sum(w block, a block) (+ m_w s_a), where block_sum gives
// the block's exact integer products as 8 int32 lanes. Groups of 8 blocks convert their 16
// scales at once and broadcast block k's from lane k; four accumulators hide the FMA latency.
template <class BlockSum>
inline float dot_blocks(int64_t nb, const uint8_t* w, const uint8_t* a, const BlockLayout& l, BlockSum block_sum) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 acc_m = _mm256_setzero_ps();
    int64_t ib = 0;
    for (; ib + 8 <= nb; ib += 8) {
        const uint8_t* bw = w + ib * l.w_stride;
        const uint8_t* ba = a + ib * l.a_stride;
        const __m256 d = _mm256_mul_ps(f16x8_strided(bw + l.w_d, l.w_stride), f16x8_strided(ba + l.a_d, l.a_stride));
        if (l.has_min)
            acc_m =
                _mm256_fmadd_ps(f16x8_strided(bw + l.w_m, l.w_stride), f16x8_strided(ba + l.a_s, l.a_stride), acc_m);
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
            const __m256 dk = _mm256_permutevar8x32_ps(d, _mm256_set1_epi32(k));
            const __m256i sumi = block_sum(bw + k * l.w_stride, ba + k * l.a_stride);
            acc[k % 4] = _mm256_fmadd_ps(dk, _mm256_cvtepi32_ps(sumi), acc[k % 4]);
        }
    }
    float tail_m = 0.0f;
    for (; ib < nb; ++ib) {
        const uint8_t* bw = w + ib * l.w_stride;
        const uint8_t* ba = a + ib * l.a_stride;
        const __m256 d = _mm256_set1_ps(ld_f16(bw + l.w_d) * ld_f16(ba + l.a_d));
        acc[0] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(block_sum(bw, ba)), acc[0]);
        if (l.has_min) tail_m += ld_f16(bw + l.w_m) * ld_f16(ba + l.a_s);
    }
    const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    return hsum_ps(sum) + (l.has_min ? hsum_ps(acc_m) + tail_m : 0.0f);
}

// Bytes of the fields, so blocks can be read at any address.
constexpr size_t kQ8_0Qs = offsetof(BlockQ8_0, qs);
constexpr size_t kQ4_0Qs = offsetof(BlockQ4_0, qs);
constexpr size_t kQ5_0Qh = offsetof(BlockQ5_0, qh), kQ5_0Qs = offsetof(BlockQ5_0, qs);
constexpr size_t kQ4_1M = offsetof(BlockQ4_1, m), kQ4_1Qs = offsetof(BlockQ4_1, qs);
constexpr size_t kQ5_1M = offsetof(BlockQ5_1, m), kQ5_1Qh = offsetof(BlockQ5_1, qh), kQ5_1Qs = offsetof(BlockQ5_1, qs);
constexpr size_t kQ8_1S = offsetof(BlockQ8_1, s), kQ8_1Qs = offsetof(BlockQ8_1, qs);

// The 5-bit quants of a Q5_0 / Q5_1 block, 0..31, in element order.
inline __m256i q5_bytes(const uint8_t* qs, const uint8_t* qh) {
    const __m256i high = _mm256_and_si256(bits_to_bytes(ld_u32(qh)), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nibbles_32(qs), high);
}

}  // namespace

// ref: vec_dot[Q8_0] of ref_kernels().
void vec_dot_q8_0(int64_t n, float* out, const void* w, const void* a) {
    constexpr BlockLayout l{sizeof(BlockQ8_0), sizeof(BlockQ8_0), offsetof(BlockQ8_0, d), offsetof(BlockQ8_0, d)};
    *out = dot_blocks(n / kQK8_0, (const uint8_t*)w, (const uint8_t*)a, l, [](const uint8_t* bw, const uint8_t* ba) {
        return dot_i8x32(ld256(bw + kQ8_0Qs), ld256(ba + kQ8_0Qs));
    });
}

// ref: vec_dot[Q4_0] of ref_kernels(). Quants are nibble - 8 in [-8, 7].
void vec_dot_q4_0(int64_t n, float* out, const void* w, const void* a) {
    constexpr BlockLayout l{sizeof(BlockQ4_0), sizeof(BlockQ8_0), offsetof(BlockQ4_0, d), offsetof(BlockQ8_0, d)};
    *out = dot_blocks(n / kQK4_0, (const uint8_t*)w, (const uint8_t*)a, l, [](const uint8_t* bw, const uint8_t* ba) {
        const __m256i qw = _mm256_sub_epi8(nibbles_32(bw + kQ4_0Qs), _mm256_set1_epi8(8));
        return dot_i8x32(qw, ld256(ba + kQ8_0Qs));
    });
}

// ref: vec_dot[Q5_0] of ref_kernels(). Quants are (nibble | bit << 4) - 16 in [-16, 15].
void vec_dot_q5_0(int64_t n, float* out, const void* w, const void* a) {
    constexpr BlockLayout l{sizeof(BlockQ5_0), sizeof(BlockQ8_0), offsetof(BlockQ5_0, d), offsetof(BlockQ8_0, d)};
    *out = dot_blocks(n / kQK5_0, (const uint8_t*)w, (const uint8_t*)a, l, [](const uint8_t* bw, const uint8_t* ba) {
        const __m256i qw = _mm256_sub_epi8(q5_bytes(bw + kQ5_0Qs, bw + kQ5_0Qh), _mm256_set1_epi8(16));
        return dot_i8x32(qw, ld256(ba + kQ8_0Qs));
    });
}

// ref: vec_dot[Q4_1] of ref_kernels(): d_w d_a sum(q_w q_a) + m_w s_a, q_w = nibble in 0..15.
void vec_dot_q4_1(int64_t n, float* out, const void* w, const void* a) {
    constexpr BlockLayout l{
        sizeof(BlockQ4_1), sizeof(BlockQ8_1), offsetof(BlockQ4_1, d), offsetof(BlockQ8_1, d), true, kQ4_1M, kQ8_1S};
    *out = dot_blocks(n / kQK4_1, (const uint8_t*)w, (const uint8_t*)a, l, [](const uint8_t* bw, const uint8_t* ba) {
        return dot_u8i8x32(nibbles_32(bw + kQ4_1Qs), ld256(ba + kQ8_1Qs));
    });
}

// ref: vec_dot[Q5_1] of ref_kernels(): as Q4_1 with 5-bit quants in 0..31.
void vec_dot_q5_1(int64_t n, float* out, const void* w, const void* a) {
    constexpr BlockLayout l{
        sizeof(BlockQ5_1), sizeof(BlockQ8_1), offsetof(BlockQ5_1, d), offsetof(BlockQ8_1, d), true, kQ5_1M, kQ8_1S};
    *out = dot_blocks(n / kQK5_1, (const uint8_t*)w, (const uint8_t*)a, l, [](const uint8_t* bw, const uint8_t* ba) {
        return dot_u8i8x32(q5_bytes(bw + kQ5_1Qs, bw + kQ5_1Qh), ld256(ba + kQ8_1Qs));
    });
}

}  // namespace retort::avx2
