// Engine: one loaded model ready to evaluate — the model, its tokenizer, the KV cache, the
// thread pool and the kernels picked for this CPU. step() runs one batched forward pass.
// Not thread-safe: one owner thread drives it (the CLI, or the server's worker).
#pragma once

#include "kernels/kernel_table.h"
#include "kv/kv_cache.h"
#include "model/batch.h"
#include "model/decoder.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <memory>
#include <string>
#include <vector>

namespace retort {

// The most positions per sequence a context may have (--ctx's range); keeps the byte counts of
// any model's KV cache far from overflow.
constexpr int64_t kMaxContext = int64_t{1} << 24;

struct EngineOptions {
    int n_threads = 0;          // 0: one per hardware thread
    int64_t n_ctx = 0;          // positions per sequence; 0: the model's context, capped to memory
    int64_t n_seq = 1;          // sequences that may be live at once
    int64_t n_batch = 512;      // tokens per internal forward micro-batch
    DType kv_type = DType::F16;
    std::string kernels;        // "", "ref", "avx2", "avx512"
    bool repack = true;         // repack weights at load where the kernels have a packed layout
};

// Memory a model needs at a context size (all sequences together), in bytes.
struct MemoryEstimate {
    uint64_t weights = 0;   // tensor bytes (mmapped)
    uint64_t kv_cache = 0;
    uint64_t scratch = 0;
    uint64_t total() const { return weights + kv_cache + scratch; }
};
MemoryEstimate estimate_memory(const GgufFile& file, const ModelConfig& cfg, int64_t n_ctx_total, DType kv_type,
                               int64_t n_batch, int n_threads);

class Engine {
public:
    static Result<std::unique_ptr<Engine>> load(const std::string& path, const EngineOptions& opt);
    static Result<std::unique_ptr<Engine>> load(std::shared_ptr<const GgufFile> file, const EngineOptions& opt);
    ~Engine();

    const Model& model() const { return *model_; }
    const ModelConfig& config() const { return model_->config(); }
    const Tokenizer& tokenizer() const { return *tokenizer_; }
    const KernelTable& kernels() const { return *kernels_; }
    KvCache& kv() { return kv_; }
    int64_t n_ctx() const { return n_ctx_; }
    int n_threads() const { return pool_->size(); }
    int64_t n_vocab() const { return model_->config().n_vocab; }
    // Lines worth telling the user about choices made at load (e.g. the context was capped).
    const std::vector<std::string>& notes() const { return notes_; }

    // One forward pass; logits: n_vocab floats per row with logits wanted, in batch order.
    Status step(const Batch& batch, std::vector<float>& logits);
    // Forgets positions >= from of a sequence.
    void truncate(int32_t seq, int64_t from) { kv_.truncate(seq, from); }

private:
    Engine() = default;
    std::unique_ptr<Model> model_;
    std::unique_ptr<Tokenizer> tokenizer_;
    const KernelTable* kernels_ = nullptr;
    std::unique_ptr<ThreadPool> pool_;
    KvCache kv_;
    std::unique_ptr<Decoder> decoder_;
    int64_t n_ctx_ = 0;
    std::vector<std::string> notes_;
};

}  // namespace retort
