#include "model/weights.h"

#include "kernels/packed.h"
#include "tensor/dtype.h"
#include "util/mapped_file.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

#include <atomic>

namespace retort {

namespace {

class Binder {
public:
    Binder(const GgufFile& f, ModelWeights& w) : f_(f), w_(w) {}

    // A 2-D matrix [rows, cols] (GGUF ne = {cols, rows}) of any supported type.
    Result<Matrix> matrix(const std::string& name, int64_t rows, int64_t cols, bool required = true) {
        const GgufTensorInfo* t = f_.find_tensor(name);
        if (t == nullptr) {
            if (!required) return Matrix{};
            return Error::bad_file(f_.path(), "tensor '{}' is missing", name);
        }
        if (t->ne.size() != 2 || t->ne[0] != cols || t->ne[1] != rows)
            return Error::bad_file(f_.path(), "tensor '{}' has shape {}, expected [{}, {}] (GGUF order)", name,
                                   shape_str(*t), cols, rows);
        const TypeTraits* tr = find_traits(t->ggml_type);
        if (tr == nullptr || !tr->is_weight_type)
            return Error::make(ErrorKind::kUnsupported,
                               "{}: tensor '{}' has type {}, which retort does not support (supported: F32, F16, "
                               "BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)",
                               f_.path(), name, ggml_type_name(t->ggml_type));
        Matrix m;
        m.name = name;
        m.traits = tr;
        m.rows = rows;
        m.cols = cols;
        m.row_bytes = row_bytes(*tr, cols);
        m.data = t->data;
        w_.matrix_bytes += m.size_bytes();
        return m;
    }

