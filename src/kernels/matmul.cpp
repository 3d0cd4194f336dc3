#include "kernels/matmul.h"

#include <algorithm>
#include <cassert>

namespace retort {

namespace {
// Rows of W handled together for a batch of tokens: 16 rows of a 1536-wide Q4_K matrix are
// ~14 KB, so the tile stays in L1/L2 while every token's activations stream past it.
constexpr int64_t kRowTile = 16;
}  // namespace

void convert_acts(const KernelTable& kt, ThreadPool& pool, const float* x, int64_t n_tok, int64_t n_in, DType type,
                  ActBuffer& out) {
    const TypeTraits& tr = traits(type);
    out.type = type;
    out.n_tok = n_tok;
    out.n_in = n_in;
    out.row_bytes = row_bytes(tr, n_in);
    const size_t need = out.row_bytes * (size_t)n_tok;
    if (out.bytes.size() < need) out.bytes.resize(need);
    const FromFloatFn from_float = kt.from_float[(int)type];
    assert(from_float != nullptr);
    if (n_tok == 1) {  // one row: not worth waking the pool
        from_float(x, out.bytes.data(), n_in);
        return;
    }
    pool.run([&](int ith, int nth) {
        int64_t t0, t1;
        split_range(n_tok, ith, nth, &t0, &t1);
        for (int64_t t = t0; t < t1; ++t)
            from_float(x + t * n_in, out.bytes.data() + (size_t)t * out.row_bytes, n_in);
    });
}

void matmul(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const ActBuffer& a, float* y, int64_t ldy) {
    assert(a.type == w.traits->vec_dot_type && a.n_in == w.cols);
    const VecDotFn dot = kt.vec_dot[(int)w.type()];
    assert(dot != nullptr);
    const int64_t n = w.cols, n_tok = a.n_tok;
    pool.run([&](int ith, int nth) {
        // Contiguous row ranges per thread: no two threads write the same cache line of y
        // except at range borders.
        int64_t r0, r1;
        split_range(w.rows, ith, nth, &r0, &r1);
        if (n_tok == 1) {
            const uint8_t* act = a.row(0);
            for (int64_t r = r0; r < r1; ++r) dot(n, y + r, w.row(r), act);
            return;
        }
        const VecDotRowsFn dot_rows = kt.vec_dot_rows[(int)w.type()];
        for (int64_t rt = r0; rt < r1; rt += kRowTile) {
            const int64_t rt1 = std::min(rt + kRowTile, r1);
            if (dot_rows != nullptr) {
                // Up to kMaxDotRows tokens per call: each weight row is unpacked once for them.
                for (int64_t t = 0; t < n_tok; t += kMaxDotRows) {
                    const int nr = (int)std::min<int64_t>(kMaxDotRows, n_tok - t);
                    for (int64_t r = rt; r < rt1; ++r)
                        dot_rows(n, nr, y + t * ldy + r, ldy, w.row(r), a.row(t), a.row_bytes);
                }
                continue;
            }
            for (int64_t t = 0; t < n_tok; ++t) {
                const uint8_t* act = a.row(t);
                float* yt = y + t * ldy;
                for (int64_t r = rt; r < rt1; ++r) dot(n, yt + r, w.row(r), act);
            }
        }
    });
}

void matmul_f32(const KernelTable& kt, ThreadPool& pool, const Matrix& w, const float* x, int64_t n_tok, float* y,
                int64_t ldy, ActBuffer& scratch) {
    convert_acts(kt, pool, x, n_tok, w.cols, w.traits->vec_dot_type, scratch);
    matmul(kt, pool, w, scratch, y, ldy);
}

}  // namespace retort
