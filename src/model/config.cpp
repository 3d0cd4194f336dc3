#include "model/config.h"

#include <cmath>

namespace retort {

namespace {

// Reads <arch>.<suffix> as an integer; required ones fail with the key named.
Result<int64_t> read_int(const GgufFile& f, const std::string& key, std::optional<int64_t> fallback) {
    auto v = f.get_int(key);
    if (!v.ok()) return v.error();
    if (v.value().has_value()) return *v.value();
    if (fallback.has_value()) return *fallback;
    return Error::bad_file(f.path(), "required metadata key '{}' is missing", key);
}

Result<double> read_float(const GgufFile& f, const std::string& key, std::optional<double> fallback) {
    auto v = f.get_float(key);
    if (!v.ok()) return v.error();
    if (v.value().has_value()) return *v.value();
    if (fallback.has_value()) return *fallback;
    return Error::bad_file(f.path(), "required metadata key '{}' is missing", key);
}

}  // namespace

Result<ModelConfig> read_model_config(const GgufFile& f) {
    auto arch_name = f.get_string("general.architecture");
    if (!arch_name.ok()) return arch_name.error();
    if (!arch_name.value().has_value())
        return Error::bad_file(f.path(), "metadata key 'general.architecture' is missing");
    const std::string arch(**arch_name);
    ModelConfig c;
    c.arch = find_arch(arch);
    if (c.arch == nullptr)
        return Error::make(ErrorKind::kUnsupported, "{}: architecture '{}' is not supported (supported: {})",
                           f.path(), arch, supported_arch_names());
    if (auto n = f.get_string("general.name"); n.ok() && n.value().has_value()) c.name = std::string(**n);

    const std::string p = arch + ".";
#define READ_INT(field, key, fallback)                               \
    {                                                                \
        auto r = read_int(f, p + key, fallback);                     \
        if (!r.ok()) return r.error();                               \
        c.field = r.value();                                         \
    }
    READ_INT(n_embd, "embedding_length", std::nullopt)
    READ_INT(n_ff, "feed_forward_length", std::nullopt)
    READ_INT(n_layer, "block_count", std::nullopt)
    READ_INT(n_head, "attention.head_count", std::nullopt)
    READ_INT(n_head_kv, "attention.head_count_kv", c.n_head)
    READ_INT(n_ctx_train, "context_length", std::nullopt)
#undef READ_INT
    if (c.n_embd <= 0 || c.n_ff <= 0 || c.n_layer <= 0 || c.n_head <= 0 || c.n_head_kv <= 0 || c.n_ctx_train <= 0)
        return Error::bad_file(f.path(),
                               "hyper-parameters must be positive: embedding_length {}, feed_forward_length {}, "
                               "block_count {}, head_count {}, head_count_kv {}, context_length {}",
                               c.n_embd, c.n_ff, c.n_layer, c.n_head, c.n_head_kv, c.n_ctx_train);
    if (c.n_layer > 4096 || c.n_head > 4096 || c.n_embd > (1 << 20) || c.n_ff > (1 << 22))
        return Error::bad_file(f.path(), "implausible hyper-parameters: block_count {}, head_count {}, "
                               "embedding_length {}, feed_forward_length {}", c.n_layer, c.n_head, c.n_embd, c.n_ff);
    if (c.n_head % c.n_head_kv != 0)
        return Error::bad_file(f.path(), "attention.head_count {} is not a multiple of head_count_kv {}", c.n_head,
                               c.n_head_kv);
    {
        auto r = read_int(f, p + "attention.key_length", c.n_embd % c.n_head == 0 ? std::optional<int64_t>(c.n_embd / c.n_head) : std::nullopt);
        if (!r.ok()) return r.error();
        c.head_dim = r.value();
        auto rv = read_int(f, p + "attention.value_length", c.head_dim);
        if (!rv.ok()) return rv.error();
        if (rv.value() != c.head_dim)
            return Error::make(ErrorKind::kUnsupported, "{}: attention.value_length {} != key_length {} is not supported",
                               f.path(), rv.value(), c.head_dim);
    }
    if (c.head_dim <= 0 || c.head_dim % 2 != 0 || c.head_dim > 1024)
        return Error::bad_file(f.path(), "head dimension {} must be even and in 2..1024", c.head_dim);
    {
        auto r = read_int(f, p + "rope.dimension_count", c.head_dim);
        if (!r.ok()) return r.error();
        c.n_rot = r.value();
        if (c.n_rot <= 0 || c.n_rot > c.head_dim || c.n_rot % 2 != 0)
            return Error::bad_file(f.path(), "rope.dimension_count {} must be even and in 2..{}", c.n_rot, c.head_dim);
    }
    {
        auto eps = read_float(f, p + "attention.layer_norm_rms_epsilon", 1e-5);
        if (!eps.ok()) return eps.error();
        c.rms_eps = (float)eps.value();
        auto base = read_float(f, p + "rope.freq_base", c.arch->default_rope_base);
        if (!base.ok()) return base.error();
        c.rope_base = (float)base.value();
        if (!(c.rms_eps > 0 && c.rms_eps < 1) || !(c.rope_base > 1) || !std::isfinite(c.rope_base))
            return Error::bad_file(f.path(), "bad rms epsilon {} or rope base {}", c.rms_eps, c.rope_base);
    }
    // RoPE scaling keys. llama.cpp writes Llama-3.1 scaling as the rope_freqs tensor; the keys
    // are honoured too so files from other converters work.
    if (auto t = f.get_string(p + "rope.scaling.type"); t.ok() && t.value().has_value()) {
        const std::string_view type = **t;
        auto factor = read_float(f, p + "rope.scaling.factor", 1.0);
        if (!factor.ok()) return factor.error();
        if (!(factor.value() > 0)) return Error::bad_file(f.path(), "rope.scaling.factor {} must be positive", factor.value());
        if (type == "linear") {
            c.rope_freq_scale = (float)(1.0 / factor.value());
        } else if (type == "llama3") {
            c.rope_llama3 = true;
            c.rope_llama3_factor = (float)factor.value();
            auto lo = read_float(f, p + "rope.scaling.low_freq_factor", 1.0);
            auto hi = read_float(f, p + "rope.scaling.high_freq_factor", 4.0);
            auto orig = read_int(f, p + "rope.scaling.original_context_length", 8192);
            if (!lo.ok() || !hi.ok() || !orig.ok())
                return Error::bad_file(f.path(), "bad rope.scaling.* values for llama3 scaling");
            c.rope_llama3_low = (float)lo.value();
            c.rope_llama3_high = (float)hi.value();
            c.rope_llama3_orig_ctx = orig.value();
        } else if (type != "none") {
            return Error::make(ErrorKind::kUnsupported, "{}: rope.scaling.type '{}' is not supported (linear, llama3, none)",
                               f.path(), type);
        }
    } else if (auto fs = f.get_float(p + "rope.scale_linear"); fs.ok() && fs.value().has_value() && **fs > 0) {
        c.rope_freq_scale = (float)(1.0 / **fs);
    }
    // Vocabulary size: the embedding rows decide for models; vocab-only files use the token list.
    if (const GgufTensorInfo* emb = f.find_tensor("token_embd.weight"); emb != nullptr && emb->ne.size() == 2) {
        c.n_vocab = emb->ne[1];
    } else if (auto toks = f.find("tokenizer.ggml.tokens"); toks != nullptr) {
        c.n_vocab = (int64_t)toks->count;
    }
    c.has_chat_template = f.find("tokenizer.chat_template") != nullptr;
    if (auto ft = f.get_uint("general.file_type"); ft.ok() && ft.value().has_value()) c.file_type = (uint32_t)**ft;
    return c;
}

std::string file_type_name(uint32_t ftype) {
    switch (ftype) {
        case 0: return "F32";
        case 1: return "F16";
        case 2: return "Q4_0";
        case 3: return "Q4_1";
        case 7: return "Q8_0";
        case 8: return "Q5_0";
        case 9: return "Q5_1";
        case 10: return "Q2_K";
        case 11: return "Q3_K_S";
        case 12: return "Q3_K_M";
        case 13: return "Q3_K_L";
        case 14: return "Q4_K_S";
        case 15: return "Q4_K_M";
        case 16: return "Q5_K_S";
        case 17: return "Q5_K_M";
        case 18: return "Q6_K";
        case 32: return "BF16";
        default: return "type " + std::to_string(ftype);
    }
}

}  // namespace retort
