#include "kernels/packed.h"

#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"

#include <cassert>
#include <cstring>

namespace retort {

namespace {

// Per-type facts of the 32-element packed layout.
struct Layout32 {
    size_t block_bytes;   // original block: f16 scale + quants
    int chunks;           // 64-byte chunks of quants per block (16 rows x 4 bytes)
    uint8_t flip;         // xor applied to every quant byte (Q8_0: signed -> unsigned)
};

bool layout_of(DType type, Layout32* out) {
    switch (type) {
        case DType::Q4_0: *out = {sizeof(BlockQ4_0), 4, 0x00}; return true;
        case DType::Q8_0: *out = {sizeof(BlockQ8_0), 8, 0x80}; return true;
        default: return false;
    }
}

constexpr size_t kChunkBytes = (size_t)kPackRows * 4;
constexpr size_t kScaleBytes = (size_t)kPackRows * 2;

// Where block b's scales and quants sit in a group (see the layout in packed.h).
size_t pair_bytes(const Layout32& l) { return 2 * (kScaleBytes + (size_t)l.chunks * kChunkBytes); }
size_t scales_at(const Layout32& l, int64_t b) { return (size_t)(b / 2) * pair_bytes(l) + (size_t)(b % 2) * kScaleBytes; }
size_t quants_at(const Layout32& l, int64_t b) {
    return (size_t)(b / 2) * pair_bytes(l) + 2 * kScaleBytes + (size_t)(b % 2) * l.chunks * kChunkBytes;
}

void pack_groups32(const Layout32& l, const Matrix& w, int64_t g0, int64_t g1, size_t group_bytes, uint8_t* dst) {
    const int64_t nb = w.cols / 32;
    for (int64_t g = g0; g < g1; ++g) {
        uint8_t* group = dst + (size_t)(g - g0) * group_bytes;
        for (int r = 0; r < kPackRows; ++r) {
            const uint8_t* row = w.row(g * kPackRows + r);
            for (int64_t b = 0; b < nb; ++b) {
                const uint8_t* block = row + (size_t)b * l.block_bytes;
                std::memcpy(group + scales_at(l, b) + (size_t)r * 2, block, 2);
                const uint8_t* qs = block + 2;
                uint8_t* out = group + quants_at(l, b) + (size_t)r * 4;
                for (int p = 0; p < l.chunks; ++p)
                    for (int j = 0; j < 4; ++j) out[(size_t)p * kChunkBytes + j] = qs[p * 4 + j] ^ l.flip;
            }
        }
    }
}

void unpack_row32(const Layout32& l, int64_t cols, const uint8_t* group, int r, uint8_t* dst_row) {
    const int64_t nb = cols / 32;
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t* block = dst_row + (size_t)b * l.block_bytes;
        std::memcpy(block, group + scales_at(l, b) + (size_t)r * 2, 2);
        const uint8_t* in = group + quants_at(l, b) + (size_t)r * 4;
        for (int p = 0; p < l.chunks; ++p)
            for (int j = 0; j < 4; ++j) block[2 + p * 4 + j] = in[(size_t)p * kChunkBytes + j] ^ l.flip;
    }
}

// ---- Q4_K: per super-block of 256 inputs, a 320-byte header then 2048 bytes of quants ----
constexpr size_t kQ4KHeader = 320, kQ4KSuper = kQ4KHeader + 4 * 8 * kChunkBytes;
constexpr size_t kQ4KScales = 64, kQ4KMins = 192;  // header offsets (d at 0, dmin at 32)

void pack_groups_q4_k(const Matrix& w, int64_t g0, int64_t g1, size_t group_bytes, uint8_t* dst) {
    const int64_t nsb = w.cols / kQK_K;
    for (int64_t g = g0; g < g1; ++g) {
        uint8_t* group = dst + (size_t)(g - g0) * group_bytes;
        for (int r = 0; r < kPackRows; ++r) {
            const auto* blocks = reinterpret_cast<const BlockQ4_K*>(w.row(g * kPackRows + r));
            for (int64_t sb = 0; sb < nsb; ++sb) {
                const BlockQ4_K& blk = blocks[sb];
                uint8_t* hdr = group + (size_t)sb * kQ4KSuper;
                std::memcpy(hdr + r * 2, &blk.d, 2);
                std::memcpy(hdr + 32 + r * 2, &blk.dmin, 2);
                for (int j = 0; j < 8; ++j) {
                    uint8_t sc, m;
                    quant::get_scale_min_k4(j, blk.scales, &sc, &m);
                    hdr[kQ4KScales + j * kPackRows + r] = sc;
                    hdr[kQ4KMins + (j / 2) * 2 * kPackRows + r * 2 + j % 2] = m;
                }
                uint8_t* q = hdr + kQ4KHeader;
                for (int jp = 0; jp < 4; ++jp)
                    for (int p = 0; p < 8; ++p)
                        std::memcpy(q + (size_t)(jp * 8 + p) * kChunkBytes + r * 4, blk.qs + jp * 32 + p * 4, 4);
            }
        }
    }
}

void unpack_row_q4_k(int64_t cols, const uint8_t* group, int r, uint8_t* dst_row) {
    auto* blocks = reinterpret_cast<BlockQ4_K*>(dst_row);
    for (int64_t sb = 0; sb < cols / kQK_K; ++sb) {
        BlockQ4_K& blk = blocks[sb];
        const uint8_t* hdr = group + (size_t)sb * kQ4KSuper;
        std::memcpy(&blk.d, hdr + r * 2, 2);
        std::memcpy(&blk.dmin, hdr + 32 + r * 2, 2);
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; ++j) {
            sc[j] = hdr[kQ4KScales + j * kPackRows + r];
            m[j] = hdr[kQ4KMins + (j / 2) * 2 * kPackRows + r * 2 + j % 2];
        }
        // The 12-byte packing get_scale_min_k4 reads (quant_common.h).
        for (int i = 0; i < 4; ++i) {
            blk.scales[i] = (uint8_t)(sc[i] | ((sc[i + 4] >> 4) << 6));
            blk.scales[i + 4] = (uint8_t)(m[i] | ((m[i + 4] >> 4) << 6));
            blk.scales[i + 8] = (uint8_t)((sc[i + 4] & 0xF) | ((m[i + 4] & 0xF) << 4));
        }
        const uint8_t* q = hdr + kQ4KHeader;
        for (int jp = 0; jp < 4; ++jp)
            for (int p = 0; p < 8; ++p)
                std::memcpy(blk.qs + jp * 32 + p * 4, q + (size_t)(jp * 8 + p) * kChunkBytes + r * 4, 4);
    }
}