    // A 1-D vector of n elements, converted to F32 (norms and biases are tiny).
    Result<const float*> vector(const std::string& name, int64_t n, bool required = true) {
        const GgufTensorInfo* t = f_.find_tensor(name);
        if (t == nullptr) {
            if (!required) return static_cast<const float*>(nullptr);
            return Error::bad_file(f_.path(), "tensor '{}' is missing", name);
        }
        if (t->ne.size() != 1 || t->ne[0] != n)
            return Error::bad_file(f_.path(), "tensor '{}' has shape {}, expected [{}]", name, shape_str(*t), n);
        const TypeTraits* tr = find_traits(t->ggml_type);
        if (tr == nullptr)
            return Error::make(ErrorKind::kUnsupported, "{}: tensor '{}' has type {}, which retort does not support",
                               f_.path(), name, ggml_type_name(t->ggml_type));
        std::vector<float> v((size_t)n);
        tr->dequantize_row(t->data, v.data(), n);
        w_.owned.push_back(std::move(v));
        return static_cast<const float*>(w_.owned.back().data());
    }

private:
    static std::string shape_str(const GgufTensorInfo& t) {
        std::string s = "[";
        for (size_t i = 0; i < t.ne.size(); ++i) s += (i ? ", " : "") + std::to_string(t.ne[i]);
        return s + "]";
    }
    const GgufFile& f_;
    ModelWeights& w_;
};

}  // namespace

Result<ModelWeights> bind_weights(const GgufFile& file, const ModelConfig& c) {
    ModelWeights w;
    // owned vectors are referenced by pointer: reserve so push_back never reallocates.
    w.owned.reserve((size_t)c.n_layer * 5 + 4);
    Binder b(file, w);
#define BIND(dst, expr)                     \
    {                                       \
        auto r = (expr);                    \
        if (!r.ok()) return r.error();      \
        dst = std::move(r.value());         \
    }
    BIND(w.token_embd, b.matrix("token_embd.weight", c.n_vocab, c.n_embd))
    w.layers.resize((size_t)c.n_layer);
    for (int64_t il = 0; il < c.n_layer; ++il) {
        LayerWeights& l = w.layers[(size_t)il];
        const std::string p = fmt::format("blk.{}.", il);
        BIND(l.attn_norm, b.vector(p + "attn_norm.weight", c.n_embd))
        BIND(l.wq, b.matrix(p + "attn_q.weight", c.n_embd_q(), c.n_embd))
        BIND(l.wk, b.matrix(p + "attn_k.weight", c.n_embd_kv(), c.n_embd))
        BIND(l.wv, b.matrix(p + "attn_v.weight", c.n_embd_kv(), c.n_embd))
        // Biases: required by qwen2, honoured when present in any Llama-family file.
        BIND(l.bq, b.vector(p + "attn_q.bias", c.n_embd_q(), c.arch->qkv_bias))
        BIND(l.bk, b.vector(p + "attn_k.bias", c.n_embd_kv(), c.arch->qkv_bias))
        BIND(l.bv, b.vector(p + "attn_v.bias", c.n_embd_kv(), c.arch->qkv_bias))
        BIND(l.wo, b.matrix(p + "attn_output.weight", c.n_embd, c.n_embd_q()))
        BIND(l.ffn_norm, b.vector(p + "ffn_norm.weight", c.n_embd))
        BIND(l.ffn_gate, b.matrix(p + "ffn_gate.weight", c.n_ff, c.n_embd))
        BIND(l.ffn_up, b.matrix(p + "ffn_up.weight", c.n_ff, c.n_embd))
        BIND(l.ffn_down, b.matrix(p + "ffn_down.weight", c.n_embd, c.n_ff))
    }
    BIND(w.output_norm, b.vector("output_norm.weight", c.n_embd))
    BIND(w.output, b.matrix("output.weight", c.n_vocab, c.n_embd, /*required=*/false))
    if (w.output.empty()) {  // tied embeddings: reuse the token embedding as the output matrix
        w.output = w.token_embd;
        w.output_tied = true;
    }
    BIND(w.rope_freqs, b.vector("rope_freqs.weight", c.n_rot / 2, /*required=*/false))
#undef BIND
    return w;
}

Status pack_weights(ModelWeights& w, const KernelTable& kt) {
    std::vector<Matrix*> todo;
    auto consider = [&](Matrix& m) {
        if (!m.empty() && m.packed == nullptr && kt.gemm_packed[(int)m.type()] != nullptr &&
            packable(m.type(), m.rows, m.cols))
            todo.push_back(&m);
    };
    for_each_streamed_matrix(w, consider);
    // One buffer for all, matrices one after the other in the order decoding reads them: the
    // small ones (attention projections, under 2 MiB each) get huge pages too, and each matrix's
    // stream runs on into the next. Each starts on a cache line.
    // Then the copying on every core: packing reads the whole file once, most of the load time.
    std::vector<size_t> offset;
    size_t total = 0;
    for (Matrix* m : todo) {
        offset.push_back(total);
        const size_t bytes = packed_matrix_bytes(m->type(), m->rows, m->cols);
        w.packed_bytes += bytes;
        total += (bytes + 63) / 64 * 64;
    }
    if (total > 0) {
        w.packed = PageBuffer(total);
        if (w.packed.data() == nullptr)
            return Error::make(ErrorKind::kOutOfMemory, "cannot allocate {:.1f} MiB to repack the weights",
                               total / 1048576.0);
    }
    std::vector<uint8_t*> dst;
    for (size_t off : offset) dst.push_back(w.packed.data() + off);
    // Matrices are taken one at a time by whichever thread is free (their sizes differ widely).
    std::atomic<size_t> next{0};
    ThreadPool pool(ThreadPool::hardware_threads());
    pool.run([&](int, int) {
        for (size_t i; (i = next.fetch_add(1)) < todo.size();) {
            Matrix& m = *todo[i];
            pack_matrix(m, dst[i]);
            if (m.data != w.token_embd.data) release_mapped_range(m.data, m.size_bytes());
        }
    });
    for (size_t i = 0; i < todo.size(); ++i) todo[i]->packed = dst[i];
    return Ok{};
}

std::vector<ByteRange> streamed_byte_ranges(const ModelWeights& w) {
    std::vector<ByteRange> out;
    for_each_streamed_matrix(w, [&](const Matrix& m) {
        if (m.packed != nullptr) out.push_back({m.packed, packed_matrix_bytes(m.type(), m.rows, m.cols)});
        else out.push_back({m.data, m.size_bytes()});
    });
    return out;
}

}  // namespace retort
