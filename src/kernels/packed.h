// Packed weights: a weight matrix rewritten at load time into the layout the AVX-512 matrix
// kernels want, so that one 512-bit register holds 4 consecutive inputs of 16 output rows and a
// VNNI instruction (vpdpbusd) against 4 broadcast activation bytes advances all 16 dot products
// at once. No horizontal sums and no per-row scale shuffles remain in the inner loop, and the
// same 16 rows serve up to kMaxPackedTokens activation rows per pass over them.
//
// Layout (types with 32-element blocks and one f16 scale: Q4_0, Q8_0). Rows go in groups of
// kPackRows; group g holds rows 16g..16g+15 as one stream of block pairs (n/64 of them):
//   scales  [2 blocks][16 rows] f16                   the rows' scales of blocks 2i and 2i+1
//   quants  [2 blocks][chunks][16 rows][4 bytes]      dword r of chunk p = dword p of row r's block
// Keeping a pair's scales next to its quants makes the group one sequential stream (two streams
// per group defeat the hardware prefetcher when the weights come from DRAM), and 64 bytes of
// scales keep every chunk on its own cache line.
// Q4_0: 4 chunks of the original nibble bytes: the low nibbles of chunk p are inputs 4p..4p+3 of
//       the block, the high nibbles inputs 16+4p..16+4p+3 (ggml's own nibble order), unsigned 0..15.
// Q8_0: 8 chunks of the int8 quants with the sign bit flipped (q + 128 as unsigned), because
//       vpdpbusd multiplies unsigned by signed bytes.
// The kernels subtract offset x (sum of the activation block) to undo the unsigned shift
// (offset 8 for Q4_0, 128 for Q8_0); the activation sums come with the converted activations.
//
// Q4_K (super-blocks of 256 inputs, 8 sub-blocks of 32 with 6-bit scales and mins): per
// super-block a header, then the quants:
//   d, dmin [16 rows] f16 each                       (64 bytes)
//   scales  [8 sub-blocks][16 rows] u8               (128 bytes, unpacked from the 12-byte form)
//   mins    [4 sub-block pairs][16 rows][2] u8       (128 bytes: pairs feed one vpdpwssd)
//   quants  [4 sub-block pairs][8 chunks][16 rows][4 bytes]: chunk p of pair j = dword p of the
//           row's qs[32j..32j+31]; low nibbles are inputs 4p.. of sub-block 2j, high of 2j+1.
// 148 bytes per row and super-block instead of 144: the scales are spread out so no kernel
// has to shuffle them. A header at the file's size (6-bit values as nibbles and crumbs, unpacked
// per super-block) decoded no faster on the 1.5B and 7B shapes (docs/bench.md, 2026-12-04 20:22).
//
// Q6_K (super-blocks of 256, 16 int8 scales of 16 inputs, 6-bit quants): per super-block
//   d       [16 rows] f16                            (32 bytes)
//   scales  [8 scale pairs][16 rows][2] int8         (256 bytes)
//   2 halves of 128 inputs, each [L0: 8 chunks][L1: 8 chunks][H: 8 chunks]: chunk p of L0, L1,
//           H = dword p of the row's ql[64h..], ql[64h+32..], qh[32h..] (ggml's bit order, so
//           input 128h + 32k + 4p + i takes its low 4 bits from L(k%2) and its top 2 from H).
// Exactly 210 bytes per row and super-block, as in the file.
// A Q4_0/Q8_0/Q6_K group is exactly as large as its 16 rows were (Q4_K: 2.8% larger), so packing
// costs (almost) no memory once the file's pages are released.
//
// Column slices. A group of long rows is bigger than L1 (ffn_down of R1-Distill-Qwen-1.5B: 8960
// inputs, 79 KiB per group in Q4_0), so streaming it evicts the activation row it meets (9.5 KiB)
// and every group reads that row again from L2, in the way of the weights. Such a matrix is packed
// as column slices instead: slice k holds inputs [k * slice_cols, ...) of every row, packed as a
// matrix of its own (groups as above), the slices one after another. The matmul driver walks a
// thread's rows slice by slice (prompts), or a thread's share of the slices' groups in memory
// order (decoding), so the slice's activations stay in L1 while its groups stream past, and each
// stream is sequential. Only the 32-input-block types are sliced: the
// 1.5B model, sliced against whole groups on alternate decode steps, decoded 2.7% faster in Q4_0
// at 2 threads and ~1% in Q8_0, but 2-4% slower in Q4_K_M (not pinned down; unlike those, its
// k-quant kernels prefetch ahead in the stream, which each slice's end cuts short). Numbers in
// docs/bench.md.
//
// Activation tiles. The Q4_0 and Q8_0 kernels for 2..8 activation rows read them from a tile
// (Q8_0TileBlock, kernel_table.h) that the matmul driver builds once per product: per block of
// 32 inputs, the rows' quants, f32 scales and negated sums side by side. Every per-row operand
// is then one broadcast load off one pointer. Row pointers (one per activation row, one per sums
// row) did not fit the 16 general registers at 8 rows, and each f16 scale and sum took scalar
// work per row and block.
#pragma once