// ---- Q6_K: per super-block a 288-byte header, then two halves of 1536 bytes of quants ----
constexpr size_t kQ6KHeader = 288, kQ6KHalf = 3 * 8 * kChunkBytes, kQ6KSuper = kQ6KHeader + 2 * kQ6KHalf;

void pack_groups_q6_k(const Matrix& w, int64_t g0, int64_t g1, size_t group_bytes, uint8_t* dst) {
    const int64_t nsb = w.cols / kQK_K;
    for (int64_t g = g0; g < g1; ++g) {
        uint8_t* group = dst + (size_t)(g - g0) * group_bytes;
        for (int r = 0; r < kPackRows; ++r) {
            const auto* blocks = reinterpret_cast<const BlockQ6_K*>(w.row(g * kPackRows + r));
            for (int64_t sb = 0; sb < nsb; ++sb) {
                const BlockQ6_K& blk = blocks[sb];
                uint8_t* hdr = group + (size_t)sb * kQ6KSuper;
                std::memcpy(hdr + r * 2, &blk.d, 2);
                for (int s = 0; s < 16; ++s) hdr[32 + (s / 2) * 2 * kPackRows + r * 2 + s % 2] = (uint8_t)blk.scales[s];
                for (int h = 0; h < 2; ++h) {
                    uint8_t* half = hdr + kQ6KHeader + h * kQ6KHalf;
                    for (int p = 0; p < 8; ++p) {
                        std::memcpy(half + (0 * 8 + p) * kChunkBytes + r * 4, blk.ql + 64 * h + 4 * p, 4);
                        std::memcpy(half + (1 * 8 + p) * kChunkBytes + r * 4, blk.ql + 64 * h + 32 + 4 * p, 4);
                        std::memcpy(half + (2 * 8 + p) * kChunkBytes + r * 4, blk.qh + 32 * h + 4 * p, 4);
                    }
                }
            }
        }
    }
}

