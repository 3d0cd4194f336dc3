// AVX-512 dot products of the k-quants (Q2_K..Q6_K) with Q8_K activations. Each matches the
// same vec_dot slot of ref_kernels(). The quants of 64 consecutive elements fill one 512-bit
// register; maddubs multiplies them (unsigned) by the activations into int16 pairs and VNNI's
// dpwssd applies the sub-block scales while accumulating into int32: two instructions per 64
// elements. Offsets (Q3_K's -4, Q6_K's -32) and mins come from the activation's bsums.

#include "kernels/avx512/avx512_common.h"

#include <cstddef>
#include <type_traits>

#include "kernels/avx512/kernels_avx512.h"
#include "tensor/blocks.h"

namespace retort::avx512 {

using namespace simd;

namespace {

constexpr size_t kQ8KD = offsetof(BlockQ8_K, d), kQ8KQs = offsetof(BlockQ8_K, qs),
                 kQ8KBsums = offsetof(BlockQ8_K, bsums);

// 32 bytes in both halves: [x | x]
inline __m512i bcast256(const uint8_t* p) { return _mm512_broadcast_i64x4(ld256(p)); }
// A 256-bit value in each half: [lo | hi]
inline __m512i halves_epi16(short lo, short hi) {
    return _mm512_inserti64x4(_mm512_set1_epi16(lo), _mm256_set1_epi16(hi), 1);
}
inline __m512i halves_epi8(char lo, char hi) {
    return _mm512_inserti64x4(_mm512_set1_epi8(lo), _mm256_set1_epi8(hi), 1);
}

// Scales for one maddubs output (32 int16 lanes = 64 elements): lane i gets scale
// first + i / per of `scales` (int16 lanes). per = 16 for 32-element sub-blocks (Q4_K, Q5_K),
// 8 for 16-element ones (Q2_K, Q3_K, Q6_K).
// (A local struct, not std::array: no library inline function gets instantiated in this file,
// see avx2_common.h.)
struct I16x32 {
    int16_t v[32];
};
template <int first, int per>
inline __m512i spread_scales(__m512i scales) {
    alignas(64) static constexpr I16x32 idx = [] {
        I16x32 a{};
        for (int i = 0; i < 32; ++i) a.v[i] = (int16_t)(first + i / per);
        return a;
    }();
    return _mm512_permutexvar_epi16(_mm512_load_si512((const void*)idx.v), scales);
}


// Q4_K / Q5_K x Q8_K for R activation rows (row r at a + r * a_row, result at
// out[r * out_stride]). x = d * sc_j * q - dmin * m_j, q in 0..15 (Q5_K: 0..31), 8 sub-blocks j
// of 32. Chunk c (elements 64c..64c+63) is 32 bytes of qs: low nibbles are sub-block 2c, high
// nibbles 2c + 1, so [bytes | bytes >> 4] & 15 is the chunk in element order. Q5_K's fifth bit:
// in chunk c, element l < 32 takes bit 2c of qh[l], element 32 + l bit 2c + 1: a byte test
// against [1 << 2c | 1 << 2c+1] on [qh | qh] gives the mask of elements to add 16 to.
// The quants and scales are unpacked once per block for all rows; each row's float operations
// are those of R = 1 (the int32 sums are exact), so every row matches the single-row dot bit
// for bit.
template <bool kFive>
struct K4Kernel {
    template <int R>
    static void run(int64_t n, float* out, int64_t out_stride, const uint8_t* w, const uint8_t* a, size_t a_row) {
        using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
        constexpr size_t BW = sizeof(Block), BA = sizeof(BlockQ8_K);
        constexpr size_t kD = offsetof(Block, d), kDmin = offsetof(Block, dmin), kScales = offsetof(Block, scales),
                         kQs = offsetof(Block, qs);
        static_assert(kDmin == kD + 2);
        const __m512i m4 = _mm512_set1_epi8(0x0F);

        __m512 acc[R];    // d * scaled quant sums
        __m256 acc_m[R];  // dmin * mins . bsums
        for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps(), acc_m[r] = _mm256_setzero_ps();
        for (int64_t i = 0; i < n / kQK_K; ++i) {
            const uint8_t* bw = w + i * BW;
            const uint8_t* ba = a + i * BA;
            const __m128i sm = unpack_scales_k4(bw + kScales);
            const __m512i sc = _mm512_zextsi128_si512(k4_scales16(sm));
            // The weight side of the per-row terms, once per block: d and dmin as vectors, and
            // the mins doubled for madd against the 16 bsums.
            const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)ld_u32(bw + kD)));
            const __m512 d_w = _mm512_broadcastss_ps(dm);
            const __m256 dmin_w = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
            const __m256i mins_dup = k4_mins_doubled(sm);
            __m512 d[R];  // d * d_a
            for (int r = 0; r < R; ++r) {
                const uint8_t* bar = ba + r * a_row;
                const float da = ld_f32(bar + kQ8KD);
                d[r] = _mm512_mul_ps(d_w, _mm512_set1_ps(da));
                const __m256i mins = _mm256_madd_epi16(mins_dup, ld256(bar + kQ8KBsums));
                acc_m[r] = _mm256_fmadd_ps(_mm256_mul_ps(dmin_w, _mm256_set1_ps(da)), _mm256_cvtepi32_ps(mins), acc_m[r]);
            }
            const uint8_t* qs = bw + kQs;
            __m512i qh;
            if constexpr (kFive) qh = bcast256(bw + offsetof(BlockQ5_K, qh));
            __m512i sum[R];
            for (int r = 0; r < R; ++r) sum[r] = _mm512_setzero_si512();
            auto chunk = [&]<int c>() {
                const __m512i x = bcast256(qs + 32 * c);
                __m512i q = _mm512_and_si512(_mm512_mask_srli_epi16(x, 0xFFFF0000u, x, 4), m4);
                if constexpr (kFive) {
                    const __mmask64 high =
                        _mm512_test_epi8_mask(qh, halves_epi8((char)(1 << (2 * c)), (char)(1 << (2 * c + 1))));
                    q = _mm512_mask_add_epi8(q, high, q, _mm512_set1_epi8(0x10));
                }
                const __m512i s = spread_scales<2 * c, 16>(sc);
                for (int r = 0; r < R; ++r) {
                    const __m512i p = _mm512_maddubs_epi16(q, ld512(ba + r * a_row + kQ8KQs + 64 * c));
                    sum[r] = _mm512_dpwssd_epi32(sum[r], p, s);
                }
            };
            chunk.template operator()<0>();
            chunk.template operator()<1>();
            chunk.template operator()<2>();
            chunk.template operator()<3>();
            for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(d[r], _mm512_cvtepi32_ps(sum[r]), acc[r]);
        }
        // The mins' sum comes off the low half before the one horizontal reduction per row.
        for (int r = 0; r < R; ++r) {
            const __m512 total = _mm512_sub_ps(acc[r], _mm512_zextps256_ps512(acc_m[r]));
            out[r * out_stride] = _mm512_reduce_add_ps(total);
        }
    }
};

