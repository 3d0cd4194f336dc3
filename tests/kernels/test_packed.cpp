// Packed weights (kernels/packed.h): the layout is a lossless rearrangement of the file's rows,
// the packed kernels compute the reference dot products, and a result does not depend on how
// many activation rows shared the call (so decoding sequences together gives the same tokens as
// decoding them one at a time).
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kernels/packed.h"
#include "tensor/blocks.h"
#include "util/fp16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace retort {
namespace {

const DType kPackedTypes[] = {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K};

// The block sums of activation row m (ActBuffer::sums).
const int32_t* sums_of(const ActBuffer& act, int m) { return act.sums.data() + m * act.sums_row(); }

// A [rows, cols] matrix of `type` from N(0, 0.05) weights, its bytes kept alive by the caller.
Matrix random_matrix(DType type, int64_t rows, int64_t cols, uint32_t seed, std::vector<uint8_t>& bytes) {
    const TypeTraits& tr = traits(type);
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 0.05f);
    Matrix w;
    w.name = "w";
    w.traits = &tr;
    w.rows = rows;
    w.cols = cols;
    w.row_bytes = row_bytes(tr, cols);
    bytes.assign(w.row_bytes * (size_t)rows, 0);
    std::vector<float> row((size_t)cols);
    for (int64_t r = 0; r < rows; ++r) {
        for (float& v : row) v = nd(rng);
        tr.quantize_row(row.data(), bytes.data() + (size_t)r * w.row_bytes, cols);
    }
    w.data = bytes.data();
    return w;
}

// w in the layout matmul reads (column slices where its rows are long).
std::vector<uint8_t> pack(const Matrix& w) {
    std::vector<uint8_t> out(packed_matrix_bytes(w.type(), w.rows, w.cols));
    pack_matrix(w, out.data());
    return out;
}

// Activations with a few large channels and some at the int8 extremes after quantization, so the
// offset correction (sum of the block) is exercised far from zero.
std::vector<float> activations(int64_t n_tok, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x((size_t)(n_tok * cols));
    for (size_t i = 0; i < x.size(); ++i) x[i] = nd(rng) * (i % 97 == 0 ? 30.0f : 1.0f) + (i % 5 == 0 ? 2.0f : 0.0f);
    return x;
}

std::vector<const KernelTable*> packing_tables() {
    std::vector<const KernelTable*> out;
    for (const KernelTable* kt : {&ref_kernels(), avx2_kernels(), avx512_kernels()})
        if (kt != nullptr && kt->gemm_packed[(int)DType::Q4_0] != nullptr) out.push_back(kt);
    return out;
}

TEST(PackedLayout, WhatCanBePacked) {
    EXPECT_TRUE(packable(DType::Q4_0, 16, 64));
    EXPECT_TRUE(packable(DType::Q8_0, 8960, 1536));
    EXPECT_FALSE(packable(DType::Q4_0, 24, 64));   // rows not a multiple of 16
    EXPECT_FALSE(packable(DType::Q4_0, 16, 96));   // an odd number of blocks
    EXPECT_TRUE(packable(DType::Q4_K, 16, 256));
    EXPECT_FALSE(packable(DType::Q4_K, 16, 64));   // not whole super-blocks
    EXPECT_TRUE(packable(DType::Q6_K, 16, 256));
    EXPECT_FALSE(packable(DType::Q5_K, 16, 256));  // no packed layout for the type
    EXPECT_FALSE(packable(DType::F16, 16, 64));
    for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q6_K})  // same bytes as the 16 rows it replaces
        EXPECT_EQ(packed_group_bytes(type, 1536), 16 * row_bytes(traits(type), 1536)) << traits(type).name;
    EXPECT_EQ(packed_group_bytes(DType::Q4_K, 1536), 16 * 6 * 148u);  // scales spread out: 148 bytes, not 144
}

