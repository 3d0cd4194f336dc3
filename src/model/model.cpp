#include "model/model.h"

#include <cmath>

namespace retort {

namespace {

// Llama-3.1 RoPE scaling from rope.scaling.* keys, as the per-dimension divisors the
// converter would have written into rope_freqs.weight (Meta's llama3 rule: long wavelengths
// are divided by `factor`, short ones kept, a smooth blend between).
std::vector<float> llama3_rope_factors(const ModelConfig& c) {
    std::vector<float> f((size_t)(c.n_rot / 2));
    const double low_wavelen = c.rope_llama3_orig_ctx / c.rope_llama3_low;
    const double high_wavelen = c.rope_llama3_orig_ctx / c.rope_llama3_high;
    for (int64_t i = 0; i < c.n_rot / 2; ++i) {
        const double freq = 1.0 / std::pow((double)c.rope_base, 2.0 * i / c.n_rot);
        const double wavelen = 2 * M_PI / freq;
        if (wavelen < high_wavelen) {
            f[(size_t)i] = 1.0f;
        } else if (wavelen > low_wavelen) {
            f[(size_t)i] = c.rope_llama3_factor;
        } else {
            const double smooth = (c.rope_llama3_orig_ctx / wavelen - c.rope_llama3_low) /
                                  (c.rope_llama3_high - c.rope_llama3_low);
            f[(size_t)i] = (float)(1.0 / ((1 - smooth) / c.rope_llama3_factor + smooth));
        }
    }
    return f;
}

}  // namespace

Result<std::unique_ptr<Model>> Model::load(const std::string& path, const KernelTable* pack_for) {
    auto file = GgufFile::open(path);
    if (!file.ok()) return file.error();
    return load(std::shared_ptr<const GgufFile>(std::move(file.value())), pack_for);
}

Result<std::unique_ptr<Model>> Model::load(std::shared_ptr<const GgufFile> file, const KernelTable* pack_for) {
    auto cfg = read_model_config(*file);
    if (!cfg.ok()) return cfg.error();
    if (file->tensors().empty())
        return Error::bad_file(file->path(), "the file has no tensors (a vocab-only file?): it cannot be run, "
                                             "only used with tokenize/detokenize");
    auto w = bind_weights(*file, cfg.value());
    if (!w.ok()) return w.error();
    if (pack_for != nullptr)
        if (auto st = pack_weights(w.value(), *pack_for); !st.ok()) return st.error();
    std::unique_ptr<Model> m(new Model());
    m->file_ = std::move(file);
    m->config_ = std::move(cfg.value());
    m->weights_ = std::move(w.value());
    if (m->weights_.rope_freqs == nullptr && m->config_.rope_llama3) {
        m->weights_.owned.push_back(llama3_rope_factors(m->config_));
        m->weights_.rope_freqs = m->weights_.owned.back().data();
    }
    return m;
}

}  // namespace retort
