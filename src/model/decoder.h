// Decoder: the Llama-family forward pass (llama, qwen2) over a Batch of tokens from any
// number of sequences. Owns the scratch buffers, sized once for the largest micro-batch,
// so steady-state decoding allocates nothing.
#pragma once

#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kv/kv_cache.h"
#include "model/batch.h"
#include "model/model.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <initializer_list>
#include <vector>

namespace retort {

class Decoder {
public:
    // n_batch: tokens per internal micro-batch (bigger batches are split).
    Decoder(const Model& model, const KernelTable& kernels, ThreadPool& pool, int64_t n_batch);
    // The pool's workers may still be reading the model's weights ahead (matmul_fused's `next`).
    ~Decoder() { pool_.stop_warming(); }
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    // Evaluates `batch`, appending its K/V to `kv`. For every row with logits wanted, in batch
    // order, n_vocab floats are written to `logits` (resized to n_outputs * n_vocab).
    // Positions of a sequence must be consecutive within the batch and start at or before
    // the sequence's current length (earlier positions are overwritten: the cache is
    // truncated there first). Fails without side effects on a bad batch or a full cache.
    Status forward(const Batch& batch, KvCache& kv, std::vector<float>& logits);

    // Bytes of scratch this decoder holds (for memory estimates).
    size_t scratch_bytes() const;
    static size_t scratch_bytes_for(const ModelConfig& c, int64_t n_batch, int64_t n_ctx, int n_threads);

private:
    Status validate(const Batch& batch, const KvCache& kv) const;
    void forward_chunk(const Batch& batch, int64_t t0, int64_t n_tok, KvCache& kv, float* logits_out);
    void rope(float* x, int64_t n_tok, int64_t n_heads);  // angles from rope_cos_/rope_sin_
    // Attention (see plan_attention in decoder.cpp): tasks of one token and a chunk of positions,
    // in waves; a token split over several chunks is combined from their partial results.
    struct AttnTask {
        int64_t t;                // token of the micro-batch
        int64_t p_begin, p_end;   // positions, a whole number of cache blocks from p_begin
        int64_t slot;             // partial result slot, or -1: the token's only chunk, written to attn_
        int64_t hk_begin, hk_end; // KV heads (with their query heads)
    };
    struct AttnSplit {
        int64_t t, first_slot, n_chunks;  // the token's chunks have slots first_slot ..
    };
    struct AttnWave {
        size_t tasks_end, splits_end;  // the wave's tasks and splits end here; the next wave's start
    };
    void plan_attention(const Batch& batch, int64_t t0, int64_t n_tok, const KvCache& kv);
    void attention(int64_t il, const Batch& batch, int64_t t0, const KvCache& kv);
    void attend_chunk(int64_t il, const Batch& batch, int64_t t0, const AttnTask& task, const KvCache& kv,
                      std::vector<float>& scratch);
    void combine_chunks(const AttnSplit& split);
    // A partial result: max [n_head], sum [n_head], unnormalized output [n_head, head_dim].
    int64_t attn_slot_floats() const { return cfg_.n_head * (cfg_.head_dim + 2); }
    float* attn_slot(int64_t slot) { return &attn_partials_[(size_t)(slot * attn_slot_floats())]; }
    // Output y [n_tok, w.rows] of one matrix that reads the normalized input xn_.
    struct Projection {
        const Matrix& w;
        float* y;
    };
    // `next`, `then`: the matrices of the product after these, and work on their results
    // (matmul_fused).
    void project(int64_t n_tok, std::initializer_list<Projection> projections,
                 std::span<const Matrix* const> next, const ThreadPool::Job* then = nullptr);

    const Model& model_;
    const ModelConfig& cfg_;
    const ModelWeights& w_;
    const KernelTable& kt_;
    ThreadPool& pool_;
    int64_t n_batch_;

    // Scratch, [n_batch, width] each.
    std::vector<float> x_, xn_, q_, k_, v_, attn_, tmp_, gate_, up_;
    std::vector<float> rope_cos_, rope_sin_;  // [n_batch, n_rot/2]
    std::vector<float> inv_freq_;             // [n_rot/2] per-pair frequency incl. scaling
    std::vector<std::vector<float>> attn_scratch_;  // per thread: one chunk's scores, maxima and sums
    std::vector<AttnTask> attn_tasks_;    // this micro-batch's, planned once for all layers
    std::vector<AttnSplit> attn_splits_;
    std::vector<AttnWave> attn_waves_;
    std::vector<float> attn_partials_;    // attn_slot_floats() per slot
    ActBuffer act_, act2_;  // xn_ or attn_ converted (project)
    ActBuffer act_ff_;      // the SwiGLU's output, converted for ffn_down
};

}  // namespace retort