TEST(PackedLayout, UnpackRestoresEveryRowByteForByte) {
    for (DType type : kPackedTypes) {
        std::vector<uint8_t> bytes;
        const Matrix w = random_matrix(type, 48, 768, 11, bytes);
        const std::vector<uint8_t> packed = pack(w);
        const size_t group_bytes = packed_group_bytes(type, w.cols);
        std::vector<uint8_t> row(w.row_bytes);
        for (int64_t r = 0; r < w.rows; ++r) {
            unpack_row(type, w.cols, packed.data() + (size_t)(r / kPackRows) * group_bytes, (int)(r % kPackRows),
                       row.data());
            ASSERT_EQ(std::memcmp(row.data(), w.row(r), w.row_bytes), 0) << traits(type).name << " row " << r;
        }
        // pack_groups on a sub-range writes the same bytes as the whole-matrix pack.
        std::vector<uint8_t> part(group_bytes);
        pack_groups(w, 2, 3, part.data());
        EXPECT_EQ(std::memcmp(part.data(), packed.data() + 2 * group_bytes, group_bytes), 0);
    }
}

TEST(PackedLayout, LongRowsOfQ4_0AndQ8_0AreCutIntoSlicesThatFitL1) {
    for (DType type : kPackedTypes) {
        const char* name = traits(type).name;
        const PackedLayout short_rows = packed_layout(type, 8960, 1536);  // gate/up of the 1.5B model: whole
        EXPECT_EQ(short_rows.n_slices, 1) << name;
        EXPECT_EQ(short_rows.bytes(), packed_group_bytes(type, 1536) * 560) << name;
        const PackedLayout l = packed_layout(type, 1536, 8960);  // its ffn_down
        const bool sliced = type == DType::Q4_0 || type == DType::Q8_0;
        EXPECT_EQ(l.n_slices > 1, sliced) << name;
        int64_t cols = 0;
        size_t bytes = 0;
        for (int k = 0; k < l.n_slices; ++k) {
            EXPECT_EQ(l.slice_begin(k), cols) << name;
            if (sliced) {
                EXPECT_LE(l.group_bytes(k), kSliceGroupBytes) << name << " slice " << k;
            }
            EXPECT_EQ(l.slice_offset(k), bytes) << name << " slice " << k;
            cols += l.slice_width(k);
            bytes += l.group_bytes(k) * 96;
        }
        EXPECT_EQ(cols, 8960) << name;
        EXPECT_EQ(l.bytes(), bytes) << name;
    }
    const PackedLayout q4_0 = packed_layout(DType::Q4_0, 1536, 8960);
    EXPECT_EQ(q4_0.n_slices, 4);
    EXPECT_EQ(q4_0.slice_cols, 2240);
    EXPECT_EQ(q4_0.bytes(), 1536 * row_bytes(traits(DType::Q4_0), 8960));  // slicing adds no bytes
    const PackedLayout q8_0 = packed_layout(DType::Q8_0, 1536, 8960);
    EXPECT_EQ(q8_0.bytes(), 1536 * row_bytes(traits(DType::Q8_0), 8960));
}

// Rows of 6400 inputs: Q4_0 slices of 2176, 2176 and 2048; Q8_0 five of 1280; k-quants whole.
constexpr int64_t kLongCols = 6400;

TEST(PackedLayout, UnpackRestoresEveryRowOfASlicedMatrix) {
    const int64_t rows = 48;
    for (DType type : kPackedTypes) {
        std::vector<uint8_t> bytes;
        const Matrix w = random_matrix(type, rows, kLongCols, 13, bytes);
        const std::vector<uint8_t> packed = pack(w);
        const PackedLayout l = packed_layout(type, rows, kLongCols);
        std::vector<uint8_t> row(w.row_bytes);
        for (int64_t r = 0; r < rows; ++r) {
            unpack_matrix_row(l, packed.data(), r, row.data());
            ASSERT_EQ(std::memcmp(row.data(), w.row(r), w.row_bytes), 0) << traits(type).name << " row " << r;
        }
    }
    const PackedLayout q4_0 = packed_layout(DType::Q4_0, rows, kLongCols);
    EXPECT_EQ(q4_0.n_slices, 3);
    EXPECT_EQ(q4_0.slice_width(2), 2048);
    EXPECT_EQ(packed_layout(DType::Q8_0, rows, kLongCols).n_slices, 5);
}

