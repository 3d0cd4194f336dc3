// AVX-512 dot products of the 32-element block types (Q8_0, Q4_0, Q5_0 x Q8_0; Q4_1, Q5_1 x
// Q8_1). Each matches the same vec_dot slot of ref_kernels(). Two blocks share one 512-bit
// register (block b in int32 lanes 0-7, block b+1 in lanes 8-15) and VNNI's dpbusd does
// multiply + add of unsigned x signed bytes into int32 in one instruction.

#include "kernels/avx512/avx512_common.h"

#include <cstddef>

#include "kernels/avx512/kernels_avx512.h"
#include "tensor/blocks.h"

namespace retort::avx512 {

using namespace simd;

namespace {


// [lo (32 bytes) | hi (32 bytes)]
inline __m512i join256(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// The 64 nibbles of two blocks (16 bytes of qs each) as bytes in element order:
// [qs0 low | qs0 high | qs1 low | qs1 high], 16 bytes each.
inline __m512i nibbles_64(const uint8_t* qs0, const uint8_t* qs1) {
    __m512i x = _mm512_broadcast_i32x4(ld128(qs0));          // [qs0, qs0, qs0, qs0]
    x = _mm512_mask_broadcast_i32x4(x, 0xFF00, ld128(qs1));  // [qs0, qs0, qs1, qs1]
    x = _mm512_mask_srli_epi16(x, 0xFF00FF00u, x, 4);        // high nibbles down in 128-bit lanes 1, 3
    return _mm512_and_si512(x, _mm512_set1_epi8(0x0F));
}

// Sum of x[j] * y[j] over 64 signed bytes, 4 products per int32 lane. dpbusd wants an unsigned
// first operand: |x| times y with x's sign gives the same products (x = -128 included: |x| = 128
// as unsigned). y must not be -128, which no quantizer writes.
inline __m512i dot_i8x64(__m512i x, __m512i y) {
    const __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(x), _mm512_setzero_si512(), y);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(x), sy);
}
inline __m256i dot_i8x32_vnni(__m256i x, __m256i y) {
    const __m256i sy = _mm256_mask_sub_epi8(y, _mm256_movepi8_mask(x), _mm256_setzero_si256(), y);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(x), sy);
}

// Sum of (u[j] - off) * y[j] for unsigned u: dpbusd(u, y) - dpbusd(off, y). Cheaper than
// making u signed and using the sign trick.
inline __m512i dot_u8_offset_x64(__m512i u, __m512i y, int off) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i uy = _mm512_dpbusd_epi32(zero, u, y);
    return off == 0 ? uy : _mm512_sub_epi32(uy, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8((char)off), y));
}
inline __m256i dot_u8_offset_x32(__m256i u, __m256i y, int off) {
    const __m256i zero = _mm256_setzero_si256();
    const __m256i uy = _mm256_dpbusd_epi32(zero, u, y);
    return off == 0 ? uy : _mm256_sub_epi32(uy, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8((char)off), y));
}

// sum over blocks of d_w d_a * (integer block dot) (+ m_w s_a for the *_1 types), for R
// activation rows against one weight row: row r reads a + r * a_row and writes
// out[r * out_stride]. Groups of 8 blocks convert their 16 f16 scales at once; pair p of the
// group (blocks 2p, 2p+1) takes its two scales from lanes 2p, 2p+1 by one permute. Four
// accumulators per row, one per pair, hide the FMA latency. unpack(bw) turns a pair of weight
// blocks into register form once; pair_dot(wq, ba) is the integer dot of that with one row's
// pair, so R rows pay for one unpack. Every row runs exactly the float operations of R = 1 (the
// integer sums are exact), so its result is bit-identical to the single-row dot. The last
// nb % 8 blocks go one at a time through block_sum (256-bit).
template <int R, class Unpack, class PairDot, class BlockSum>
inline void dot_blocks(int64_t nb, const uint8_t* w, const uint8_t* a, size_t a_row, const BlockLayout& l,
                       Unpack unpack, PairDot pair_dot, BlockSum block_sum, float* out, int64_t out_stride) {
    __m512 acc[R][4];
    __m256 acc_m[R];
    for (int r = 0; r < R; ++r) {
        for (int p = 0; p < 4; ++p) acc[r][p] = _mm512_setzero_ps();
        acc_m[r] = _mm256_setzero_ps();
    }
    int64_t ib = 0;
    for (; ib + 8 <= nb; ib += 8) {
        const uint8_t* bw = w + ib * l.w_stride;
        const uint8_t* ba = a + ib * l.a_stride;
        const __m256 wd = f16x8_strided(bw + l.w_d, l.w_stride);
        __m512 d[R];
        for (int r = 0; r < R; ++r)
            d[r] = _mm512_castps256_ps512(_mm256_mul_ps(wd, f16x8_strided(ba + r * a_row + l.a_d, l.a_stride)));
        if (l.has_min) {
            const __m256 wm = f16x8_strided(bw + l.w_m, l.w_stride);
            for (int r = 0; r < R; ++r)
                acc_m[r] = _mm256_fmadd_ps(wm, f16x8_strided(ba + r * a_row + l.a_s, l.a_stride), acc_m[r]);
        }
#pragma GCC unroll 4
        for (int p = 0; p < 4; ++p) {
            const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi32(2 * p), _mm256_set1_epi32(2 * p + 1), 1);
            const auto wq = unpack(bw + 2 * p * l.w_stride);
            for (int r = 0; r < R; ++r) {
                const __m512i sumi = pair_dot(wq, ba + r * a_row + 2 * p * l.a_stride);
                acc[r][p] = _mm512_fmadd_ps(_mm512_permutexvar_ps(idx, d[r]), _mm512_cvtepi32_ps(sumi), acc[r][p]);
            }
        }
    }
    for (int r = 0; r < R; ++r) {
        __m256 tail = _mm256_setzero_ps();
        float tail_m = 0.0f;
        for (int64_t jb = ib; jb < nb; ++jb) {
            const uint8_t* bw = w + jb * l.w_stride;
            const uint8_t* ba = a + r * a_row + jb * l.a_stride;
            const __m256 dd = _mm256_set1_ps(ld_f16(bw + l.w_d) * ld_f16(ba + l.a_d));
            tail = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(block_sum(bw, ba)), tail);
            if (l.has_min) tail_m += ld_f16(bw + l.w_m) * ld_f16(ba + l.a_s);
        }
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]), _mm512_add_ps(acc[r][2], acc[r][3]));
        const float total = _mm512_reduce_add_ps(sum) + hsum_ps(tail);
        out[r * out_stride] = l.has_min ? total + hsum_ps(acc_m[r]) + tail_m : total;
    }
}

