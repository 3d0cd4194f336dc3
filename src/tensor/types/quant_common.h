// Pieces shared by the reference quantizers in this folder and by the ref dot kernels:
// ggml's rounding rule, the k-quant scale searches, the Q4_K/Q5_K super-block steps both of
// those types take, and the unpacking of packed scales/quants. The block layouts themselves live
// in tensor/blocks.h; this file says how to fill and read them.
#pragma once

#include "tensor/blocks.h"

#include <cstdint>
#include <cstring>

namespace retort::quant {

// Round to nearest, ties to even, as ggml's nearest_int. Adding 1.5 * 2^23 moves the integer
// part into the low mantissa bits, so the FPU's own rounding does the work; |x| < 2^22.
// Bit-for-bit what the k-quants need (std::round would break ties away from zero).
inline int nearest_int(float x) {
    const float shifted = x + 12582912.0f;
    int32_t bits;
    std::memcpy(&bits, &shifted, sizeof(bits));
    return (bits & 0x007fffff) - 0x00400000;
}

// Below this, a group counts as all zero (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

// ---- scale searches (ggml's make_*_quants), implemented in quant_common.cpp ----

// Symmetric: x ~= scale * (L - nmax), L in [0, 2*nmax). Tries 19 candidate scales around
// -nmax/max and keeps the one minimising sum x^2 * (x - scale*l)^2 (ggml's make_qx_quants with
// rmse_type 1 and no importance weights). Returns the scale (0 for an all-zero group).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L);

// Symmetric 3-bit variant (ggml's make_q3_quants with do_rmse): starts from round(x * -nmax/max),
// then moves single quants while that lowers the x^2-weighted error. L gets l + nmax.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L);

// Asymmetric: x ~= scale * L - the_min, L in [0, nmax], the_min >= 0. Sweeps nstep+1 scales
// (rmin + rdelta*i + nmax) / (max - min), each refined by weighted least squares for scale
// and min (ggml's make_qkx2_quants). use_mad: weighted |err| instead of err^2.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad);

// ---- Q4_K / Q5_K super-blocks: what their quantizers and dequantizers share ----

// The scales of one super-block of 256 values x and its quants against them, L[e] in 0..nmax.
// Per sub-block of 32, the best (scale, min) by make_qkx2_quants (sweep from rmin in nstep
// steps), weighted by |x| on top of the sub-block's RMS so that small values still count; the 8
// scales and 8 mins quantized to 6 bits against the largest of each and packed as
// get_scale_min_k4 reads them, under the f16 super-scales d and dmin; then every value
// re-quantized against the scales as stored (after both roundings).
void quantize_super_block_k(const float* x, int nmax, float rmin, int nstep, uint8_t scales[kKScaleSize],
                            uint16_t* d, uint16_t* dmin, uint8_t L[kQK_K]);

// y = d*sc[j] * q - dmin*m[j] for the 8 sub-blocks of one super-block, q unpacked (Q4_K 0..15,
// Q5_K 0..31).
void dequantize_super_block_k(const uint8_t scales[kKScaleSize], uint16_t d, uint16_t dmin, const uint8_t q[kQK_K],
                              float* y);

// ---- packed scales ----

// Q4_K / Q5_K: 8 sub-blocks, each with a 6-bit scale and 6-bit min, packed in 12 bytes:
// bytes 0-3 hold scales 0-3 (low 6 bits) and the top 2 bits of scales 4-7;
// bytes 4-7 hold mins 0-3 (low 6 bits) and the top 2 bits of mins 4-7;
// bytes 8-11 hold the low 4 bits of scale (low nibble) and min (high nibble) of 4-7.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Q3_K: 16 sub-blocks with 6-bit scales stored as (scale + 32), packed in 12 bytes:
// low 4 bits of scale j in bytes 0-7 (j < 8: low nibble of byte j; else high nibble of byte j-8),
// high 2 bits of scale j in byte 8 + j%4 at bit 2*(j/4). Returns scales in [-32, 31].
inline void unpack_q3_k_scales(const uint8_t* packed, int8_t out[16]) {
    for (int j = 0; j < 16; ++j) {
        const int low = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
        const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((low | (high << 4)) - 32);
    }
}

// ---- quants of one super-block, in element order ----
// The k-quants interleave their bits so SIMD code can load 32 bytes at a time; these say
// where element e lives. Dequantizers and ref dots share them, so both read the same bits.

// Q2_K: 2 bits; elements of each 128-half are spread over 32 bytes, 4 per byte:
// element e sits in byte 32*(e/128) + e%32 at bit 2*((e%128)/32). Values 0..3.
inline void unpack_q2_k(const BlockQ2_K& b, uint8_t q[kQK_K]) {
    for (int e = 0; e < kQK_K; ++e)
        q[e] = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

// Q3_K: low 2 bits as Q2_K; the third bit of element e is bit e/32 of hmask[e%32], and a
// CLEAR bit means "subtract 4". Values -4..3.
inline void unpack_q3_k(const BlockQ3_K& b, int8_t q[kQK_K]) {
    for (int e = 0; e < kQK_K; ++e) {
        const int low = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        const bool high = (b.hmask[e % 32] >> (e / 32)) & 1;
        q[e] = (int8_t)(low - (high ? 0 : 4));
    }
}

// Q4_K: each 64-element chunk c uses 32 bytes: element 64c + l in the low nibble of byte
// 32c + l, element 64c + 32 + l in its high nibble. Values 0..15.
inline void unpack_q4_k(const BlockQ4_K& b, uint8_t q[kQK_K]) {
    for (int e = 0; e < kQK_K; ++e) {
        const uint8_t byte = b.qs[32 * (e / 64) + e % 32];
        q[e] = (e % 64) < 32 ? (byte & 0xF) : (byte >> 4);
    }
}

// Q5_K: low 4 bits as Q4_K; the fifth bit of element e is bit e/32 of qh[e%32]. Values 0..31.
inline void unpack_q5_k(const BlockQ5_K& b, uint8_t q[kQK_K]) {
    for (int e = 0; e < kQK_K; ++e) {
        const uint8_t byte = b.qs[32 * (e / 64) + e % 32];
        const int low = (e % 64) < 32 ? (byte & 0xF) : (byte >> 4);
        const int high = (b.qh[e % 32] >> (e / 32)) & 1;
        q[e] = (uint8_t)(low | (high << 4));
    }
}

// Q6_K: each 128-half h uses 64 bytes of ql and 32 of qh. Within it, element 32k + l
// (k = 0..3, l = 0..31) takes its low 4 bits from ql[64h + 32*(k%2) + l] (low nibble for
// k < 2, high nibble for k >= 2) and its high 2 bits from qh[32h + l] at bit 2k.
// Stored with +32 offset; returns -32..31.
inline void unpack_q6_k(const BlockQ6_K& b, int8_t q[kQK_K]) {
    for (int e = 0; e < kQK_K; ++e) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        const uint8_t lo_byte = b.ql[64 * h + 32 * (k % 2) + l];
        const int low = k < 2 ? (lo_byte & 0xF) : (lo_byte >> 4);
        const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
        q[e] = (int8_t)((low | (high << 4)) - 32);
    }
}

}  // namespace retort::quant