TEST(PackedGemm, MatchesTheReferenceDotAndNotTheBatchSize) {
    const auto tables = packing_tables();
    if (tables.empty()) GTEST_SKIP() << "no packed kernels on this CPU";
    const int64_t rows = 32, cols = 1024;
    for (DType type : kPackedTypes) {
        const TypeTraits& tr = traits(type);
        std::vector<uint8_t> bytes;
        const Matrix w = random_matrix(type, rows, cols, 21, bytes);
        const std::vector<uint8_t> packed = pack(w);
        const size_t group_bytes = packed_group_bytes(type, cols);
        // kMaxPackedTokens activation rows, converted as matmul converts them (with block sums).
        ThreadPool one(1);
        ActBuffer act;
        const std::vector<float> x = activations(kMaxPackedTokens, cols, 5);
        convert_acts(ref_kernels(), one, x.data(), kMaxPackedTokens, cols, tr.vec_dot_type, act);
        ensure_block_sums(one, act);
        for (const KernelTable* kt : tables) {
            const GemmPackedFn gemm = kt->gemm_packed[(int)type];
            if (gemm == nullptr) continue;
            // Each row alone: the reference.
            std::vector<float> alone((size_t)(kMaxPackedTokens * rows));
            for (int m = 0; m < kMaxPackedTokens; ++m)
                for (int64_t g = 0; g < rows / kPackRows; ++g)
                    gemm(cols, 1, packed.data() + g * group_bytes, act.row(m), act.row_bytes, sums_of(act, m),
                         act.sums_row(), &alone[(size_t)(m * rows + g * kPackRows)], rows, packed.data() + packed.size());
            for (int m = 0; m < kMaxPackedTokens; ++m)
                for (int64_t r = 0; r < rows; ++r) {
                    float want;
                    ref_kernels().vec_dot[(int)type](cols, &want, w.row(r), act.row(m));
                    ASSERT_NEAR(alone[(size_t)(m * rows + r)], want, 1e-5f * (1.0f + std::fabs(want)))
                        << tr.name << " " << kt->isa << " act row " << m << " weight row " << r;
                }
            // nm rows per call, starting at every offset: bit-identical to each row alone.
            for (int nm = 2; nm <= kMaxPackedTokens; ++nm)
                for (int m0 = 0; m0 + nm <= kMaxPackedTokens; m0 += nm) {
                    std::vector<float> got((size_t)(nm * rows), NAN);
                    for (int64_t g = 0; g < rows / kPackRows; ++g)
                        gemm(cols, nm, packed.data() + g * group_bytes, act.row(m0), act.row_bytes, sums_of(act, m0),
                             act.sums_row(), &got[(size_t)(g * kPackRows)], rows, packed.data() + packed.size());
                    ASSERT_EQ(std::memcmp(got.data(), &alone[(size_t)(m0 * rows)], got.size() * sizeof(float)), 0)
                        << tr.name << " " << kt->isa << " nm " << nm << " from row " << m0;
                }
        }
    }
}

