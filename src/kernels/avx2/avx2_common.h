// Helpers shared by the AVX2 (and AVX-512) kernel files: unaligned field loads, horizontal
// sums, byte tricks. Everything is `static inline` on purpose: each kernel file gets a private
// copy built with its own -m flags. An ordinary inline function would be merged by the linker
// across files, and an AVX-512 copy could end up running on a CPU without AVX-512.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace retort::simd {

// ---- field loads from byte pointers (blocks may sit at any address) ----

static inline uint16_t ld_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
static inline uint32_t ld_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
static inline float ld_f32(const uint8_t* p) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
}
static inline float ld_f16(const uint8_t* p) { return _cvtsh_ss(ld_u16(p)); }
static inline __m128i ld128(const uint8_t* p) { return _mm_loadu_si128((const __m128i*)p); }
static inline __m256i ld256(const uint8_t* p) { return _mm256_loadu_si256((const __m256i*)p); }

// ---- horizontal reductions ----

static inline float hsum_ps(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));  // [0+2, 1+3, ..]
    v = _mm_add_ss(v, _mm_movehdup_ps(v));   // [0+2+1+3]
    return _mm_cvtss_f32(v);
}
static inline float hsum_ps(__m256 v) {
    return hsum_ps(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}
static inline int32_t hsum_epi32(__m128i v) {
    v = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(v);
}
static inline int32_t hsum_epi32(__m256i v) {
    return hsum_epi32(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

// The f16 values at p, p + stride, ..., p + 7 stride as 8 f32 lanes: one conversion serves
// the scales of 8 blocks.
static inline __m256 f16x8_strided(const uint8_t* p, size_t stride) {
    __m128i h = _mm_cvtsi32_si128(ld_u16(p));
    h = _mm_insert_epi16(h, ld_u16(p + 1 * stride), 1);
    h = _mm_insert_epi16(h, ld_u16(p + 2 * stride), 2);
    h = _mm_insert_epi16(h, ld_u16(p + 3 * stride), 3);
    h = _mm_insert_epi16(h, ld_u16(p + 4 * stride), 4);
    h = _mm_insert_epi16(h, ld_u16(p + 5 * stride), 5);
    h = _mm_insert_epi16(h, ld_u16(p + 6 * stride), 6);
    h = _mm_insert_epi16(h, ld_u16(p + 7 * stride), 7);
    return _mm256_cvtph_ps(h);
}

// Where a 32-element block type and its activation partner keep their scales (bytes from the
// block start), and their block sizes.
struct BlockLayout {
    size_t w_stride, a_stride;  // bytes per weight / activation block
    size_t w_d, a_d;            // f16 scales d
    bool has_min = false;       // *_1 types: plus m_w * s_a per block
    size_t w_m = 0, a_s = 0;    // f16 m of the weight, f16 s = d * sum(q) of the activation
};

// ---- byte tricks ----

// Sums of x[j] * y[j] over 32 signed bytes, 4 products per int32 lane. maddubs needs one
// unsigned operand, so it multiplies |x| by y carrying x's sign: the same products. x may be
// -128 (|x| = 128 is exact as unsigned, and 2 * 128 * 127 still fits maddubs' int16 pair sums);
// y must not be (its negation overflows). Activations come from quantizers: |y| <= 127.
static inline __m256i dot_i8x32(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

// Sums of u[j] * y[j], u unsigned (<= 63 here, so maddubs' int16 pair sums cannot saturate),
// y signed: 4 products per int32 lane.
static inline __m256i dot_u8i8x32(__m256i u, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1));
}

// 16 packed nibbles -> 32 bytes in element order: byte j < 16 is the low nibble of qs[j],
// byte 16 + j its high nibble (the Q4_0/Q4_1/Q5_x layout).
static inline __m256i nibbles_32(const uint8_t* qs) {
    const __m128i x = ld128(qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(x, 4), x);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes, 0xFF where bit j is set: byte j gets a copy of byte j/8 of `bits`,
// then is tested against bit j%8.
static inline __m256i bits_to_bytes(uint32_t bits) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)bits), _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// Moves bit `src` of every byte of x to bit `dst`, clearing the others. Shifts are per 16-bit
// lane; the bits that cross from the neighbouring byte never land on `dst`, so the mask cleans up.
template <int src, int dst>
static inline __m256i move_bit(__m256i x) {
    const __m256i m = _mm256_set1_epi8((char)(1 << dst));
    if constexpr (src > dst)
        return _mm256_and_si256(_mm256_srli_epi16(x, src - dst), m);
    else if constexpr (src < dst)
        return _mm256_and_si256(_mm256_slli_epi16(x, dst - src), m);
    else
        return _mm256_and_si256(x, m);
}

// i16 lane `lo` of the low 128 bits broadcast over the low 128 bits and lane `hi` of the high
// 128 bits over the high 128 bits (pshufb works within 128-bit halves).
template <int lo, int hi>
static inline __m256i bcast_i16_halves(__m256i v) {
    const __m256i idx = _mm256_set_m128i(_mm_set1_epi16((short)((2 * hi + 1) << 8 | 2 * hi)),
                                         _mm_set1_epi16((short)((2 * lo + 1) << 8 | 2 * lo)));
    return _mm256_shuffle_epi8(v, idx);
}

// ---- Q4_K / Q5_K packed 6-bit scales and mins ----

// The 12 bytes hold 8 scales and 8 mins: bytes 0-3 / 4-7 carry scales / mins 0-3 in their low
// 6 bits and the top 2 bits of scales / mins 4-7 in their high 2; bytes 8-11 carry the low 4
// bits of scales 4-7 (low nibble) and mins 4-7 (high nibble). Out: bytes 0-7 the 8 scales,
// 8-15 the 8 mins (u8), unpacked in registers (no scalar work). Reads 16 bytes at p: the 12
// scale bytes and 4 of what follows them in the block.
static inline __m128i unpack_scales_k4(const uint8_t* p) {
    const __m128i x = ld128(p);  // dwords a0 a1 a2 (a3 unused)
    // [a0, a2, a1, a2 >> 4] masked to the bits kept in place ...
    const __m128i low = _mm_and_si128(_mm_srlv_epi32(_mm_shuffle_epi32(x, _MM_SHUFFLE(2, 1, 2, 0)), _mm_set_epi32(4, 0, 0, 0)),
                                      _mm_set_epi32(0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F));
    // ... and the top 2 bits of a0 (scales 4-7) and a1 (mins 4-7) moved to bits 4-5.
    const __m128i top = _mm_and_si128(_mm_srli_epi32(_mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 0, 0)), 2),
                                      _mm_set_epi32(0x30303030, 0, 0x30303030, 0));
    return _mm_or_si128(low, top);
}

