// Known-answer tests: blocks built by hand from the documented bit layouts, and the values
// their dequantization must give, worked out here independently of src/tensor/types.
// Scales are picked exactly representable in f16 (0.5 = 0x3800, 0.25 = 0x3400, 1.0 = 0x3C00)
// so every expected value is exact and compared with ==.

#include "tensor/blocks.h"
#include "tensor/dtype.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace retort {
namespace {

constexpr uint16_t kF16Quarter = 0x3400, kF16Half = 0x3800, kF16One = 0x3C00;

std::vector<float> dequantize(DType t, const void* block, int64_t n) {
    std::vector<float> y((size_t)n);
    traits(t).dequantize_row(block, y.data(), n);
    return y;
}

// Q4_0: byte j = element j (low nibble) | element j+16 (high nibble); x = d * (q - 8).
TEST(KnownAnswer, Q4_0) {
    BlockQ4_0 b{};
    b.d = kF16Half;
    for (int j = 0; j < 16; ++j) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    const std::vector<float> y = dequantize(DType::Q4_0, &b, 32);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], 0.5f * (j - 8)) << j;            // -4.0, -3.5, ..., 3.5
        EXPECT_EQ(y[j + 16], 0.5f * (7 - j)) << j + 16;  //  3.5,  3.0, ..., -4.0
    }
}

// Q8_0: x = d * q.
TEST(KnownAnswer, Q8_0) {
    BlockQ8_0 b{};
    b.d = kF16Quarter;
    for (int j = 0; j < 32; ++j) b.qs[j] = (int8_t)(4 * j - 64);  // -64, -60, ..., 60
    const std::vector<float> y = dequantize(DType::Q8_0, &b, 32);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (float)(j - 16)) << j;
}

// Q8_K: f32 d, x = d * q (bsums play no part in dequantization).
TEST(KnownAnswer, Q8_K) {
    BlockQ8_K b{};
    b.d = 0.125f;
    for (int e = 0; e < 256; ++e) b.qs[e] = (int8_t)(e - 128);
    const std::vector<float> y = dequantize(DType::Q8_K, &b, 256);
    for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], 0.125f * (e - 128)) << e;
}

// Q5_0: as Q4_0 with the fifth bit of element j in bit j of qh (little-endian u32); q - 16.
TEST(KnownAnswer, Q5_0) {
    BlockQ5_0 b{};
    b.d = kF16One;
    for (int j = 0; j < 16; ++j) b.qs[j] = (uint8_t)(3 | (12 << 4));  // low 3, high 12
    // Fifth bit set for elements 0, 9 (byte 1 bit 1), 16 (byte 2 bit 0) and 31 (byte 3 bit 7).
    b.qh[0] = 0x01;
    b.qh[1] = 0x02;
    b.qh[2] = 0x01;
    b.qh[3] = 0x80;
    const std::vector<float> y = dequantize(DType::Q5_0, &b, 32);
    for (int e = 0; e < 32; ++e) {
        const bool high = e == 0 || e == 9 || e == 16 || e == 31;
        const int low = e < 16 ? 3 : 12;
        EXPECT_EQ(y[e], (float)(low + (high ? 16 : 0) - 16)) << e;
    }
}

// Q4_K: 8 sub-blocks of 32, 6-bit scales sc[j] and mins m[j] packed in 12 bytes, then
// x = d * sc[j] * q - dmin * m[j]. Chosen values (two per sub-block, 6 bits each):
//   sc = { 1, 2, 3, 4, 17, 33, 50, 63 }   m = { 0, 5, 10, 15, 20, 40, 60, 63 }
// Packing, worked by hand:
//   bytes 0-3:  sc[0..3] in bits 0-5, top two bits of sc[4..7] in bits 6-7
//               sc[4]=17=0b01'0001 -> top 1;  sc[5]=33=0b10'0001 -> 2;
//               sc[6]=50=0b11'0010 -> 3;      sc[7]=63=0b11'1111 -> 3
//   bytes 4-7:  m[0..3] in bits 0-5, top two bits of m[4..7] in bits 6-7
//               m[4]=20=0b01'0100 -> 1;  m[5]=40=0b10'1000 -> 2;  m[6]=60=0b11'1100 -> 3;  m[7] -> 3
//   bytes 8-11: low 4 bits of sc[4..7] | low 4 bits of m[4..7] << 4
// Quants: chunk c of 64 elements uses bytes 32c..32c+31; byte 32c+l holds element 64c+l in
// its low nibble and 64c+32+l in its high nibble. We store low = l%16, high = 15 - l%16.
TEST(KnownAnswer, Q4_K) {
    BlockQ4_K b{};
    b.d = kF16One;
    b.dmin = kF16Half;
    const uint8_t scales[12] = {
        1 | (1 << 6), 2 | (2 << 6), 3 | (3 << 6), 4 | (3 << 6),   // sc 0-3, top bits of sc 4-7
        0 | (1 << 6), 5 | (2 << 6), 10 | (3 << 6), 15 | (3 << 6), // m 0-3, top bits of m 4-7
        1 | (4 << 4), 1 | (8 << 4), 2 | (12 << 4), 15 | (15 << 4) // low nibbles of sc/m 4-7
    };
    std::memcpy(b.scales, scales, 12);
    for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = (uint8_t)((l % 16) | ((15 - l % 16) << 4));

    const int sc[8] = {1, 2, 3, 4, 17, 33, 50, 63};
    const int m[8] = {0, 5, 10, 15, 20, 40, 60, 63};
    const std::vector<float> y = dequantize(DType::Q4_K, &b, 256);
    for (int e = 0; e < 256; ++e) {
        const int r = e % 64;
        const int q = r < 32 ? r % 16 : 15 - (r - 32) % 16;
        const int j = e / 32;
        EXPECT_EQ(y[e], 1.0f * sc[j] * q - 0.5f * m[j]) << "element " << e;
    }
}