TEST(PackedGemm, TileKernelsMatchTheRowKernelsBitForBit) {
    const auto tables = packing_tables();
    if (tables.empty()) GTEST_SKIP() << "no packed kernels on this CPU";
    const int64_t rows = 32, cols = 1024, n_blocks = cols / kQK8_0;
    for (DType type : {DType::Q4_0, DType::Q8_0}) {
        std::vector<uint8_t> bytes;
        const Matrix w = random_matrix(type, rows, cols, 23, bytes);
        // 11 rows: a full tile and one of 3 rows with 5 zero rows after them.
        const int64_t n_tok = 11;
        ThreadPool pool(2);
        ActBuffer act;
        convert_acts(ref_kernels(), pool, activations(n_tok, cols, 9).data(), n_tok, cols, DType::Q8_0, act);
        ensure_block_sums(pool, act);
        ensure_q8_0_tiles(pool, act);
        // The tile holds each row's block as it is.
        for (int64_t t = 0; t < 16; ++t)
            for (int64_t b = 0; b < n_blocks; b += 7) {
                const Q8_0TileBlock& blk = act.tile(t / kQ8_0TileRows * kQ8_0TileRows)[b];
                const int m = (int)(t % kQ8_0TileRows);
                if (t >= n_tok) {
                    ASSERT_EQ(blk.d[m], 0.0f);
                    ASSERT_EQ(blk.neg_sum[m], 0);
                    continue;
                }
                const BlockQ8_0& src = reinterpret_cast<const BlockQ8_0*>(act.row(t))[b];
                ASSERT_EQ(std::memcmp(blk.qs[m], src.qs, kQK8_0), 0) << "row " << t << " block " << b;
                ASSERT_EQ(blk.d[m], fp16_to_f32(src.d));
                ASSERT_EQ(blk.neg_sum[m], -act.sums[(size_t)(t * n_blocks + b)]);
            }
        // Whole rows, and the inputs from cols / 2 on packed as a column slice is.
        for (int64_t c0 : {int64_t{0}, cols / 2}) {
            const int64_t width = cols - c0;
            const size_t rb = row_bytes(traits(type), width);
            std::vector<uint8_t> part_bytes;
            for (int64_t r = 0; r < rows; ++r) {
                const uint8_t* src = w.row(r) + row_bytes(traits(type), c0);
                part_bytes.insert(part_bytes.end(), src, src + rb);
            }
            Matrix part = w;
            part.cols = width;
            part.row_bytes = rb;
            part.data = part_bytes.data();
            const size_t group_bytes = packed_group_bytes(type, width);
            std::vector<uint8_t> slice(group_bytes * (size_t)(rows / kPackRows));
            pack_groups(part, 0, rows / kPackRows, slice.data());
            for (const KernelTable* kt : tables) {
                const GemmPackedFn gemm = kt->gemm_packed[(int)type];
                const GemmPackedTileFn tile_gemm = kt->gemm_packed_tile[(int)type];
                if (tile_gemm == nullptr) continue;
                for (int64_t t0 : {0, 8})
                    for (int nm = 2; nm <= std::min<int64_t>(kQ8_0TileRows, n_tok - t0); ++nm) {
                        std::vector<float> want((size_t)(nm * rows), NAN), got((size_t)(nm * rows), NAN);
                        for (int64_t g = 0; g < rows / kPackRows; ++g) {
                            const uint8_t* group = slice.data() + g * group_bytes;
                            gemm(width, nm, group, act.row(t0) + row_bytes(traits(DType::Q8_0), c0), act.row_bytes,
                                 sums_of(act, (int)t0) + c0 / kQK8_0, act.sums_row(), &want[(size_t)(g * kPackRows)],
                                 rows, slice.data() + slice.size());
                            tile_gemm(width, nm, group, act.tile(t0) + c0 / kQK8_0, &got[(size_t)(g * kPackRows)], rows,
                                      slice.data() + slice.size());
                        }
                        ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                            << traits(type).name << " " << kt->isa << " rows " << t0 << ".." << t0 + nm
                            << " from input " << c0;
                    }
            }
        }
    }
}