// Q6_K x Q8_K for R rows. x = d * sc_j * (q - 32), q in 0..63, 16 int8 scales.
// Half h (128 elements): 64 bytes ql[64h..] give the low 4 bits, low nibbles for elements
// 0..63 of the half and high nibbles for 64..127; qh[32h + l] holds the high 2 bits of
// elements l, 32 + l, 64 + l, 96 + l at bits 0, 2, 4, 6. Per-16-bit-lane variable shifts of
// [qh | qh] bring the right pair to bits 4-5 in each 32-byte half. As for K4Kernel, each row
// runs the float operations of R = 1.
struct Q6KKernel {
    template <int R>
    static void run(int64_t n, float* out, int64_t out_stride, const uint8_t* w, const uint8_t* a, size_t a_row) {
        constexpr size_t BW = sizeof(BlockQ6_K), BA = sizeof(BlockQ8_K);
        constexpr size_t kQl = offsetof(BlockQ6_K, ql), kQh = offsetof(BlockQ6_K, qh),
                         kScales = offsetof(BlockQ6_K, scales), kD = offsetof(BlockQ6_K, d);
        const __m512i m4 = _mm512_set1_epi8(0x0F);
        const __m512i m2 = _mm512_set1_epi8(0x30);
        const __m512i shl_lo = halves_epi16(4, 2);  // elements 0..31: bits 0-1 -> 4-5; 32..63: bits 2-3 -> 4-5
        const __m512i shr_hi = halves_epi16(0, 2);  // elements 64..95: bits 4-5 stay; 96..127: bits 6-7 -> 4-5

        __m512 acc[R];
        for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
        for (int64_t i = 0; i < n / kQK_K; ++i) {
            const uint8_t* bw = w + i * BW;
            const uint8_t* ba = a + i * BA;
            const __m256i sc16 = _mm256_cvtepi8_epi16(ld128(bw + kScales));
            const __m512i sc = _mm512_zextsi256_si512(sc16);
            __m512i sum[R];
            for (int r = 0; r < R; ++r) sum[r] = _mm512_setzero_si512();
            auto half = [&]<int h>() {
                const __m512i ql = ld512(bw + kQl + 64 * h);
                const __m512i qh = bcast256(bw + kQh + 32 * h);
                const __m512i q_lo =
                    _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, shl_lo), m2));
                const __m512i q_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                                     _mm512_and_si512(_mm512_srlv_epi16(qh, shr_hi), m2));
                const __m512i s_lo = spread_scales<8 * h, 8>(sc), s_hi = spread_scales<8 * h + 4, 8>(sc);
                for (int r = 0; r < R; ++r) {
                    const uint8_t* q8 = ba + r * a_row + kQ8KQs + 128 * h;
                    sum[r] = _mm512_dpwssd_epi32(sum[r], _mm512_maddubs_epi16(q_lo, ld512(q8)), s_lo);
                    sum[r] = _mm512_dpwssd_epi32(sum[r], _mm512_maddubs_epi16(q_hi, ld512(q8 + 64)), s_hi);
                }
            };
            half.template operator()<0>();
            half.template operator()<1>();
            const float dw = ld_f16(bw + kD);
            for (int r = 0; r < R; ++r) {
                const uint8_t* bar = ba + r * a_row;
                // 32 * sum_j sc_j * bsum_j: the -32 of every quant, 8 int32 lanes
                const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(sc16, ld256(bar + kQ8KBsums)), 5);
                const __m512i sumi = _mm512_sub_epi32(sum[r], _mm512_zextsi256_si512(offset));
                const float d = ld_f32(bar + kQ8KD) * dw;
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc[r]);
            }
        }
        for (int r = 0; r < R; ++r) out[r * out_stride] = _mm512_reduce_add_ps(acc[r]);
    }
};

}  // namespace