// Q6_K: 16 sub-blocks of 16, int8 scales, q = (4 low bits | 2 high bits << 4) - 32.
// Half h (elements 128h..128h+127) uses ql[64h..64h+63] and qh[32h..32h+31]; element
// 128h + 32k + l takes its low bits from ql[64h + l] (k=0 low nibble, k=2 high nibble) or
// ql[64h + 32 + l] (k=1 low, k=3 high), and its high bits from qh[32h + l] at bit 2k.
// We store ql[i] = i (so nibbles reveal the byte index) and qh[i] = 0b11'10'01'00
// (high bits 0, 1, 2, 3 for k = 0, 1, 2, 3).
TEST(KnownAnswer, Q6_K) {
    BlockQ6_K b{};
    b.d = kF16Half;
    for (int i = 0; i < 128; ++i) b.ql[i] = (uint8_t)i;
    for (int i = 0; i < 64; ++i) b.qh[i] = 0xE4;
    for (int j = 0; j < 16; ++j) b.scales[j] = (int8_t)(j - 8);  // negative scales too

    const std::vector<float> y = dequantize(DType::Q6_K, &b, 256);
    for (int e = 0; e < 256; ++e) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        int low;
        switch (k) {
            case 0: low = (64 * h + l) & 0xF; break;
            case 1: low = (64 * h + 32 + l) & 0xF; break;
            case 2: low = (64 * h + l) >> 4; break;
            default: low = (64 * h + 32 + l) >> 4; break;
        }
        const int q = (low | (k << 4)) - 32;
        EXPECT_EQ(y[e], 0.5f * (e / 16 - 8) * q) << "element " << e;
    }
}

// Q3_K: q = (2 low bits) - (hmask bit clear ? 4 : 0); 6-bit scales stored as s + 32:
// low nibble of scale j in byte j (j < 8) or the high nibble of byte j - 8, top 2 bits in
// byte 8 + j%4 at bit 2*(j/4). Here every scale is 33 - 32 = 1 except scale 5 = 63 - 32 = 31
// and scale 12 = 0 - 32 = -32.
TEST(KnownAnswer, Q3_K) {
    BlockQ3_K b{};
    b.d = kF16One;
    // scale j stored value v_j: 33 = 0b10'0001 (low 1, top 2); 63 = 0b11'1111; 0.
    auto stored = [](int j) { return j == 5 ? 63 : j == 12 ? 0 : 33; };
    for (int j = 0; j < 16; ++j) {
        const int v = stored(j);
        if (j < 8) b.scales[j] |= (uint8_t)(v & 0xF);
        else b.scales[j - 8] |= (uint8_t)((v & 0xF) << 4);
        b.scales[8 + j % 4] |= (uint8_t)((v >> 4) << (2 * (j / 4)));
    }
    // Quants: 2-bit value of element e = (e / 32) % 4, third bit set where e is even.
    for (int e = 0; e < 256; ++e) {
        b.qs[32 * (e / 128) + e % 32] |= (uint8_t)(((e / 32) % 4) << (2 * ((e % 128) / 32)));
        if (e % 2 == 0) b.hmask[e % 32] |= (uint8_t)(1 << (e / 32));
    }
    const std::vector<float> y = dequantize(DType::Q3_K, &b, 256);
    for (int e = 0; e < 256; ++e) {
        const int q = (e / 32) % 4 - (e % 2 == 0 ? 0 : 4);
        EXPECT_EQ(y[e], (float)((stored(e / 16) - 32) * q)) << "element " << e;
    }
}

// Q2_K: x = d * (scales[j] & 15) * q - dmin * (scales[j] >> 4), q = 2 bits; element e sits
// in byte 32*(e/128) + e%32 at bit 2*((e%128)/32).
TEST(KnownAnswer, Q2_K) {
    BlockQ2_K b{};
    b.d = kF16Half;
    b.dmin = kF16Quarter;
    for (int j = 0; j < 16; ++j) b.scales[j] = (uint8_t)(j | ((15 - j) << 4));
    for (int i = 0; i < 64; ++i) b.qs[i] = 0xE4;  // values 0,1,2,3 at shifts 0,2,4,6
    const std::vector<float> y = dequantize(DType::Q2_K, &b, 256);
    for (int e = 0; e < 256; ++e) {
        const int q = (e % 128) / 32, j = e / 16;
        EXPECT_EQ(y[e], 0.5f * j * q - 0.25f * (15 - j)) << "element " << e;
    }
}

}  // namespace
}  // namespace retort
