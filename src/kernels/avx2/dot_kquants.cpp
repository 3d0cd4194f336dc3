// AVX2 dot products of the k-quants (Q2_K..Q6_K) with Q8_K activations. Each matches the same
// vec_dot slot of ref_kernels() (ggml's q*_K_q8_K generic kernels). Per super-block of 256 the
// integer part is exact: maddubs multiplies unsigned weight quants by signed activations into
// int16 pairs, madd applies the sub-block scale into int32; offsets (Q3_K's -4, Q6_K's -32) and
// mins come from the activation's bsums (sums of 16 quants) instead of touching every element.

#include <cstddef>
#include <type_traits>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/kernels_avx2.h"
#include "tensor/blocks.h"

namespace retort::avx2 {

using namespace simd;

namespace {

constexpr size_t kQ8KD = offsetof(BlockQ8_K, d), kQ8KQs = offsetof(BlockQ8_K, qs),
                 kQ8KBsums = offsetof(BlockQ8_K, bsums);

// The activation's 16 bsums as int16 lanes.
inline __m256i load_bsums(const uint8_t* ba) { return ld256(ba + kQ8KBsums); }

// Scales of the 16-element sub-blocks (Q2_K, Q3_K, Q6_K) for one maddubs output. `half` holds
// the 8 int16 scales of one 128-element half in both 128-bit lanes. Group k (0..3) of the half
// is 32 elements: its first 16 (low 128 bits of the maddubs output) use scale 2k, the next 16
// (high 128 bits) scale 2k + 1.
template <int k>
inline __m256i scales_for_32(__m256i half) {
    return bcast_i16_halves<2 * k, 2 * k + 1>(half);
}

// One 128-element half h of a super-block with 16-element sub-blocks (Q2_K, Q3_K, Q6_K): adds
// scale x (q[k] . activation) of its four 32-element groups k into two int32 sums (even and odd
// groups: two dependency chains). q[k] holds group k's unsigned quants, q8 the half's 128
// activation quants, sc16 the super-block's 16 scales as int16 (half h's in its 128-bit half h).
template <int h>
inline void add_half_dot_16(const __m256i (&q)[4], const uint8_t* q8, __m256i sc16, __m256i& sum0, __m256i& sum1) {
    const __m256i sch = _mm256_permute2x128_si256(sc16, sc16, h == 0 ? 0x00 : 0x11);
    const __m256i p0 = _mm256_maddubs_epi16(q[0], ld256(q8));
    const __m256i p1 = _mm256_maddubs_epi16(q[1], ld256(q8 + 32));
    const __m256i p2 = _mm256_maddubs_epi16(q[2], ld256(q8 + 64));
    const __m256i p3 = _mm256_maddubs_epi16(q[3], ld256(q8 + 96));
    sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(p0, scales_for_32<0>(sch)));
    sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(p1, scales_for_32<1>(sch)));
    sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(p2, scales_for_32<2>(sch)));
    sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(p3, scales_for_32<3>(sch)));
}

