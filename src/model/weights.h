// ModelWeights: every tensor the decoder reads, bound to views of the mapped GGUF file and
// checked once (name present, exact shape, supported type). Small 1-D tensors (norms, biases,
// rope factors) are converted to F32 copies; matrices stay in the file's bytes.
#pragma once

#include "gguf/gguf.h"
#include "kernels/kernel_table.h"
#include "model/config.h"
#include "tensor/tensor.h"
#include "util/bandwidth.h"
#include "util/error.h"
#include "util/page_buffer.h"

#include <vector>

namespace retort {

struct LayerWeights {
    const float* attn_norm = nullptr;  // [n_embd]
    Matrix wq;                         // [n_head * head_dim, n_embd]
    Matrix wk;                         // [n_head_kv * head_dim, n_embd]
    Matrix wv;                         // [n_head_kv * head_dim, n_embd]
    const float* bq = nullptr;         // [n_head * head_dim], qwen2 only
    const float* bk = nullptr;         // [n_head_kv * head_dim], qwen2 only
    const float* bv = nullptr;         // [n_head_kv * head_dim], qwen2 only
    Matrix wo;                         // [n_embd, n_head * head_dim]
    const float* ffn_norm = nullptr;   // [n_embd]
    Matrix ffn_gate;                   // [n_ff, n_embd]
    Matrix ffn_up;                     // [n_ff, n_embd]
    Matrix ffn_down;                   // [n_embd, n_ff]
};

struct ModelWeights {
    Matrix token_embd;                 // [n_vocab, n_embd]
    std::vector<LayerWeights> layers;  // [n_layer]
    const float* output_norm = nullptr;  // [n_embd]
    Matrix output;                     // [n_vocab, n_embd]; token_embd when the file has none
    bool output_tied = false;
    const float* rope_freqs = nullptr; // [n_rot / 2] divisors, or nullptr
    size_t matrix_bytes = 0;           // bytes of all matrices (what a token reads, roughly)

    // Owned F32 copies of the 1-D tensors the pointers above refer to.
    std::vector<std::vector<float>> owned;
    // Packed copies of all packed matrices, one after the other (Matrix::packed points into it),
    // see pack_weights.
    PageBuffer packed;
    size_t packed_bytes = 0;
};

// f(matrix) for every matrix a decode step reads in full, in the order it reads them: all but the
// token embedding, of which a step reads one row per token. W: ModelWeights, const or not.
template <class W, class F>
void for_each_streamed_matrix(W& w, F&& f) {
    for (auto& l : w.layers)
        for (auto* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) f(*m);
    f(w.output);
}

// The bytes of those matrices, in the same order and in the layout the kernels read: the packed
// copies where there are. What a decode step streams, for bandwidth probes over the same bytes.
std::vector<ByteRange> streamed_byte_ranges(const ModelWeights& w);

// Binds and validates every tensor of `cfg`'s architecture in `file`.
Result<ModelWeights> bind_weights(const GgufFile& file, const ModelConfig& cfg);

// Repacks every matrix `kt` has packed kernels for (kernels/packed.h), in parallel, and releases
// the file pages of each packed matrix the decoder reads no longer (the token embedding stays
// mapped: rows are looked up there), so resident memory stays at one copy of the weights.
Status pack_weights(ModelWeights& w, const KernelTable& kt);

}  // namespace retort