#include "tensor/tensor.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace retort {

constexpr int64_t kPackRows = 16;
constexpr int kMaxPackedTokens = 8;

// Byte offsets within one packed super-block of the k-quant layouts above: the packer writes and
// the kernels read by these alone.
namespace packed_q4_k {
constexpr size_t kDmin = 32, kScales = 64, kMins = 192, kHeader = 320, kSuper = kHeader + 2048;
}
namespace packed_q6_k {
constexpr size_t kScales = 32, kHeader = 288, kHalf = 1536, kSuper = kHeader + 2 * kHalf;
}

// Whether `type` has a packed layout and a [rows, cols] matrix fits it (rows a multiple of 16,
// cols of 64, or of 256 for Q4_K and Q6_K).
bool packable(DType type, int64_t rows, int64_t cols);

// Bytes of one packed group of 16 rows of `cols` inputs.
size_t packed_group_bytes(DType type, int64_t cols);

// A Q4_0 or Q8_0 group up to this size stays whole; a larger one is cut into slices of about
// kSliceGroupBytes (one slice of a group and the activations it meets fit L1 together).
constexpr size_t kWholeGroupBytes = 32 << 10;
constexpr size_t kSliceGroupBytes = 24 << 10;

// Where the slices of a packed [rows, cols] matrix lie. All slices are slice_cols wide but the
// last, which may be narrower; one slice (slice_cols == cols) is the plain layout.
struct PackedLayout {
    DType type = DType::F32;
    int64_t rows = 0, cols = 0;
    int64_t slice_cols = 0;
    int n_slices = 0;

    int64_t groups() const { return rows / kPackRows; }
    int64_t slice_begin(int k) const { return k * slice_cols; }
    int64_t slice_width(int k) const { return std::min(slice_cols, cols - slice_begin(k)); }
    size_t group_bytes(int k) const { return packed_group_bytes(type, slice_width(k)); }
    // Slice k from the start of the packed matrix.
    size_t slice_offset(int k) const { return (size_t)k * (size_t)groups() * packed_group_bytes(type, slice_cols); }
    // Group g of slice k from the start of the packed matrix (g == groups(): the slice's end).
    size_t group_offset(int k, int64_t g) const { return slice_offset(k) + (size_t)g * group_bytes(k); }
    size_t bytes() const { return group_offset(n_slices - 1, groups()); }
};

// The layout pack_matrix writes for a packable [rows, cols] matrix of `type`.
PackedLayout packed_layout(DType type, int64_t rows, int64_t cols);

// Bytes of a whole packed [rows, cols] matrix.
inline size_t packed_matrix_bytes(DType type, int64_t rows, int64_t cols) {
    return packed_layout(type, rows, cols).bytes();
}

// Writes w (which must be packable) into dst in packed_layout(w's type and shape).
void pack_matrix(const Matrix& w, uint8_t* dst);

// Rebuilds row r of a matrix packed by pack_matrix in the original block format.
void unpack_matrix_row(const PackedLayout& layout, const uint8_t* packed, int64_t r, uint8_t* dst_row);

// Writes groups [g0, g1) of w (which must be packable) as whole groups (one slice) into dst,
// group g at dst + (g - g0) * packed_group_bytes(...). pack_matrix writes each slice this way.
void pack_groups(const Matrix& w, int64_t g0, int64_t g1, uint8_t* dst);

// Rebuilds row r (0..15) of a packed group in the original block format: the inverse of
// pack_groups, for tests and for anything that needs a plain row back.
void unpack_row(DType type, int64_t cols, const uint8_t* group, int r, uint8_t* dst_row);

}  // namespace retort
