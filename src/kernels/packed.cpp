#include "kernels/packed.h"

#include "tensor/blocks.h"
#include "tensor/types/quant_common.h"

#include <cassert>
#include <cstring>

namespace retort {

namespace {

// Each layout is written once, as the correspondence between the bytes of one file row and its
// row r in a packed group; Transfer carries bytes along it in either direction, so packing and
// unpacking cannot drift apart.
struct Transfer {
    bool to_group;  // file row -> packed group (packing), else back (unpacking)

    // n bytes between a field of the file's block and its place in the group, each xor-ed with
    // `flip` (its own inverse).
    void bytes(uint8_t* block_field, uint8_t* group_field, size_t n, uint8_t flip = 0) const {
        uint8_t* dst = to_group ? group_field : block_field;
        const uint8_t* src = to_group ? block_field : group_field;
        if (flip == 0) {
            std::memcpy(dst, src, n);
            return;
        }
        for (size_t i = 0; i < n; ++i) dst[i] = src[i] ^ flip;
    }
};

constexpr size_t kChunkBytes = (size_t)kPackRows * 4;  // 4 inputs of 16 rows
constexpr size_t kScaleBytes = (size_t)kPackRows * 2;  // one f16 per row

// ---- Q4_0, Q8_0: pairs of 32-input blocks ----

struct Layout32 {
    size_t block_bytes;  // file block: f16 scale + quants
    int chunks;          // chunks of quants per block
    uint8_t flip;        // xor on every quant byte (Q8_0: signed -> unsigned)
    size_t pair_bytes() const { return 2 * (kScaleBytes + (size_t)chunks * kChunkBytes); }
};

bool layout32_of(DType type, Layout32* out) {
    switch (type) {
        case DType::Q4_0: *out = {sizeof(BlockQ4_0), 4, 0x00}; return true;
        case DType::Q8_0: *out = {sizeof(BlockQ8_0), 8, 0x80}; return true;
        default: return false;
    }
}

void transfer_row32(const Layout32& l, int64_t cols, uint8_t* row, uint8_t* group, int r, Transfer t) {
    for (int64_t b = 0; b < cols / 32; ++b) {
        uint8_t* block = row + (size_t)b * l.block_bytes;
        uint8_t* pair = group + (size_t)(b / 2) * l.pair_bytes();
        t.bytes(block, pair + (size_t)(b % 2) * kScaleBytes + r * 2, 2);
        uint8_t* quants = pair + 2 * kScaleBytes + (size_t)(b % 2) * l.chunks * kChunkBytes;
        for (int p = 0; p < l.chunks; ++p) t.bytes(block + 2 + p * 4, quants + p * kChunkBytes + r * 4, 4, l.flip);
    }
}

// ---- Q4_K: per super-block of 256 inputs, a 320-byte header then 2048 bytes of quants ----
static_assert(packed_q4_k::kSuper == packed_q4_k::kHeader + 4 * 8 * kChunkBytes);

void transfer_row_q4_k(int64_t cols, uint8_t* row, uint8_t* group, int r, Transfer t) {
    auto* blocks = reinterpret_cast<BlockQ4_K*>(row);
    for (int64_t sb = 0; sb < cols / kQK_K; ++sb) {
        BlockQ4_K& blk = blocks[sb];
        uint8_t* hdr = group + (size_t)sb * packed_q4_k::kSuper;
        t.bytes(reinterpret_cast<uint8_t*>(&blk.d), hdr + r * 2, 2);
        t.bytes(reinterpret_cast<uint8_t*>(&blk.dmin), hdr + packed_q4_k::kDmin + r * 2, 2);
        // The 6-bit scales and mins: one byte each in the group, 12 packed bytes in the file.
        uint8_t* sc[8];
        uint8_t* mn[8];
        for (int j = 0; j < 8; ++j) {
            sc[j] = hdr + packed_q4_k::kScales + j * kPackRows + r;
            mn[j] = hdr + packed_q4_k::kMins + (j / 2) * 2 * kPackRows + r * 2 + j % 2;
        }
        if (t.to_group) {
            for (int j = 0; j < 8; ++j) quant::get_scale_min_k4(j, blk.scales, sc[j], mn[j]);
        } else {
            for (int i = 0; i < 4; ++i) {  // the inverse of get_scale_min_k4 (quant_common.h)
                blk.scales[i] = (uint8_t)(*sc[i] | ((*sc[i + 4] >> 4) << 6));
                blk.scales[i + 4] = (uint8_t)(*mn[i] | ((*mn[i + 4] >> 4) << 6));
                blk.scales[i + 8] = (uint8_t)((*sc[i + 4] & 0xF) | ((*mn[i + 4] & 0xF) << 4));
            }
        }
        uint8_t* q = hdr + packed_q4_k::kHeader;
        for (int jp = 0; jp < 4; ++jp)
            for (int p = 0; p < 8; ++p) t.bytes(blk.qs + jp * 32 + p * 4, q + (jp * 8 + p) * kChunkBytes + r * 4, 4);
    }
}

// ---- Q6_K: per super-block a 288-byte header, then two halves of 1536 bytes of quants ----
static_assert(packed_q6_k::kHalf == 3 * 8 * kChunkBytes);

void transfer_row_q6_k(int64_t cols, uint8_t* row, uint8_t* group, int r, Transfer t) {
    auto* blocks = reinterpret_cast<BlockQ6_K*>(row);
    for (int64_t sb = 0; sb < cols / kQK_K; ++sb) {
        BlockQ6_K& blk = blocks[sb];
        uint8_t* hdr = group + (size_t)sb * packed_q6_k::kSuper;
        t.bytes(reinterpret_cast<uint8_t*>(&blk.d), hdr + r * 2, 2);
        for (int s = 0; s < 16; ++s)
            t.bytes(reinterpret_cast<uint8_t*>(&blk.scales[s]), hdr + packed_q6_k::kScales + (s / 2) * 2 * kPackRows + r * 2 + s % 2, 1);
        for (int h = 0; h < 2; ++h) {
            uint8_t* half = hdr + packed_q6_k::kHeader + h * packed_q6_k::kHalf;
            for (int p = 0; p < 8; ++p) {
                t.bytes(blk.ql + 64 * h + 4 * p, half + (0 * 8 + p) * kChunkBytes + r * 4, 4);
                t.bytes(blk.ql + 64 * h + 32 + 4 * p, half + (1 * 8 + p) * kChunkBytes + r * 4, 4);
                t.bytes(blk.qh + 32 * h + 4 * p, half + (2 * 8 + p) * kChunkBytes + r * 4, 4);
            }
        }
    }
}

// Row r of a group <-> one file row of `cols` inputs, for any packable type.
void transfer_row(DType type, int64_t cols, uint8_t* row, uint8_t* group, int r, Transfer t) {
    Layout32 l{};
    if (type == DType::Q4_K) return transfer_row_q4_k(cols, row, group, r, t);
    if (type == DType::Q6_K) return transfer_row_q6_k(cols, row, group, r, t);
    const bool ok = layout32_of(type, &l);
    assert(ok);
    (void)ok;
    transfer_row32(l, cols, row, group, r, t);
}

}  // namespace

bool packable(DType type, int64_t rows, int64_t cols) {
    if (rows <= 0 || rows % kPackRows != 0 || cols <= 0) return false;
    if (type == DType::Q4_K || type == DType::Q6_K) return cols % kQK_K == 0;
    Layout32 l{};
    return layout32_of(type, &l) && cols % 64 == 0;
}

size_t packed_group_bytes(DType type, int64_t cols) {
    if (type == DType::Q4_K) return (size_t)(cols / kQK_K) * packed_q4_k::kSuper;
    if (type == DType::Q6_K) return (size_t)(cols / kQK_K) * packed_q6_k::kSuper;
    Layout32 l{};
    if (!layout32_of(type, &l)) return 0;
    return (size_t)(cols / 64) * l.pair_bytes();
}

PackedLayout packed_layout(DType type, int64_t rows, int64_t cols) {
    assert(packable(type, rows, cols));
    PackedLayout l;
    l.type = type;
    l.rows = rows;
    l.cols = cols;
    l.slice_cols = cols;
    const size_t whole = packed_group_bytes(type, cols);
    Layout32 l32{};
    if (whole > kWholeGroupBytes && layout32_of(type, &l32)) {
        // Slices as even as the block pairs allow.
        const int64_t want = (int64_t)((whole + kSliceGroupBytes - 1) / kSliceGroupBytes);
        const int64_t per = (cols + want - 1) / want;
        l.slice_cols = (per + 63) / 64 * 64;
    }
    l.n_slices = (int)((cols + l.slice_cols - 1) / l.slice_cols);
    return l;
}

void pack_matrix(const Matrix& w, uint8_t* dst) {
    const PackedLayout l = packed_layout(w.type(), w.rows, w.cols);
    for (int k = 0; k < l.n_slices; ++k) {
        Matrix slice = w;  // the same rows, seen from input slice_begin(k) on
        slice.data = w.data + row_bytes(*w.traits, l.slice_begin(k));
        slice.cols = l.slice_width(k);
        pack_groups(slice, 0, l.groups(), dst + l.slice_offset(k));
    }
}

void unpack_matrix_row(const PackedLayout& l, const uint8_t* packed, int64_t r, uint8_t* dst_row) {
    const TypeTraits& tr = traits(l.type);
    for (int k = 0; k < l.n_slices; ++k)
        unpack_row(l.type, l.slice_width(k), packed + l.group_offset(k, r / kPackRows), (int)(r % kPackRows),
                   dst_row + row_bytes(tr, l.slice_begin(k)));
}

void pack_groups(const Matrix& w, int64_t g0, int64_t g1, uint8_t* dst) {
    assert(packable(w.type(), w.rows, w.cols));
    const size_t group_bytes = packed_group_bytes(w.type(), w.cols);
    for (int64_t g = g0; g < g1; ++g)
        for (int r = 0; r < kPackRows; ++r)  // packing only reads the row: the cast is for the shared walk
            transfer_row(w.type(), w.cols, const_cast<uint8_t*>(w.row(g * kPackRows + r)),
                         dst + (size_t)(g - g0) * group_bytes, r, Transfer{true});
}

void unpack_row(DType type, int64_t cols, const uint8_t* group, int r, uint8_t* dst_row) {
    // Unpacking only reads the group: the cast is for the shared walk.
    transfer_row(type, cols, dst_row, const_cast<uint8_t*>(group), r, Transfer{false});
}

}  // namespace retort