// ref: vec_dot[T] of ref_kernels() for each T; the *_rows forms are the same dot on 1..4 rows.
RETORT_AVX512_DOT_ENTRIES(q4_k, K4Kernel<false>)
RETORT_AVX512_DOT_ENTRIES(q5_k, K4Kernel<true>)
RETORT_AVX512_DOT_ENTRIES(q6_k, Q6KKernel)

// ref: vec_dot[Q3_K] of ref_kernels(). x = d * sc_j * (q - 4), q = low 2 bits | high bit << 2.
// Group g = elements 64g..64g+63 lies in qs[32(g/2)..] at bits 4(g%2) (first 32) and 4(g%2)+2
// (next 32); the high bits are bits 2g and 2g+1 of hmask[l].
void vec_dot_q3_k(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t BW = sizeof(BlockQ3_K), BA = sizeof(BlockQ8_K);
    constexpr size_t kHmask = offsetof(BlockQ3_K, hmask), kQs = offsetof(BlockQ3_K, qs),
                     kScales = offsetof(BlockQ3_K, scales), kD = offsetof(BlockQ3_K, d);
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i b2 = _mm512_set1_epi8(4);

    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const uint8_t* bw = w + i * BW;
        const uint8_t* ba = a + i * BA;
        const __m256i sc16 = _mm256_cvtepi8_epi16(unpack_scales_q3k(bw + kScales));
        const __m512i sc = _mm512_zextsi256_si512(sc16);
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(sc16, ld256(ba + kQ8KBsums)), 2);
        const __m512i hm = bcast256(bw + kHmask);
        const uint8_t* q8 = ba + kQ8KQs;

        __m512i sum0 = _mm512_setzero_si512(), sum1 = _mm512_setzero_si512();
        auto group = [&]<int g>(__m512i& sum) {
            const __m512i qs = bcast256(bw + kQs + 32 * (g / 2));
            __m512i q = _mm512_and_si512(_mm512_srlv_epi16(qs, halves_epi16(4 * (g % 2), 4 * (g % 2) + 2)), m3);
            const __mmask64 high =
                _mm512_test_epi8_mask(hm, halves_epi8((char)(1 << (2 * g)), (char)(1 << (2 * g + 1))));
            q = _mm512_mask_add_epi8(q, high, q, b2);
            sum = _mm512_dpwssd_epi32(sum, _mm512_maddubs_epi16(q, ld512(q8 + 64 * g)), spread_scales<4 * g, 8>(sc));
        };
        group.template operator()<0>(sum0);
        group.template operator()<1>(sum1);
        group.template operator()<2>(sum0);
        group.template operator()<3>(sum1);
        const __m512i sumi = _mm512_sub_epi32(_mm512_add_epi32(sum0, sum1), _mm512_zextsi256_si512(offset));
        const float d = ld_f32(ba + kQ8KD) * ld_f16(bw + kD);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *out = _mm512_reduce_add_ps(acc);
}

