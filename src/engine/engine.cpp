#include "engine/engine.h"

#include "util/memory.h"

#include <algorithm>

namespace retort {

namespace {
constexpr int64_t kKvBlock = 32;
// Keep this much RAM free for the OS and page cache when sizing the default context.
constexpr uint64_t kRamReserve = 1ull << 30;
}  // namespace

MemoryEstimate estimate_memory(const GgufFile& file, const ModelConfig& cfg, int64_t n_ctx_total, DType kv_type,
                               int64_t n_batch, int n_threads) {
    MemoryEstimate m;
    for (const auto& t : file.tensors()) m.weights += t.size_bytes;
    KvCacheOptions kvo{cfg.n_layer, cfg.n_embd_kv(), n_ctx_total, kKvBlock, 1, kv_type};
    m.kv_cache = KvCache::bytes_needed(kvo);
    m.scratch = Decoder::scratch_bytes_for(cfg, n_batch, n_ctx_total, n_threads);
    return m;
}

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::load(const std::string& path, const EngineOptions& opt) {
    auto file = GgufFile::open(path);
    if (!file.ok()) return file.error();
    return load(std::shared_ptr<const GgufFile>(std::move(file.value())), opt);
}

Result<std::unique_ptr<Engine>> Engine::load(std::shared_ptr<const GgufFile> shared, const EngineOptions& opt) {
    std::unique_ptr<Engine> e(new Engine());
    const std::string& path = shared->path();
    e->kernels_ = select_kernels(opt.kernels.empty() ? nullptr : opt.kernels.c_str());
    if (e->kernels_ == nullptr)
        return Error::bad_argument("kernels '{}' are unknown or not supported by this CPU (ref, avx2, avx512)",
                                   opt.kernels);
    auto model = Model::load(shared, opt.repack ? e->kernels_ : nullptr);
    if (!model.ok()) return model.error();
    e->model_ = std::move(model.value());
    auto tok = Tokenizer::from_gguf(*shared);
    if (!tok.ok()) return tok.error();
    e->tokenizer_ = std::move(tok.value());
    const ModelConfig& cfg = e->model_->config();
    if (e->tokenizer_->n_vocab() > cfg.n_vocab)
        return Error::bad_file(path, "the tokenizer has {} tokens but token_embd.weight only {} rows",
                               e->tokenizer_->n_vocab(), cfg.n_vocab);

    const int n_threads = opt.n_threads > 0 ? opt.n_threads : ThreadPool::hardware_threads();
    if (n_threads > 1024) return Error::bad_argument("--threads {} is too many", n_threads);
    if (opt.n_seq < 1 || opt.n_seq > 4096) return Error::bad_argument("sequence count {} outside 1..4096", opt.n_seq);
    if (opt.n_batch < 1) return Error::bad_argument("batch size {} must be positive", opt.n_batch);

    // Context: what was asked, else the trained context capped to what fits in RAM.
    int64_t n_ctx = opt.n_ctx;
    if (n_ctx < 0) return Error::bad_argument("--ctx {} must be positive", n_ctx);
    const uint64_t avail = available_ram_bytes();
    if (n_ctx == 0) {
        n_ctx = std::min(cfg.n_ctx_train, kMaxContext);
        auto fits = [&](int64_t c) {
            const MemoryEstimate m = estimate_memory(*shared, cfg, c * opt.n_seq, opt.kv_type, opt.n_batch, n_threads);
            return avail == 0 || m.total() + kRamReserve <= avail;
        };
        while (n_ctx > 256 && !fits(n_ctx)) n_ctx /= 2;
        if (n_ctx != cfg.n_ctx_train)
            e->notes_.push_back(fmt::format("context capped to {} positions (model trained for {}) to fit in {:.1f} GiB "
                                            "of available memory; use --ctx to choose",
                                            n_ctx, cfg.n_ctx_train, avail / 1073741824.0));
    } else {
        if (n_ctx > kMaxContext) return Error::bad_argument("a context of {} positions is more than {}", n_ctx, kMaxContext);
        // Taken as asked, unless its KV cache and scratch cannot fit: their pages are touched only
        // as the context fills, so the process would be killed mid-answer. The weights are already
        // loaded, so they are not counted again.
        const MemoryEstimate m = estimate_memory(*shared, cfg, n_ctx * opt.n_seq, opt.kv_type, opt.n_batch, n_threads);
        if (avail > 0 && m.kv_cache + m.scratch > avail)
            return Error::bad_argument(
                "a context of {} positions x {} sequence(s) needs {:.1f} GiB of KV cache and scratch, more than the "
                "{:.1f} GiB of memory available",
                n_ctx, opt.n_seq, (double)(m.kv_cache + m.scratch) / 1073741824.0, (double)avail / 1073741824.0);
    }
    e->n_ctx_ = n_ctx;
    // Blocks are per sequence: each of n_seq sequences must hold n_ctx positions on its own.
    const int64_t blocks_per_seq = (n_ctx + kKvBlock - 1) / kKvBlock;
    KvCacheOptions kvo{cfg.n_layer, cfg.n_embd_kv(), blocks_per_seq * kKvBlock * opt.n_seq, kKvBlock, opt.n_seq,
                       opt.kv_type};
    auto kv = KvCache::create(kvo);
    if (!kv.ok()) return kv.error();
    e->kv_ = std::move(kv.value());
    e->pool_ = std::make_unique<ThreadPool>(n_threads);
    e->decoder_ = std::make_unique<Decoder>(*e->model_, *e->kernels_, *e->pool_, std::min(opt.n_batch, n_ctx));
    return e;
}

Status Engine::step(const Batch& batch, std::vector<float>& logits) {
    // Each sequence is limited to n_ctx positions even when the shared pool has room.
    for (int64_t i = 0; i < batch.size(); ++i)
        if (batch.pos[i] >= n_ctx_)
            return Error::make(ErrorKind::kContextFull,
                               "position {} of sequence {} is past the context size {} (use --ctx to raise it)",
                               batch.pos[i], batch.seq[i], n_ctx_);
    return decoder_->forward(batch, kv_, logits);
}

}  // namespace retort
