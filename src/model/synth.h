// Synthetic models: random-weight GGUF files with the exact hyper-parameters, tensor shapes and
// per-tensor quantization mixtures of the R1 distills (what `retort synth` writes). This file
// decides names, shapes, types and values; gguf/ writes the bytes, tensor/ quantizes them.
//
//   const SynthPreset* p = find_synth_preset("r1-distill-qwen-1.5b");
//   const SynthFileType* t = find_synth_file_type("Q4_K_M");
//   SynthPlan plan = plan_synth(*p, *t);                   // names, shapes, types, bytes
//   auto w = SynthWriter::create(plan, {.seed = 1});         // metadata + fill callbacks
//   w.value()->file_size();                                  // exact, nothing written yet
//   w.value()->write_file("/tmp/q.gguf");                    // streamed, row chunk by row chunk
#pragma once

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "tensor/dtype.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace retort {

// GGUF token types (llama.cpp's llama_token_type numbering).
enum class SynthTokenType : int32_t { kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5 };

struct SynthSpecialToken {
    int32_t id;
    std::string_view text;
    SynthTokenType type;
};

// One model shape. Values are the real models' config.json (tests/data/FIXTURES.md §1.7);
// the tiny-* presets are the shapes of the tests/data/tiny fixtures.
struct SynthPreset {
    std::string_view name;        // --preset
    std::string_view arch;        // general.architecture: "qwen2" or "llama"
    std::string_view model_name;  // general.name
    std::string_view basename;    // general.basename
    std::string_view size_label;  // general.size_label
    int64_t n_vocab;
    int64_t n_embd;
    int64_t n_ff;
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t head_dim;
    int64_t n_ctx_train;
    double rope_base;
    double rms_eps;
    bool qkv_bias;    // qwen2: attn_{q,k,v}.bias
    bool rope_freqs;  // llama: rope_freqs.weight with the Llama-3.1 factors (8, 1, 4, 8192)
    // Built-in tokenizer (used without --vocab): pre-tokenizer and the R1 special tokens.
    std::string_view tokenizer_pre;
    int32_t bos_id;
    int32_t eos_id;
    std::span<const SynthSpecialToken> specials;
};

// The presets, in the order `retort synth --help` lists them.
std::span<const SynthPreset> synth_presets();
const SynthPreset* find_synth_preset(std::string_view name);

// A llama.cpp file type (llama_ftype): the base tensor type plus the mixture rules below.
struct SynthFileType {
    std::string_view name;  // "Q4_K_M", as llama-quantize spells it
    uint32_t ftype;         // general.file_type (LLAMA_FTYPE_*)
    DType base;             // llama.cpp's default type for the file type
};
std::span<const SynthFileType> synth_file_types();
const SynthFileType* find_synth_file_type(std::string_view name);

// ---- the mixture: which type llama-quantize gives each tensor of a file type.

// What the rules look at besides the tensor itself.
struct MixtureModel {
    std::string_view arch;  // "llama", "qwen2", ...
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
};
struct MixtureTensor {
    std::string name;
    std::vector<int64_t> ne;  // GGUF order: ne[0] is the row length
};
// The type of every tensor (same order as `tensors`) when a file holding them in F32 is
// quantized to `ft` by llama-quantize without --pure, imatrix or overrides (llama.cpp's
// llama_tensor_get_type for the dense, non-Falcon, non-MoE models retort runs).
std::vector<DType> choose_tensor_types(const MixtureModel& model, const SynthFileType& ft,
                                       std::span<const MixtureTensor> tensors);

// ---- the plan: every tensor of a preset with its type and initial distribution.

enum class SynthInit {
    kGaussian,   // N(0, sigma^2)
    kNorm,       // 1 + N(0, sigma^2): RMSNorm weights
    kRopeFreqs,  // the Llama-3.1 rope_freqs divisors (deterministic)
};

struct SynthTensor {
    std::string name;
    std::vector<int64_t> ne;  // GGUF order
    DType type;
    SynthInit init;
    float sigma;
    uint64_t size_bytes;
};

struct SynthPlan {
    const SynthPreset* preset = nullptr;
    const SynthFileType* file_type = nullptr;
    std::vector<SynthTensor> tensors;  // in file order (the converter's order)
    uint64_t tensor_bytes = 0;         // sum of size_bytes, without alignment padding
    int64_t n_params = 0;
};
SynthPlan plan_synth(const SynthPreset& preset, const SynthFileType& file_type);

// The Llama-3.1 per-dimension RoPE divisors as convert_hf_to_gguf.py writes rope_freqs.weight:
// n_rot/2 values in [1, factor].
std::vector<float> llama3_rope_factors(int64_t n_rot, double rope_base, double factor = 8.0,
                                       double low_freq_factor = 1.0, double high_freq_factor = 4.0,
                                       int64_t original_ctx = 8192);

// ---- writing.

struct SynthOptions {
    uint64_t seed = 0;
    // A GGUF whose tokenizer.* keys are copied (its token list padded with [PADn] to n_vocab);
    // null: a generated byte-level BPE vocab (see synth.cpp, "Built-in tokenizer").
    const GgufFile* vocab = nullptr;
    int n_threads = 0;  // 0: all hardware threads
    size_t chunk_bytes = size_t{32} << 20;  // output bytes generated per fill call
    // Called after each chunk with tensor data bytes done / total (on the writing thread).
    std::function<void(uint64_t done, uint64_t total)> progress = nullptr;
};

// Owns the GGUF writer and the thread pool its fill callbacks use. Values depend only on the
// seed, the tensor and the row, never on the thread count or chunk size.
class SynthWriter {
public:
    static Result<std::unique_ptr<SynthWriter>> create(SynthPlan plan, SynthOptions options);

    const SynthPlan& plan() const { return plan_; }
    const GgufWriter& gguf() const { return gguf_; }
    uint64_t file_size() const { return gguf_.file_size(); }
    // Streams the file (via path + ".partial", renamed on success).
    Status write_file(const std::string& path);

    // The float values of rows [row0, row0 + n_rows) of tensor `index` before quantization
    // (tests: the written bytes must be these values quantized).
    void generate_rows(size_t index, int64_t row0, int64_t n_rows, float* dst) const;

private:
    SynthWriter(SynthPlan plan, SynthOptions options);
    Status fill(size_t index, int64_t row0, int64_t n_rows, uint8_t* dst);
    void generate_row(size_t index, int64_t row, float* dst) const;

    SynthPlan plan_;
    SynthOptions opt_;
    GgufWriter gguf_;
    std::unique_ptr<ThreadPool> pool_;
    std::vector<std::vector<float>> scratch_;  // per thread: one row of floats
    std::vector<float> rope_factors_;
    uint64_t done_bytes_ = 0;
};

}  // namespace retort