// Q4_K and Q5_K: x = d * sc_j * q - dmin * m_j, 8 sub-blocks j of 32 with 6-bit sc_j, m_j; q in
// 0..15, or 0..31 for Q5_K, whose element 64c + l (l < 32) takes bit 2c of qh[l] as its fifth
// bit, element 64c + 32 + l bit 2c + 1.
template <class Block>
void vec_dot_scale_min_k(int64_t n, float* out, const void* vw, const void* va) {
    constexpr bool kFifthBit = std::is_same_v<Block, BlockQ5_K>;
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t BW = sizeof(Block), BA = sizeof(BlockQ8_K);
    constexpr size_t kD = offsetof(Block, d), kDmin = offsetof(Block, dmin), kScales = offsetof(Block, scales),
                     kQs = offsetof(Block, qs);
    const __m256i m4 = _mm256_set1_epi8(0x0F);

    static_assert(kDmin == kD + 2);
    __m256 acc = _mm256_setzero_ps();    // d * scaled quant sums
    __m256 acc_m = _mm256_setzero_ps();  // dmin * sum_j m_j * bsum_j
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const uint8_t* bw = w + i * BW;
        const uint8_t* ba = a + i * BA;
        const __m128 dd = k_d_dmin(bw + kD, ld_f32(ba + kQ8KD));  // [d, dmin] * d_a
        const __m128i sm = unpack_scales_k4(bw + kScales);
        acc_m = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)),
                                _mm256_cvtepi32_ps(k4_min_products(sm, ba + kQ8KBsums)), acc_m);

        // scales as int16, the same 8 in both 128-bit halves
        const __m256i sc = _mm256_broadcastsi128_si256(k4_scales16(sm));

        // chunk c = elements 64c..64c+63: low nibbles of qs[32c..] are sub-block 2c, high 2c+1.
        const uint8_t* qs = bw + kQs;
        const uint8_t* q8 = ba + kQ8KQs;
        const __m256i qh = [&] {
            if constexpr (kFifthBit) return ld256(bw + offsetof(Block, qh));
            else return _mm256_setzero_si256();
        }();
        __m256i sum_lo = _mm256_setzero_si256(), sum_hi = _mm256_setzero_si256();
        auto chunk = [&]<int c>() {
            const __m256i q4 = ld256(qs + 32 * c);
            __m256i lo = _mm256_and_si256(q4, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            if constexpr (kFifthBit) {
                lo = _mm256_or_si256(lo, move_bit<2 * c, 4>(qh));
                hi = _mm256_or_si256(hi, move_bit<2 * c + 1, 4>(qh));
            }
            const __m256i p_lo = _mm256_maddubs_epi16(lo, ld256(q8 + 64 * c));
            const __m256i p_hi = _mm256_maddubs_epi16(hi, ld256(q8 + 64 * c + 32));
            sum_lo = _mm256_add_epi32(sum_lo, _mm256_madd_epi16(p_lo, bcast_i16_halves<2 * c, 2 * c>(sc)));
            sum_hi = _mm256_add_epi32(sum_hi, _mm256_madd_epi16(p_hi, bcast_i16_halves<2 * c + 1, 2 * c + 1>(sc)));
        };
        chunk.template operator()<0>();
        chunk.template operator()<1>();
        chunk.template operator()<2>();
        chunk.template operator()<3>();
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(sum_lo, sum_hi)), acc);
    }
    *out = hsum_ps(acc) - hsum_ps(acc_m);
}

}  // namespace

// ref: vec_dot[Q4_K] of ref_kernels().
void vec_dot_q4_k(int64_t n, float* out, const void* vw, const void* va) {
    vec_dot_scale_min_k<BlockQ4_K>(n, out, vw, va);
}

// ref: vec_dot[Q5_K] of ref_kernels().
void vec_dot_q5_k(int64_t n, float* out, const void* vw, const void* va) {
    vec_dot_scale_min_k<BlockQ5_K>(n, out, vw, va);
}

// ref: vec_dot[Q6_K] of ref_kernels(). x = d * sc_j * (q - 32), q in 0..63, 16 int8 scales sc_j
// per 16 elements. In each half h of 128: element 32k + l has its low 4 bits in
// ql[64h + 32(k%2) + l] (low nibble for k < 2, high for k >= 2), its high 2 in qh[32h + l] at
// bit 2k. The -32 is applied once per super-block as 32 * sum_j sc_j * bsum_j.
void vec_dot_q6_k(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t BW = sizeof(BlockQ6_K), BA = sizeof(BlockQ8_K);
    constexpr size_t kQl = offsetof(BlockQ6_K, ql), kQh = offsetof(BlockQ6_K, qh),
                     kScales = offsetof(BlockQ6_K, scales), kD = offsetof(BlockQ6_K, d);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m2 = _mm256_set1_epi8(0x30);  // the high 2 bits of a 6-bit quant

    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const uint8_t* bw = w + i * BW;
        const uint8_t* ba = a + i * BA;
        const float d = ld_f32(ba + kQ8KD) * ld_f16(bw + kD);

        const __m256i sc16 = _mm256_cvtepi8_epi16(ld128(bw + kScales));
        // 32 * sum_j sc_j * bsum_j, 8 int32 lanes
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(sc16, load_bsums(ba)), 5);

        __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
        auto half = [&]<int h>() {
            const uint8_t* ql = bw + kQl + 64 * h;
            const __m256i l0 = ld256(ql), l1 = ld256(ql + 32), qh = ld256(bw + kQh + 32 * h);
            // the four 32-element groups k = 0..3, quants 0..63
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)),
                _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2))};
            add_half_dot_16<h>(q, ba + kQ8KQs + 128 * h, sc16, sum0, sum1);
        };
        half.template operator()<0>();
        half.template operator()<1>();
        const __m256i sumi = _mm256_sub_epi32(_mm256_add_epi32(sum0, sum1), offset);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *out = hsum_ps(acc);
}

