// AVX2 dot products of the 32-element block types (Q8_0, Q4_0, Q5_0 x Q8_0; Q4_1, Q5_1 x Q8_1).
// Each matches the same vec_dot slot of ref_kernels() (ggml's q*_q8_* generic kernels): per
// block an exact int32 sum of quant products, scaled by d_w * d_a, plus m_w * s_a for *_1.

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/kernels_avx2.h"
#include "tensor/blocks.h"

#include <cstddef>

namespace retort::avx2 {

using namespace simd;

namespace {

// acc = step(ib, acc) over blocks [0, nb) on four independent accumulators: one FMA chain
// would wait 4 cycles per block, longer than the block's own work.
template <class Step>
inline float sum_blocks(int64_t nb, Step step) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t ib = 0;
    for (; ib + 4 <= nb; ib += 4) {
        acc0 = step(ib + 0, acc0);
        acc1 = step(ib + 1, acc1);
        acc2 = step(ib + 2, acc2);
        acc3 = step(ib + 3, acc3);
    }
    for (; ib < nb; ++ib) acc0 = step(ib, acc0);
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
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
void vec_dot_q8_0(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t B = sizeof(BlockQ8_0);
    *out = sum_blocks(n / kQK8_0, [&](int64_t ib, __m256 acc) {
        const uint8_t* bw = w + ib * B;
        const uint8_t* ba = a + ib * B;
        const __m256 d = _mm256_set1_ps(ld_f16(bw) * ld_f16(ba));
        const __m256i sumi = dot_i8x32(ld256(bw + kQ8_0Qs), ld256(ba + kQ8_0Qs));
        return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    });
}

// ref: vec_dot[Q4_0] of ref_kernels(). Quants are nibble - 8 in [-8, 7].
void vec_dot_q4_0(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t BW = sizeof(BlockQ4_0), BA = sizeof(BlockQ8_0);
    *out = sum_blocks(n / kQK4_0, [&](int64_t ib, __m256 acc) {
        const uint8_t* bw = w + ib * BW;
        const uint8_t* ba = a + ib * BA;
        const __m256 d = _mm256_set1_ps(ld_f16(bw) * ld_f16(ba));
        const __m256i qw = _mm256_sub_epi8(nibbles_32(bw + kQ4_0Qs), _mm256_set1_epi8(8));
        const __m256i sumi = dot_i8x32(qw, ld256(ba + kQ8_0Qs));
        return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    });
}

// ref: vec_dot[Q5_0] of ref_kernels(). Quants are (nibble | bit << 4) - 16 in [-16, 15].
void vec_dot_q5_0(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t BW = sizeof(BlockQ5_0), BA = sizeof(BlockQ8_0);
    *out = sum_blocks(n / kQK5_0, [&](int64_t ib, __m256 acc) {
        const uint8_t* bw = w + ib * BW;
        const uint8_t* ba = a + ib * BA;
        const __m256 d = _mm256_set1_ps(ld_f16(bw) * ld_f16(ba));
        const __m256i qw = _mm256_sub_epi8(q5_bytes(bw + kQ5_0Qs, bw + kQ5_0Qh), _mm256_set1_epi8(16));
        const __m256i sumi = dot_i8x32(qw, ld256(ba + kQ8_0Qs));
        return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    });
}

// ref: vec_dot[Q4_1] of ref_kernels(): d_w d_a sum(q_w q_a) + m_w s_a, q_w = nibble in 0..15.
// The m_w s_a term goes into lane 0 of the block's accumulator.
void vec_dot_q4_1(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t BW = sizeof(BlockQ4_1), BA = sizeof(BlockQ8_1);
    *out = sum_blocks(n / kQK4_1, [&](int64_t ib, __m256 acc) {
        const uint8_t* bw = w + ib * BW;
        const uint8_t* ba = a + ib * BA;
        const __m256 d = _mm256_set1_ps(ld_f16(bw) * ld_f16(ba));
        const __m256 ms = _mm256_zextps128_ps256(_mm_set_ss(ld_f16(bw + kQ4_1M) * ld_f16(ba + kQ8_1S)));
        const __m256i sumi = dot_u8i8x32(nibbles_32(bw + kQ4_1Qs), ld256(ba + kQ8_1Qs));
        return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), _mm256_add_ps(acc, ms));
    });
}

// ref: vec_dot[Q5_1] of ref_kernels(): as Q4_1 with 5-bit quants in 0..31.
void vec_dot_q5_1(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t BW = sizeof(BlockQ5_1), BA = sizeof(BlockQ8_1);
    *out = sum_blocks(n / kQK5_1, [&](int64_t ib, __m256 acc) {
        const uint8_t* bw = w + ib * BW;
        const uint8_t* ba = a + ib * BA;
        const __m256 d = _mm256_set1_ps(ld_f16(bw) * ld_f16(ba));
        const __m256 ms = _mm256_zextps128_ps256(_mm_set_ss(ld_f16(bw + kQ5_1M) * ld_f16(ba + kQ8_1S)));
        const __m256i sumi = dot_u8i8x32(q5_bytes(bw + kQ5_1Qs, bw + kQ5_1Qh), ld256(ba + kQ8_1Qs));
        return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), _mm256_add_ps(acc, ms));
    });
}

}  // namespace retort::avx2