// [d * da, dmin * da] in lanes 0, 1: a k-quant's adjacent f16 d and dmin in one conversion.
static inline __m128 k_d_dmin(const uint8_t* d_dmin, float da) {
    return _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)ld_u32(d_dmin))), _mm_set1_ps(da));
}

// The mins of unpack_scales_k4 (bytes 8-15) as int16, each doubled: m0 m0 m1 m1 ... for madd
// against the 16 bsums of the activation.
static inline __m256i k4_mins_doubled(__m128i scales_mins) {
    return _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scales_mins, scales_mins));
}

// m_j * (bsums[2j] + bsums[2j + 1]) for the 8 sub-blocks of 32, as 8 int32 lanes.
static inline __m256i k4_min_products(__m128i scales_mins, const uint8_t* bsums) {
    return _mm256_madd_epi16(k4_mins_doubled(scales_mins), ld256(bsums));
}

// The 8 scales of unpack_scales_k4 (bytes 0-7) as int16.
static inline __m128i k4_scales16(__m128i scales_mins) { return _mm_cvtepu8_epi16(scales_mins); }

// Q3_K: 16 6-bit scales stored +32: the low 4 bits of scale j sit in byte j%8 (low nibble for
// j < 8, high nibble otherwise), its high 2 bits in byte 8 + j%4 at bit 2*(j/4).
// Returns the 16 scales as signed bytes in [-32, 31].
static inline __m128i unpack_scales_q3k(const uint8_t* p) {
    const uint32_t a0 = ld_u32(p), a1 = ld_u32(p + 4), a2 = ld_u32(p + 8);
    const uint32_t s0 = (a0 & 0x0F0F0F0Fu) | ((a2 & 0x03030303u) << 4);                // 0-3
    const uint32_t s1 = (a1 & 0x0F0F0F0Fu) | (((a2 >> 2) & 0x03030303u) << 4);         // 4-7
    const uint32_t s2 = ((a0 >> 4) & 0x0F0F0F0Fu) | (((a2 >> 4) & 0x03030303u) << 4);  // 8-11
    const uint32_t s3 = ((a1 >> 4) & 0x0F0F0F0Fu) | (((a2 >> 6) & 0x03030303u) << 4);  // 12-15
    return _mm_sub_epi8(_mm_set_epi32((int)s3, (int)s2, (int)s1, (int)s0), _mm_set1_epi8(32));
}

}  // namespace retort::simd