// ref: vec_dot[Q3_K] of ref_kernels(). x = d * sc_j * (q - 4), q = low 2 bits | high bit << 2 in
// 0..7, 16 signed 6-bit scales per 16 elements. Element 128h + 32k + l: low bits in
// qs[32h + l] at bit 2k, high bit = bit 4h + k of hmask[l]. The -4 is 4 * sum_j sc_j * bsum_j.
void vec_dot_q3_k(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t BW = sizeof(BlockQ3_K), BA = sizeof(BlockQ8_K);
    constexpr size_t kHmask = offsetof(BlockQ3_K, hmask), kQs = offsetof(BlockQ3_K, qs),
                     kScales = offsetof(BlockQ3_K, scales), kD = offsetof(BlockQ3_K, d);
    const __m256i m3 = _mm256_set1_epi8(3);

    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const uint8_t* bw = w + i * BW;
        const uint8_t* ba = a + i * BA;
        const float d = ld_f32(ba + kQ8KD) * ld_f16(bw + kD);

        const __m256i sc16 = _mm256_cvtepi8_epi16(unpack_scales_q3k(bw + kScales));
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(sc16, load_bsums(ba)), 2);
        const __m256i hm = ld256(bw + kHmask);

        __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
        auto half = [&]<int h>() {
            const __m256i qs = ld256(bw + kQs + 32 * h);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(qs, m3), move_bit<4 * h + 0, 2>(hm)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 2), m3), move_bit<4 * h + 1, 2>(hm)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 4), m3), move_bit<4 * h + 2, 2>(hm)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 6), m3), move_bit<4 * h + 3, 2>(hm))};
            add_half_dot_16<h>(q, ba + kQ8KQs + 128 * h, sc16, sum0, sum1);
        };
        half.template operator()<0>();
        half.template operator()<1>();
        const __m256i sumi = _mm256_sub_epi32(_mm256_add_epi32(sum0, sum1), offset);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *out = hsum_ps(acc);
}

// ref: vec_dot[Q2_K] of ref_kernels(). x = d * (sc_j & 15) * q - dmin * (sc_j >> 4), q in 0..3,
// one scale byte per 16 elements. Element 128h + 32k + l: qs[32h + l] at bit 2k.
void vec_dot_q2_k(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t BW = sizeof(BlockQ2_K), BA = sizeof(BlockQ8_K);
    constexpr size_t kScales = offsetof(BlockQ2_K, scales), kQs = offsetof(BlockQ2_K, qs), kD = offsetof(BlockQ2_K, d),
                     kDmin = offsetof(BlockQ2_K, dmin);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0F);

    __m256 acc = _mm256_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    static_assert(kDmin == kD + 2);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const uint8_t* bw = w + i * BW;
        const uint8_t* ba = a + i * BA;
        const __m128 dd = k_d_dmin(bw + kD, ld_f32(ba + kQ8KD));  // [d, dmin] * d_a

        const __m128i sc_bytes = ld128(bw + kScales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sc_bytes, m4));
        const __m256i min16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc_bytes, 4), m4));
        acc_m = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)),
                                _mm256_cvtepi32_ps(_mm256_madd_epi16(min16, load_bsums(ba))), acc_m);

        __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
        auto half = [&]<int h>() {
            const __m256i qs = ld256(bw + kQs + 32 * h);
            const __m256i q[4] = {_mm256_and_si256(qs, m3), _mm256_and_si256(_mm256_srli_epi16(qs, 2), m3),
                                  _mm256_and_si256(_mm256_srli_epi16(qs, 4), m3),
                                  _mm256_and_si256(_mm256_srli_epi16(qs, 6), m3)};
            add_half_dot_16<h>(q, ba + kQ8KQs + 128 * h, sc16, sum0, sum1);
        };
        half.template operator()<0>();
        half.template operator()<1>();
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(sum0, sum1)), acc);
    }
    *out = hsum_ps(acc) - hsum_ps(acc_m);
}

}  // namespace retort::avx2
