// The matmul driver: every kernel table against the ref table, in matrix-vector (decode) and
// matrix-matrix (prompt) form, with 1 and 2 threads, ragged row counts. Same activation
// bytes in, so only the inner products' summation order may differ.
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace retort {
namespace {

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                              DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<const KernelTable*> simd_tables() {
    std::vector<const KernelTable*> t;
    for (const KernelTable* k : {avx2_kernels(), avx512_kernels()})
        if (k != nullptr) t.push_back(k);
    return t;
}

TEST(Matmul, EveryTableMatchesRefInBothForms) {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int64_t cols = 512;  // two k-quant super-blocks, sixteen 32-blocks
    for (DType type : kWeightTypes) {
        const TypeTraits& tr = traits(type);
        for (int64_t rows : {1, 7, 33}) {
            // Weights: N(0, 0.05) quantized with the reference quantizer.
            std::vector<float> wf((size_t)(rows * cols));
            for (float& v : wf) v = 0.05f * nd(rng);
            Matrix w;
            w.name = "w";
            w.traits = &tr;
            w.rows = rows;
            w.cols = cols;
            w.row_bytes = row_bytes(tr, cols);
            std::vector<uint8_t> wbytes(w.row_bytes * rows);
            for (int64_t r = 0; r < rows; ++r)
                tr.quantize_row(&wf[(size_t)(r * cols)], wbytes.data() + r * w.row_bytes, cols);
            w.data = wbytes.data();
            for (int64_t n_tok : {1, 5}) {
                std::vector<float> x((size_t)(n_tok * cols));
                for (float& v : x) v = nd(rng);
                ThreadPool one(1);
                ActBuffer act;
                std::vector<float> ref((size_t)(n_tok * rows));
                matmul_f32(ref_kernels(), one, w, x.data(), n_tok, ref.data(), rows, act);
                for (const KernelTable* kt : simd_tables())
                    for (int threads : {1, 2}) {
                        ThreadPool pool(threads);
                        std::vector<float> got((size_t)(n_tok * rows), NAN);
                        matmul_f32(*kt, pool, w, x.data(), n_tok, got.data(), rows, act);
                        for (size_t i = 0; i < got.size(); ++i)
                            ASSERT_NEAR(got[i], ref[i], 1e-4 + 1e-4 * std::fabs(ref[i]))
                                << tr.name << " " << kt->isa << " rows " << rows << " tokens " << n_tok << " threads "
                                << threads << " at " << i;
                    }
            }
        }
    }
}

}  // namespace
}  // namespace retort