TEST(PackedMatmul, MatchesRefForEveryTokenCountAndThreadCount) {
    const auto tables = packing_tables();
    if (tables.empty()) GTEST_SKIP() << "no packed kernels on this CPU";
    // 13 groups of 16 rows, shares of 5/4/4 at 3 threads, claimed half the rest (at least 4 groups)
    // at a time: where a thread finishes first (timing decides; with more threads than cores it is
    // the usual case) it takes groups from another's share, and the results must not depend on who
    // computed what.
    // 48 x kLongCols: Q4_0 and Q8_0 in column slices, each adding its products to y.
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{208, 768}, {48, kLongCols}})
    for (DType type : kPackedTypes) {
        std::vector<uint8_t> bytes;
        Matrix w = random_matrix(type, rows, cols, 31, bytes);
        const std::vector<uint8_t> packed = pack(w);
        Matrix wp = w;
        wp.packed = packed.data();
        ThreadPool one(1);
        ActBuffer act;
        // 400 tokens: more than one activation tile of the packed driver (256 KB / 816 bytes).
        for (int64_t n_tok : {1, 3, 8, 13, 400}) {
            const std::vector<float> x = activations(n_tok, cols, (uint32_t)n_tok);
            std::vector<float> ref((size_t)(n_tok * rows));
            matmul_f32(ref_kernels(), one, w, x.data(), n_tok, ref.data(), rows, act);
            for (const KernelTable* kt : tables)
                for (int threads : {1, 2, 3}) {
                    ThreadPool pool(threads);
                    std::vector<float> got((size_t)(n_tok * rows), NAN);
                    matmul_f32(*kt, pool, wp, x.data(), n_tok, got.data(), rows, act);
                    for (size_t i = 0; i < got.size(); ++i)
                        ASSERT_NEAR(got[i], ref[i], 1e-4 + 1e-4 * std::fabs(ref[i]))
                            << traits(type).name << " " << cols << " " << kt->isa << " tokens " << n_tok
                            << " threads " << threads << " at " << i;
                    // Token t of the batch is bit-identical to token t evaluated alone.
                    for (int64_t t : {int64_t{0}, n_tok - 1}) {
                        std::vector<float> single((size_t)rows);
                        matmul_f32(*kt, pool, wp, x.data() + t * cols, 1, single.data(), rows, act);
                        ASSERT_EQ(std::memcmp(single.data(), &got[(size_t)(t * rows)], rows * sizeof(float)), 0)
                            << traits(type).name << " " << cols << " " << kt->isa << " token " << t << " of " << n_tok;
                    }
                }
        }
    }
}

TEST(PackedMatmul, FusedPartsMatchEachProductAlone) {
    const auto tables = packing_tables();
    if (tables.empty()) GTEST_SKIP() << "no packed kernels on this CPU";
    // Products that share one activation format, of unequal sizes (q/k/v-like: a large part and
    // two small ones, 13 + 2 + 3 groups), so at 2 and 3 threads shares and claims straddle the
    // parts' borders; of equal sizes (gate/up-like), which decoding splits alike, each thread
    // taking the same rows of both. The last set has an unpacked part, which makes the dispatch
    // fall back to one product after another.
    const int64_t cols = 768;
    struct Set {
        std::vector<DType> types;
        std::vector<int64_t> rows;
        bool unpack_last;
    };
    const Set sets[] = {{{DType::Q4_K, DType::Q4_K, DType::Q6_K}, {208, 32, 48}, false},
                        {{DType::Q4_0, DType::Q8_0}, {48, 208}, false},
                        {{DType::Q4_0, DType::Q4_0}, {208, 208}, false},
                        {{DType::Q4_K, DType::Q6_K}, {80, 80}, false},
                        {{DType::Q6_K, DType::Q4_K}, {32, 64}, true}};
    for (const Set& set : sets) {
        const size_t n = set.types.size();
        std::vector<std::vector<uint8_t>> bytes(n), packed(n);
        std::vector<Matrix> w(n);
        for (size_t i = 0; i < n; ++i) {
            w[i] = random_matrix(set.types[i], set.rows[i], cols, 40 + (uint32_t)i, bytes[i]);
            packed[i] = pack(w[i]);
            if (!(set.unpack_last && i + 1 == n)) w[i].packed = packed[i].data();
        }
        const DType act_type = w[0].traits->vec_dot_type;
        for (int64_t n_tok : {1, 3, 8}) {
            const std::vector<float> x = activations(n_tok, cols, 90 + (uint32_t)n_tok);
            for (const KernelTable* kt : tables)
                for (int threads : {1, 2, 3}) {
                    ThreadPool pool(threads);
                    ActBuffer act;
                    convert_acts(*kt, pool, x.data(), n_tok, cols, act_type, act);
                    std::vector<std::vector<float>> fused(n), alone(n);
                    std::vector<MatmulPart> parts;
                    for (size_t i = 0; i < n; ++i) {
                        fused[i].assign((size_t)(n_tok * w[i].rows), NAN);
                        alone[i].assign((size_t)(n_tok * w[i].rows), NAN);
                        parts.push_back({&w[i], &act, fused[i].data(), w[i].rows});
                    }
                    matmul_fused(*kt, pool, parts);
                    for (size_t i = 0; i < n; ++i) {
                        matmul(*kt, pool, w[i], act, alone[i].data(), w[i].rows);
                        ASSERT_EQ(std::memcmp(fused[i].data(), alone[i].data(), fused[i].size() * sizeof(float)), 0)
                            << traits(set.types[i]).name << " part " << i << " " << kt->isa << " tokens " << n_tok
                            << " threads " << threads;
                    }
                }
        }
    }
}