// ref: vec_dot[Q2_K] of ref_kernels(). x = d * (sc_j & 15) * q - dmin * (sc_j >> 4), q in 0..3;
// the quants sit as in Q3_K's low bits.
void vec_dot_q2_k(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    constexpr size_t BW = sizeof(BlockQ2_K), BA = sizeof(BlockQ8_K);
    constexpr size_t kScales = offsetof(BlockQ2_K, scales), kQs = offsetof(BlockQ2_K, qs), kD = offsetof(BlockQ2_K, d),
                     kDmin = offsetof(BlockQ2_K, dmin);
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0F);

    __m512 acc = _mm512_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    static_assert(kDmin == kD + 2);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const uint8_t* bw = w + i * BW;
        const uint8_t* ba = a + i * BA;
        const __m128 dd = k_d_dmin(bw + kD, ld_f32(ba + kQ8KD));  // [d, dmin] * d_a
        const __m128i sc_bytes = ld128(bw + kScales);
        const __m512i sc = _mm512_zextsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(sc_bytes, m4)));
        const __m256i min16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc_bytes, 4), m4));
        acc_m = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)),
                                _mm256_cvtepi32_ps(_mm256_madd_epi16(min16, ld256(ba + kQ8KBsums))), acc_m);
        const uint8_t* q8 = ba + kQ8KQs;

        __m512i sum0 = _mm512_setzero_si512(), sum1 = _mm512_setzero_si512();
        auto group = [&]<int g>(__m512i& sum) {
            const __m512i qs = bcast256(bw + kQs + 32 * (g / 2));
            const __m512i q = _mm512_and_si512(_mm512_srlv_epi16(qs, halves_epi16(4 * (g % 2), 4 * (g % 2) + 2)), m3);
            sum = _mm512_dpwssd_epi32(sum, _mm512_maddubs_epi16(q, ld512(q8 + 64 * g)), spread_scales<4 * g, 8>(sc));
        };
        group.template operator()<0>(sum0);
        group.template operator()<1>(sum1);
        group.template operator()<2>(sum0);
        group.template operator()<3>(sum1);
        acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dd), _mm512_cvtepi32_ps(_mm512_add_epi32(sum0, sum1)), acc);
    }
    *out = _mm512_reduce_add_ps(acc) - hsum_ps(acc_m);
}

}  // namespace retort::avx512
