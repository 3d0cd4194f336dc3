// ModelConfig: the hyper-parameters of a model, read from GGUF metadata and validated once.
#pragma once

#include "gguf/gguf.h"
#include "model/arch.h"
#include "util/error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace retort {

struct ModelConfig {
    const ArchSpec* arch = nullptr;
    std::string name;            // general.name, may be empty
    int64_t n_vocab = 0;         // rows of token_embd
    int64_t n_embd = 0;
    int64_t n_ff = 0;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;        // n_embd / n_head unless attention.key_length says otherwise
    int64_t n_ctx_train = 0;     // context_length
    int64_t n_rot = 0;           // rope.dimension_count (default head_dim)
    float rms_eps = 1e-5f;
    float rope_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // linear scaling: positions are multiplied by this
    // Llama-3 style scaling given by keys rather than a rope_freqs tensor (rare).
    bool rope_llama3 = false;
    float rope_llama3_factor = 1, rope_llama3_low = 1, rope_llama3_high = 4;
    int64_t rope_llama3_orig_ctx = 8192;
    bool has_chat_template = false;
    uint32_t file_type = 0;      // general.file_type (llama_ftype), 0 when absent

    int64_t n_embd_q() const { return n_head * head_dim; }
    int64_t n_embd_kv() const { return n_head_kv * head_dim; }
    int64_t n_gqa() const { return n_head / n_head_kv; }
};

// Reads and validates the hyper-parameters; the file's architecture must be registered.
// `n_vocab_hint` is the token count of the vocab (used when <arch>.vocab_size is absent and
// there are no tensors, as in vocab-only files).
Result<ModelConfig> read_model_config(const GgufFile& file);

// Human name of llama.cpp's general.file_type values ("Q4_K - Medium").
std::string file_type_name(uint32_t ftype);

}  // namespace retort