// Signed weight bytes prepared for dot_i8x64 against several rows: |x| and x's sign mask.
struct SignedBytes {
    __m512i abs;
    __mmask64 neg;
};
inline SignedBytes signed_bytes(__m512i x) { return {_mm512_abs_epi8(x), _mm512_movepi8_mask(x)}; }
inline __m512i dot_signed(const SignedBytes& x, __m512i y) {
    const __m512i sy = _mm512_mask_sub_epi8(y, x.neg, _mm512_setzero_si512(), y);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), x.abs, sy);
}

// The 5-bit quants (nibble | bit << 4, 0..31) of one Q5 block, and of two. qh is a bit mask
// in element order, so it is the byte mask as it stands; bit 4 of a nibble is clear, so add = or.
inline __m256i q5_bytes_32(const uint8_t* qs, const uint8_t* qh) {
    const __m256i nib = nibbles_32(qs);
    return _mm256_mask_add_epi8(nib, _cvtu32_mask32(ld_u32(qh)), nib, _mm256_set1_epi8(0x10));
}
inline __m512i q5_bytes_64(const uint8_t* qs0, const uint8_t* qh0, const uint8_t* qs1, const uint8_t* qh1) {
    const __m512i nib = nibbles_64(qs0, qs1);
    const __mmask64 high = _cvtu64_mask64((uint64_t)ld_u32(qh0) | (uint64_t)ld_u32(qh1) << 32);
    return _mm512_mask_add_epi8(nib, high, nib, _mm512_set1_epi8(0x10));
}

constexpr size_t kQ8_0Qs = offsetof(BlockQ8_0, qs);
constexpr size_t kQ8_1S = offsetof(BlockQ8_1, s), kQ8_1Qs = offsetof(BlockQ8_1, qs);

// Q8_0 x Q8_0.
struct Q8_0Kernel {
    template <int R>
    static void run(int64_t n, float* out, int64_t out_stride, const uint8_t* w, const uint8_t* a, size_t a_row) {
        constexpr size_t B = sizeof(BlockQ8_0);
        constexpr BlockLayout l{B, B, offsetof(BlockQ8_0, d), offsetof(BlockQ8_0, d)};
        dot_blocks<R>(
            n / kQK8_0, w, a, a_row, l,
            [](const uint8_t* bw) { return signed_bytes(join256(ld256(bw + kQ8_0Qs), ld256(bw + B + kQ8_0Qs))); },
            [](const SignedBytes& qw, const uint8_t* ba) {
                return dot_signed(qw, join256(ld256(ba + kQ8_0Qs), ld256(ba + B + kQ8_0Qs)));
            },
            [](const uint8_t* bw, const uint8_t* ba) {
                return dot_i8x32_vnni(ld256(bw + kQ8_0Qs), ld256(ba + kQ8_0Qs));
            },
            out, out_stride);
    }
};

// Q4_0 x Q8_0. Quants are nibble - 8.
struct Q4_0Kernel {
    template <int R>
    static void run(int64_t n, float* out, int64_t out_stride, const uint8_t* w, const uint8_t* a, size_t a_row) {
        constexpr size_t BW = sizeof(BlockQ4_0), BA = sizeof(BlockQ8_0), kQs = offsetof(BlockQ4_0, qs);
        constexpr BlockLayout l{BW, BA, offsetof(BlockQ4_0, d), offsetof(BlockQ8_0, d)};
        dot_blocks<R>(
            n / kQK4_0, w, a, a_row, l, [](const uint8_t* bw) { return nibbles_64(bw + kQs, bw + BW + kQs); },
            [](__m512i qw, const uint8_t* ba) {
                return dot_u8_offset_x64(qw, join256(ld256(ba + kQ8_0Qs), ld256(ba + BA + kQ8_0Qs)), 8);
            },
            [](const uint8_t* bw, const uint8_t* ba) {
                return dot_u8_offset_x32(nibbles_32(bw + kQs), ld256(ba + kQ8_0Qs), 8);
            },
            out, out_stride);
    }
};