// matmul_fused's `then` runs once on every thread, and finds every product written: in a
// decoding dispatch (inside the job, after the threads meet), with column slices (whose partial
// products are added after the job), for a prompt, and where an unpacked part makes the products
// run one after another. Each thread copies every output as it finds it; the copies must be the
// final outputs.
TEST(PackedMatmul, ThenRunsOnEveryThreadOnceEveryProductIsWritten) {
    const auto tables = packing_tables();
    if (tables.empty()) GTEST_SKIP() << "no packed kernels on this CPU";
    struct Case {
        DType type;
        int64_t rows, cols, n_tok;
        bool unpack_second;
    };
    const Case cases[] = {{DType::Q4_0, 208, 768, 1, false},       {DType::Q4_K, 208, 768, 3, false},
                          {DType::Q8_0, 48, kLongCols, 1, false},  {DType::Q4_0, 48, 768, 400, false},
                          {DType::Q6_K, 64, 768, 1, true}};
    for (const Case& c : cases) {
        std::vector<uint8_t> bytes[2], packed[2];
        Matrix w[2];
        for (int i = 0; i < 2; ++i) {
            w[i] = random_matrix(c.type, c.rows, c.cols, 60 + (uint32_t)i, bytes[i]);
            packed[i] = pack(w[i]);
            if (!(c.unpack_second && i == 1)) w[i].packed = packed[i].data();
        }
        const std::vector<float> x = activations(c.n_tok, c.cols, 7);
        for (const KernelTable* kt : tables)
            for (int threads : {1, 2, 3}) {
                ThreadPool pool(threads);
                ActBuffer act;
                convert_acts(*kt, pool, x.data(), c.n_tok, c.cols, w[0].traits->vec_dot_type, act);
                const size_t n_out = (size_t)(c.n_tok * c.rows);
                std::vector<float> y[2] = {std::vector<float>(n_out, NAN), std::vector<float>(n_out, NAN)};
                const MatmulPart parts[2] = {{&w[0], &act, y[0].data(), c.rows}, {&w[1], &act, y[1].data(), c.rows}};
                std::vector<std::vector<float>> seen((size_t)threads);
                std::vector<int> runs((size_t)threads, 0);
                const ThreadPool::Job then = [&](int ith, int nth) {
                    ASSERT_EQ(nth, threads);
                    ++runs[(size_t)ith];
                    seen[(size_t)ith] = y[0];
                    seen[(size_t)ith].insert(seen[(size_t)ith].end(), y[1].begin(), y[1].end());
                };
                matmul_fused(*kt, pool, parts, {}, &then);
                std::vector<float> final_y = y[0];
                final_y.insert(final_y.end(), y[1].begin(), y[1].end());
                for (int ith = 0; ith < threads; ++ith) {
                    ASSERT_EQ(runs[(size_t)ith], 1) << "thread " << ith;
                    ASSERT_EQ(std::memcmp(seen[(size_t)ith].data(), final_y.data(), final_y.size() * sizeof(float)), 0)
                        << traits(c.type).name << " " << c.cols << " tokens " << c.n_tok << " " << kt->isa
                        << " threads " << threads << ": thread " << ith << " ran before the products were written";
                }
            }
    }
}

}  // namespace
}  // namespace retort
