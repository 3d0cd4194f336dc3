// Packed quantization block layouts, byte-compatible with GGUF/ggml files.
// Each struct is pinned by a static_assert: a wrong size would silently misread every file.
#pragma once

#include <cstdint>

namespace retort {

constexpr int kQK4_0 = 32, kQK4_1 = 32, kQK5_0 = 32, kQK5_1 = 32, kQK8_0 = 32, kQK8_1 = 32;
constexpr int kQK_K = 256;        // super-block size of the k-quants
constexpr int kKScaleSize = 12;   // packed 6-bit scales/mins of Q4_K and Q5_K

// x = d * (q - 8), q in 0..15; qs[j] holds element j (low nibble) and j+16 (high nibble).
struct BlockQ4_0 { uint16_t d; uint8_t qs[kQK4_0 / 2]; };
// x = d * q + m
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[kQK4_1 / 2]; };
// x = d * (q - 16), 5th bit of element j in bit j of qh
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[kQK5_0 / 2]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[kQK5_1 / 2]; };
// x = d * q
struct BlockQ8_0 { uint16_t d; int8_t qs[kQK8_0]; };
// activation partner of Q4_1/Q5_1: s = d * sum(qs)
struct BlockQ8_1 { uint16_t d, s; int8_t qs[kQK8_1]; };

// 2-bit: 16 sub-blocks of 16, 4-bit scale and 4-bit min per sub-block.
struct BlockQ2_K { uint8_t scales[kQK_K / 16]; uint8_t qs[kQK_K / 4]; uint16_t d, dmin; };
// 3-bit: low 2 bits in qs, high bit in hmask, 6-bit signed scales packed in 12 bytes.
struct BlockQ3_K { uint8_t hmask[kQK_K / 8]; uint8_t qs[kQK_K / 4]; uint8_t scales[12]; uint16_t d; };
// 4-bit: 8 sub-blocks of 32, 6-bit scales and mins.
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[kKScaleSize]; uint8_t qs[kQK_K / 2]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[kKScaleSize]; uint8_t qh[kQK_K / 8]; uint8_t qs[kQK_K / 2]; };
// 6-bit: low 4 bits in ql, high 2 in qh, 16 int8 scales.
struct BlockQ6_K { uint8_t ql[kQK_K / 2]; uint8_t qh[kQK_K / 4]; int8_t scales[kQK_K / 16]; uint16_t d; };
// activation partner of the k-quants: float scale, bsums = sums of each 16 quants.
struct BlockQ8_K { float d; int8_t qs[kQK_K]; int16_t bsums[kQK_K / 16]; };

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace retort