// Q5_0 x Q8_0. Quants are (nibble | bit << 4) - 16.
struct Q5_0Kernel {
    template <int R>
    static void run(int64_t n, float* out, int64_t out_stride, const uint8_t* w, const uint8_t* a, size_t a_row) {
        constexpr size_t BW = sizeof(BlockQ5_0), BA = sizeof(BlockQ8_0);
        constexpr size_t kQh = offsetof(BlockQ5_0, qh), kQs = offsetof(BlockQ5_0, qs);
        constexpr BlockLayout l{BW, BA, offsetof(BlockQ5_0, d), offsetof(BlockQ8_0, d)};
        dot_blocks<R>(
            n / kQK5_0, w, a, a_row, l,
            [](const uint8_t* bw) { return q5_bytes_64(bw + kQs, bw + kQh, bw + BW + kQs, bw + BW + kQh); },
            [](__m512i qw, const uint8_t* ba) {
                return dot_u8_offset_x64(qw, join256(ld256(ba + kQ8_0Qs), ld256(ba + BA + kQ8_0Qs)), 16);
            },
            [](const uint8_t* bw, const uint8_t* ba) {
                return dot_u8_offset_x32(q5_bytes_32(bw + kQs, bw + kQh), ld256(ba + kQ8_0Qs), 16);
            },
            out, out_stride);
    }
};

// Q4_1 x Q8_1: d_w d_a sum(q_w q_a) + m_w s_a.
struct Q4_1Kernel {
    template <int R>
    static void run(int64_t n, float* out, int64_t out_stride, const uint8_t* w, const uint8_t* a, size_t a_row) {
        constexpr size_t BW = sizeof(BlockQ4_1), BA = sizeof(BlockQ8_1), kQs = offsetof(BlockQ4_1, qs);
        constexpr BlockLayout l{BW,    BA, offsetof(BlockQ4_1, d), offsetof(BlockQ8_1, d), true, offsetof(BlockQ4_1, m),
                                kQ8_1S};
        dot_blocks<R>(
            n / kQK4_1, w, a, a_row, l, [](const uint8_t* bw) { return nibbles_64(bw + kQs, bw + BW + kQs); },
            [](__m512i qw, const uint8_t* ba) {
                return dot_u8_offset_x64(qw, join256(ld256(ba + kQ8_1Qs), ld256(ba + BA + kQ8_1Qs)), 0);
            },
            [](const uint8_t* bw, const uint8_t* ba) {
                return dot_u8_offset_x32(nibbles_32(bw + kQs), ld256(ba + kQ8_1Qs), 0);
            },
            out, out_stride);
    }
};

// Q5_1 x Q8_1: as Q4_1 with 5-bit quants.
struct Q5_1Kernel {
    template <int R>
    static void run(int64_t n, float* out, int64_t out_stride, const uint8_t* w, const uint8_t* a, size_t a_row) {
        constexpr size_t BW = sizeof(BlockQ5_1), BA = sizeof(BlockQ8_1);
        constexpr size_t kQh = offsetof(BlockQ5_1, qh), kQs = offsetof(BlockQ5_1, qs);
        constexpr BlockLayout l{BW,    BA, offsetof(BlockQ5_1, d), offsetof(BlockQ8_1, d), true, offsetof(BlockQ5_1, m),
                                kQ8_1S};
        dot_blocks<R>(
            n / kQK5_1, w, a, a_row, l,
            [](const uint8_t* bw) { return q5_bytes_64(bw + kQs, bw + kQh, bw + BW + kQs, bw + BW + kQh); },
            [](__m512i qw, const uint8_t* ba) {
                return dot_u8_offset_x64(qw, join256(ld256(ba + kQ8_1Qs), ld256(ba + BA + kQ8_1Qs)), 0);
            },
            [](const uint8_t* bw, const uint8_t* ba) {
                return dot_u8_offset_x32(q5_bytes_32(bw + kQs, bw + kQh), ld256(ba + kQ8_1Qs), 0);
            },
            out, out_stride);
    }
};

}  // namespace

// ref: vec_dot[T] of ref_kernels() for each T; the *_rows forms are the same dot on 1..4 rows.
RETORT_AVX512_DOT_ENTRIES(q8_0, Q8_0Kernel)
RETORT_AVX512_DOT_ENTRIES(q4_0, Q4_0Kernel)
RETORT_AVX512_DOT_ENTRIES(q5_0, Q5_0Kernel)
RETORT_AVX512_DOT_ENTRIES(q4_1, Q4_1Kernel)
RETORT_AVX512_DOT_ENTRIES(q5_1, Q5_1Kernel)

}  // namespace retort::avx512