void unpack_row_q6_k(int64_t cols, const uint8_t* group, int r, uint8_t* dst_row) {
    auto* blocks = reinterpret_cast<BlockQ6_K*>(dst_row);
    for (int64_t sb = 0; sb < cols / kQK_K; ++sb) {
        BlockQ6_K& blk = blocks[sb];
        const uint8_t* hdr = group + (size_t)sb * kQ6KSuper;
        std::memcpy(&blk.d, hdr + r * 2, 2);
        for (int s = 0; s < 16; ++s) blk.scales[s] = (int8_t)hdr[32 + (s / 2) * 2 * kPackRows + r * 2 + s % 2];
        for (int h = 0; h < 2; ++h) {
            const uint8_t* half = hdr + kQ6KHeader + h * kQ6KHalf;
            for (int p = 0; p < 8; ++p) {
                std::memcpy(blk.ql + 64 * h + 4 * p, half + (0 * 8 + p) * kChunkBytes + r * 4, 4);
                std::memcpy(blk.ql + 64 * h + 32 + 4 * p, half + (1 * 8 + p) * kChunkBytes + r * 4, 4);
                std::memcpy(blk.qh + 32 * h + 4 * p, half + (2 * 8 + p) * kChunkBytes + r * 4, 4);
            }
        }
    }
}

}  // namespace

bool packable(DType type, int64_t rows, int64_t cols) {
    if (rows <= 0 || rows % kPackRows != 0 || cols <= 0) return false;
    if (type == DType::Q4_K || type == DType::Q6_K) return cols % kQK_K == 0;
    Layout32 l{};
    return layout_of(type, &l) && cols % 64 == 0;
}

size_t packed_group_bytes(DType type, int64_t cols) {
    if (type == DType::Q4_K) return (size_t)(cols / kQK_K) * kQ4KSuper;
    if (type == DType::Q6_K) return (size_t)(cols / kQK_K) * kQ6KSuper;
    Layout32 l{};
    if (!layout_of(type, &l)) return 0;
    return (size_t)(cols / 64) * pair_bytes(l);
}

void pack_groups(const Matrix& w, int64_t g0, int64_t g1, uint8_t* dst) {
    assert(packable(w.type(), w.rows, w.cols));
    const size_t group_bytes = packed_group_bytes(w.type(), w.cols);
    if (w.type() == DType::Q4_K) return pack_groups_q4_k(w, g0, g1, group_bytes, dst);
    if (w.type() == DType::Q6_K) return pack_groups_q6_k(w, g0, g1, group_bytes, dst);
    Layout32 l{};
    layout_of(w.type(), &l);
    pack_groups32(l, w, g0, g1, group_bytes, dst);
}

void unpack_row(DType type, int64_t cols, const uint8_t* group, int r, uint8_t* dst_row) {
    if (type == DType::Q4_K) return unpack_row_q4_k(cols, group, r, dst_row);
    if (type == DType::Q6_K) return unpack_row_q6_k(cols, group, r, dst_row);
    Layout32 l{};
    layout_of(type, &l);
    unpack_row32(l, cols, group, r, dst_row);
}

}  // namespace retort
