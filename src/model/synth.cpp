// Synthetic R1-distill GGUFs: presets, llama-quantize's per-tensor type mixtures, the tensor
// plan, the built-in tokenizer and the streaming, multi-threaded writer driving gguf/.
#include "model/synth.h"

#include "gguf/ggml_types.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <numeric>

namespace retort {

// ------------------------------------------------------------------------------------------
// Presets
// ------------------------------------------------------------------------------------------

namespace {

using TT = SynthTokenType;

// R1-Distill-Qwen's added tokens (FIXTURES.md §1.2); ids past the last are [PADn], UNUSED.
constexpr SynthSpecialToken kQwenSpecials[] = {
    {151643, "<｜end▁of▁sentence｜>", TT::kControl},   {151644, "<｜User｜>", TT::kControl},
    {151645, "<｜Assistant｜>", TT::kControl},         {151646, "<｜begin▁of▁sentence｜>", TT::kControl},
    {151647, "<|EOT|>", TT::kControl},                 {151648, "<think>", TT::kUserDefined},
    {151649, "</think>", TT::kUserDefined},            {151650, "<|quad_start|>", TT::kControl},
    {151651, "<|quad_end|>", TT::kControl},            {151652, "<|vision_start|>", TT::kControl},
    {151653, "<|vision_end|>", TT::kControl},          {151654, "<|vision_pad|>", TT::kControl},
    {151655, "<|image_pad|>", TT::kControl},           {151656, "<|video_pad|>", TT::kControl},
    {151657, "<tool_call>", TT::kUserDefined},         {151658, "</tool_call>", TT::kUserDefined},
    {151659, "<|fim_prefix|>", TT::kControl},          {151660, "<|fim_middle|>", TT::kControl},
    {151661, "<|fim_suffix|>", TT::kControl},          {151662, "<|fim_pad|>", TT::kControl},
    {151663, "<|repo_name|>", TT::kControl},           {151664, "<|file_sep|>", TT::kControl},
};

// R1-Distill-Llama's named special tokens; the other ids of 128002..128255 become
// <|reserved_special_token_N|> (CONTROL).
constexpr SynthSpecialToken kLlamaSpecials[] = {
    {128000, "<｜begin▁of▁sentence｜>", TT::kControl}, {128001, "<｜end▁of▁sentence｜>", TT::kControl},
    {128004, "<|finetune_right_pad_id|>", TT::kControl}, {128006, "<|start_header_id|>", TT::kControl},
    {128007, "<|end_header_id|>", TT::kControl},       {128008, "<|eom_id|>", TT::kControl},
    {128009, "<|eot_id|>", TT::kControl},              {128010, "<|python_tag|>", TT::kControl},
    {128011, "<｜User｜>", TT::kControl},              {128012, "<｜Assistant｜>", TT::kControl},
    {128013, "<think>", TT::kUserDefined},             {128014, "</think>", TT::kUserDefined},
    {128015, "<｜▁pad▁｜>", TT::kControl},
};

// The tiny fixtures' special ids (FIXTURES.md §3).
constexpr SynthSpecialToken kTinyQwenSpecials[] = {
    {377, "<｜end▁of▁sentence｜>", TT::kControl}, {378, "<｜User｜>", TT::kControl},
    {379, "<｜Assistant｜>", TT::kControl},       {380, "<｜begin▁of▁sentence｜>", TT::kControl},
    {381, "<|EOT|>", TT::kControl},               {382, "<think>", TT::kUserDefined},
    {383, "</think>", TT::kUserDefined},
};
constexpr SynthSpecialToken kTinyLlamaSpecials[] = {
    {312, "<｜begin▁of▁sentence｜>", TT::kControl}, {313, "<｜end▁of▁sentence｜>", TT::kControl},
    {314, "<|eom_id|>", TT::kControl},              {315, "<|eot_id|>", TT::kControl},
    {316, "<｜User｜>", TT::kControl},              {317, "<｜Assistant｜>", TT::kControl},
    {318, "<think>", TT::kUserDefined},             {319, "</think>", TT::kUserDefined},
};

// clang-format off
const SynthPreset kPresets[] = {
    // name                    arch     general.name                      basename                    size   n_vocab  n_embd  n_ff  layer head kv hd   ctx     rope θ    rms eps bias  freqs
    {"r1-distill-qwen-1.5b",  "qwen2", "DeepSeek R1 Distill Qwen 1.5B",  "DeepSeek-R1-Distill-Qwen",  "1.5B", 151936,  1536,  8960, 28, 12,  2, 128, 131072, 10000,    1e-6, true,  false, "deepseek-r1-qwen", 151646, 151643, kQwenSpecials},
    {"r1-distill-qwen-7b",    "qwen2", "DeepSeek R1 Distill Qwen 7B",    "DeepSeek-R1-Distill-Qwen",  "7B",   152064,  3584, 18944, 28, 28,  4, 128, 131072, 10000,    1e-6, true,  false, "deepseek-r1-qwen", 151646, 151643, kQwenSpecials},
    {"r1-distill-qwen-14b",   "qwen2", "DeepSeek R1 Distill Qwen 14B",   "DeepSeek-R1-Distill-Qwen",  "14B",  152064,  5120, 13824, 48, 40,  8, 128, 131072, 1000000,  1e-5, true,  false, "deepseek-r1-qwen", 151646, 151643, kQwenSpecials},
    {"r1-distill-qwen-32b",   "qwen2", "DeepSeek R1 Distill Qwen 32B",   "DeepSeek-R1-Distill-Qwen",  "32B",  152064,  5120, 27648, 64, 40,  8, 128, 131072, 1000000,  1e-5, true,  false, "deepseek-r1-qwen", 151646, 151643, kQwenSpecials},
    {"r1-distill-llama-8b",   "llama", "DeepSeek R1 Distill Llama 8B",   "DeepSeek-R1-Distill-Llama", "8B",   128256,  4096, 14336, 32, 32,  8, 128, 131072, 500000,   1e-5, false, true,  "llama-bpe",        128000, 128001, kLlamaSpecials},
    {"r1-distill-llama-70b",  "llama", "DeepSeek R1 Distill Llama 70B",  "DeepSeek-R1-Distill-Llama", "70B",  128256,  8192, 28672, 80, 64,  8, 128, 131072, 500000,   1e-5, false, true,  "llama-bpe",        128000, 128001, kLlamaSpecials},
    // The tests/data/tiny fixture shapes: small files for tests.
    {"tiny-qwen2",            "qwen2", "tiny-r1-distill-qwen2-random",   "tiny-r1-distill-qwen2",     "tiny",    384,   256,   512,  2,  4,  2,  64, 131072, 10000,    1e-6, true,  false, "deepseek-r1-qwen",    380,    377, kTinyQwenSpecials},
    {"tiny-llama",            "llama", "tiny-r1-distill-llama-random",   "tiny-r1-distill-llama",     "tiny",    320,   256,   768,  2,  2,  1, 128, 131072, 500000,   1e-5, false, true,  "llama-bpe",           312,    313, kTinyLlamaSpecials},
};

// llama_ftype values (llama.h) and llama_ftype_get_default_type's base types.
const SynthFileType kFileTypes[] = {
    {"F32",    0,  DType::F32},  {"F16",    1,  DType::F16},  {"BF16",   32, DType::BF16},
    {"Q8_0",   7,  DType::Q8_0}, {"Q4_0",   2,  DType::Q4_0}, {"Q4_1",   3,  DType::Q4_1},
    {"Q5_0",   8,  DType::Q5_0}, {"Q5_1",   9,  DType::Q5_1}, {"Q2_K",   10, DType::Q2_K},
    {"Q3_K_S", 11, DType::Q3_K}, {"Q3_K_M", 12, DType::Q3_K}, {"Q3_K_L", 13, DType::Q3_K},
    {"Q4_K_S", 14, DType::Q4_K}, {"Q4_K_M", 15, DType::Q4_K}, {"Q5_K_S", 16, DType::Q5_K},
    {"Q5_K_M", 17, DType::Q5_K}, {"Q6_K",   18, DType::Q6_K},
};
// clang-format on

}  // namespace

std::span<const SynthPreset> synth_presets() { return kPresets; }

const SynthPreset* find_synth_preset(std::string_view name) {
    for (const auto& p : kPresets)
        if (p.name == name) return &p;
    return nullptr;
}

std::span<const SynthFileType> synth_file_types() { return kFileTypes; }

const SynthFileType* find_synth_file_type(std::string_view name) {
    for (const auto& t : kFileTypes)
        if (t.name == name) return &t;
    return nullptr;
}

// ------------------------------------------------------------------------------------------
// Mixture rules: llama.cpp's llama_tensor_get_type (src/llama-quant.cpp at d32676d7), restricted
// to the file types above and to dense, non-Falcon models (no IQ*, MoE or fused-QKV branches).
// ------------------------------------------------------------------------------------------

namespace {

enum class Category { kOutput, kTokenEmbd, kAttnV, kAttnK, kAttnQ, kAttnOutput, kFfnUp, kFfnGate, kFfnDown, kOther };

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }
bool ends_with(std::string_view s, std::string_view tail) {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// Same tests in the same order as llama.cpp, which matches substrings ("ffn_up" also matches
// a bias; only weights get here).
Category category_of(std::string_view name) {
    if (name == "output.weight") return Category::kOutput;
    if (name == "token_embd.weight") return Category::kTokenEmbd;
    if (contains(name, "attn_v.weight")) return Category::kAttnV;
    if (contains(name, "attn_k.weight")) return Category::kAttnK;
    if (contains(name, "attn_q.weight")) return Category::kAttnQ;
    if (contains(name, "attn_output.weight")) return Category::kAttnOutput;
    if (contains(name, "ffn_up")) return Category::kFfnUp;
    if (contains(name, "ffn_gate")) return Category::kFfnGate;
    if (contains(name, "ffn_down")) return Category::kFfnDown;
    return Category::kOther;
}

// ggml_n_dims: trailing dimensions of 1 do not count.
int n_dims(const std::vector<int64_t>& ne) {
    int n = (int)ne.size();
    while (n > 1 && ne[(size_t)n - 1] == 1) --n;
    return n;
}

// llama.cpp's tensor_allows_quantization for the names our architectures have: 2-D (or more)
// tensors whose name ends in "weight", except norms and MoE router weights.
bool allows_quantization(const MixtureTensor& t) {
    return n_dims(t.ne) >= 2 && ends_with(t.name, "weight") && !contains(t.name, "_norm.weight") &&
           !contains(t.name, "ffn_gate_inp.weight");
}

bool is_quantized(DType t) { return t != DType::F32 && t != DType::F16 && t != DType::BF16; }
int64_t block_elems(DType t) { return traits(t).block_elems; }

// Layers that get more bits in the _M mixes: the first and last eighth, and every third one
// in between.
bool use_more_bits(int64_t i_layer, int64_t n_layer) {
    return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

// Applies when a row length does not divide into the chosen type's blocks.
DType fallback_type(DType t, int64_t ncols) {
    if (ncols % block_elems(t) == 0) return t;
    DType f = t;
    switch (t) {
        case DType::Q2_K: case DType::Q3_K: f = DType::Q4_0; break;
        case DType::Q4_K: f = DType::Q5_0; break;
        case DType::Q5_K: f = DType::Q5_1; break;
        case DType::Q6_K: f = DType::Q8_0; break;
        default: break;  // the 32-element types: nothing smaller to fall back to but F16
    }
    return ncols % block_elems(f) == 0 ? f : DType::F16;
}

struct MixState {
    int64_t n_attention_wv = 0, i_attention_wv = 0;
    int64_t n_layer = 0, i_ffn_down = 0;
    int64_t n_gqa = 1;
    bool is_70b = false;  // llama.cpp's LLM_TYPE_70B: 8 query heads share each attn_v
    bool tied_embeddings = true;
};

DType choose_one(MixState& s, const SynthFileType& ft, const MixtureTensor& t, Category cat) {
    const std::string_view f = ft.name;
    DType type = ft.base;
    if (cat == Category::kOutput || (s.tied_embeddings && cat == Category::kTokenEmbd)) {
        // The output matrix (or a tied embedding standing in for it): Q6_K unless the file
        // is Q8_0; Q8_0 when its rows do not divide into the base type's blocks.
        if (t.ne[0] % block_elems(type) != 0) type = DType::Q8_0;
        else if (type != DType::Q8_0) type = DType::Q6_K;
    } else if (cat == Category::kTokenEmbd) {
        // Only IQ* and ternary file types change it: the base type for all of ours.
    } else if (cat == Category::kAttnV) {
        if (f == "Q2_K") type = s.n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
        else if (f == "Q3_K_M") type = s.i_attention_wv < 2 ? DType::Q5_K : DType::Q4_K;
        else if (f == "Q3_K_L") type = DType::Q5_K;
        else if ((f == "Q4_K_M" || f == "Q5_K_M") && use_more_bits(s.i_attention_wv, s.n_attention_wv))
            type = DType::Q6_K;
        else if (f == "Q4_K_S" && s.i_attention_wv < 4) type = DType::Q5_K;
        // 70B: attn_v is 8x smaller than attn_q, so more bits cost almost nothing.
        if (s.is_70b && (type == DType::Q3_K || type == DType::Q4_K)) type = DType::Q5_K;
        ++s.i_attention_wv;
    } else if (cat == Category::kFfnDown) {
        const int64_t il = s.i_ffn_down, nl = s.n_layer;
        if (f == "Q2_K") type = DType::Q3_K;
        else if (f == "Q3_K_M") type = il < nl / 16 ? DType::Q5_K : DType::Q4_K;
        else if (f == "Q3_K_L") type = DType::Q5_K;
        else if (f == "Q4_K_M") { if (use_more_bits(il, nl)) type = DType::Q6_K; }
        else if (f == "Q5_K_M") { if (use_more_bits(il, nl)) type = DType::Q6_K; }
        else if (f == "Q4_K_S" && il < nl / 8) type = DType::Q5_K;
        ++s.i_ffn_down;
    } else if (cat == Category::kAttnOutput) {
        if (f == "Q2_K") type = DType::Q3_K;
        else if (f == "Q3_K_M") type = DType::Q4_K;
        else if (f == "Q3_K_L") type = DType::Q5_K;
    }
    // attn_q, attn_k, ffn_gate, ffn_up: only IQ* and MoE rules touch them.
    return fallback_type(type, t.ne[0]);
}

// llama_model_loader keeps tensors in a map ordered by layer number, then name; the
// per-category counters (i_attention_wv, i_ffn_down) advance in that order.
int64_t layer_of(const std::string& name) {
    int il = -1;
    if (std::sscanf(name.c_str(), "blk.%d.", &il) != 1) il = -1;
    return il;
}

}  // namespace

std::vector<DType> choose_tensor_types(const MixtureModel& model, const SynthFileType& ft,
                                       std::span<const MixtureTensor> tensors) {
    MixState s;
    s.n_layer = model.n_layer;
    s.n_gqa = model.n_head_kv > 0 ? model.n_head / model.n_head_kv : 1;
    s.is_70b = model.n_layer == 80 &&
               ((model.arch == "llama" && model.n_head != model.n_head_kv) || model.arch == "qwen2");
    for (const auto& t : tensors) {
        const Category c = category_of(t.name);
        if (c == Category::kAttnV) ++s.n_attention_wv;
        if (c == Category::kOutput) s.tied_embeddings = false;
    }
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const int64_t la = layer_of(tensors[a].name), lb = layer_of(tensors[b].name);
        return la != lb ? la < lb : tensors[a].name < tensors[b].name;
    });

    std::vector<DType> types(tensors.size(), DType::F32);
    for (size_t i : order) {
        const MixtureTensor& t = tensors[i];
        if (!allows_quantization(t)) continue;  // stays as converted: F32
        types[i] = is_quantized(ft.base) ? choose_one(s, ft, t, category_of(t.name)) : ft.base;
    }
    return types;
}

// ------------------------------------------------------------------------------------------
// Plan
// ------------------------------------------------------------------------------------------

std::vector<float> llama3_rope_factors(int64_t n_rot, double rope_base, double factor, double low_freq_factor,
                                       double high_freq_factor, int64_t original_ctx) {
    // convert_hf_to_gguf.py (LlamaModel, rope_type llama3): wavelengths shorter than
    // original_ctx / high_freq_factor keep their frequency, longer than original_ctx /
    // low_freq_factor are divided by `factor`, and the band between is interpolated.
    const double low_wavelen = (double)original_ctx / low_freq_factor;
    const double high_wavelen = (double)original_ctx / high_freq_factor;
    std::vector<float> out((size_t)(n_rot / 2));
    for (int64_t i = 0; i < n_rot / 2; ++i) {
        // The converter computes freqs in float32 (torch.arange / dim).
        const float freq = 1.0f / std::pow((float)rope_base, (float)(2 * i) / (float)n_rot);
        const double wavelen = 2 * std::numbers::pi / freq;
        double f;
        if (wavelen < high_wavelen) f = 1;
        else if (wavelen > low_wavelen) f = factor;
        else {
            const double smooth = ((double)original_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
            f = 1 / ((1 - smooth) / factor + smooth);
        }
        out[(size_t)i] = (float)f;
    }
    return out;
}

SynthPlan plan_synth(const SynthPreset& p, const SynthFileType& ft) {
    SynthPlan plan;
    plan.preset = &p;
    plan.file_type = &ft;
    const int64_t q_dim = p.n_head * p.head_dim, kv_dim = p.n_head_kv * p.head_dim;
    // FIXTURES.md §3 gives the scales at n_embd 256 (embeddings 0.1, q/k 0.08, v/o/FFN 0.05,
    // output 0.1, norms 1 + N(0, 0.1^2), qwen2 biases 0.1 (q, v) and 0.3 (k)). Matrices are
    // scaled by sqrt(256 / n_embd) so activations and logits keep the fixtures' magnitudes at
    // any width (0.02 for the 1.5B v/o/FFN, close to trained R1 distills); tiny presets get
    // the fixtures' values exactly.
    const float w = (float)std::sqrt(256.0 / (double)p.n_embd);
    auto add = [&](std::string name, std::vector<int64_t> ne, SynthInit init, float sigma) {
        plan.tensors.push_back({std::move(name), std::move(ne), DType::F32, init, sigma, 0});
    };
    // The converter's order: rope_freqs (llama), token_embd, each block, output_norm, output.
    if (p.rope_freqs) add("rope_freqs.weight", {p.head_dim / 2}, SynthInit::kRopeFreqs, 0);
    add("token_embd.weight", {p.n_embd, p.n_vocab}, SynthInit::kGaussian, 0.1f * w);
    for (int64_t il = 0; il < p.n_layer; ++il) {
        const std::string b = fmt::format("blk.{}.", il);
        add(b + "attn_norm.weight", {p.n_embd}, SynthInit::kNorm, 0.1f);
        add(b + "attn_q.weight", {p.n_embd, q_dim}, SynthInit::kGaussian, 0.08f * w);
        if (p.qkv_bias) add(b + "attn_q.bias", {q_dim}, SynthInit::kGaussian, 0.1f);
        add(b + "attn_k.weight", {p.n_embd, kv_dim}, SynthInit::kGaussian, 0.08f * w);
        if (p.qkv_bias) add(b + "attn_k.bias", {kv_dim}, SynthInit::kGaussian, 0.3f);
        add(b + "attn_v.weight", {p.n_embd, kv_dim}, SynthInit::kGaussian, 0.05f * w);
        if (p.qkv_bias) add(b + "attn_v.bias", {kv_dim}, SynthInit::kGaussian, 0.1f);
        add(b + "attn_output.weight", {q_dim, p.n_embd}, SynthInit::kGaussian, 0.05f * w);
        add(b + "ffn_norm.weight", {p.n_embd}, SynthInit::kNorm, 0.1f);
        add(b + "ffn_gate.weight", {p.n_embd, p.n_ff}, SynthInit::kGaussian, 0.05f * w);
        add(b + "ffn_up.weight", {p.n_embd, p.n_ff}, SynthInit::kGaussian, 0.05f * w);
        add(b + "ffn_down.weight", {p.n_ff, p.n_embd}, SynthInit::kGaussian, 0.05f * w);
    }
    add("output_norm.weight", {p.n_embd}, SynthInit::kNorm, 0.1f);
    add("output.weight", {p.n_embd, p.n_vocab}, SynthInit::kGaussian, 0.1f * w);

    std::vector<MixtureTensor> mix;
    mix.reserve(plan.tensors.size());
    for (const auto& t : plan.tensors) mix.push_back({t.name, t.ne});
    const std::vector<DType> types =
        choose_tensor_types({p.arch, p.n_layer, p.n_head, p.n_head_kv}, ft, mix);
    for (size_t i = 0; i < plan.tensors.size(); ++i) {
        SynthTensor& t = plan.tensors[i];
        t.type = types[i];
        int64_t rows = 1;
        for (size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
        t.size_bytes = (uint64_t)rows * row_bytes(traits(t.type), t.ne[0]);
        plan.tensor_bytes += t.size_bytes;
        plan.n_params += rows * t.ne[0];
    }
    return plan;
}

// ------------------------------------------------------------------------------------------
// Built-in tokenizer (no --vocab): a byte-level BPE vocab ("gpt2" model) of exactly n_vocab
// tokens that llama.cpp and retort both load, so text prompts work (as bytes and common
// letter pairs) and the R1 special tokens sit at their real ids:
//   ids 0..255     the 256 byte symbols in GPT-2's byte-to-unicode order (as Qwen and Llama-3)
//   then           merged pairs: "Ġ"+letter and letter+letter, most frequent English letters
//                  first, each with its merge rule, as many as fit below the first special id
//   specials       the preset's R1 tokens at their ids (Llama: other ids from 128002 on are
//                  <|reserved_special_token_N|>)
//   the rest       [PADn], UNUSED, as the converter pads Qwen's vocab
// No chat template is embedded: use --vocab for the real tokenizer and template.
// ------------------------------------------------------------------------------------------

namespace {

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the others to
// U+0100 upwards, in byte order. Returned in the vocab order (printables first).
std::vector<std::string> byte_symbols() {
    auto utf8 = [](uint32_t cp) {
        std::string s;
        if (cp < 0x80) s += (char)cp;
        else {
            s += (char)(0xC0 | (cp >> 6));
            s += (char)(0x80 | (cp & 0x3F));
        }
        return s;
    };
    std::vector<std::string> out;
    std::array<bool, 256> printable{};
    for (int b = 0; b < 256; ++b)
        printable[(size_t)b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    for (int b = 0; b < 256; ++b)
        if (printable[(size_t)b]) out.push_back(utf8((uint32_t)b));
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b)
        if (!printable[(size_t)b]) out.push_back(utf8(next++));
    return out;
}

struct BuiltinVocab {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    std::vector<std::string> merges;
};

BuiltinVocab builtin_vocab(const SynthPreset& p) {
    BuiltinVocab v;
    v.tokens.assign((size_t)p.n_vocab, std::string());
    v.types.assign((size_t)p.n_vocab, (int32_t)TT::kUnused);
    const std::vector<std::string> bytes = byte_symbols();
    for (size_t i = 0; i < bytes.size(); ++i) {
        v.tokens[i] = bytes[i];
        v.types[i] = (int32_t)TT::kNormal;
    }
    int32_t first_special = (int32_t)p.n_vocab;
    for (const auto& s : p.specials) first_special = std::min(first_special, s.id);

    // Pair merges: "Ġ x" (word-initial letter) then "x y".
    const std::string_view freq = "etaoinshrdlcumwfgypbvkjxqz";
    const std::string space = "\xC4\xA0";  // Ġ, the byte symbol of ' '
    std::vector<std::pair<std::string, std::string>> pairs;
    for (char a : freq) pairs.emplace_back(space, std::string(1, a));
    for (char a : freq)
        for (char b : freq) pairs.emplace_back(std::string(1, a), std::string(1, b));
    int32_t id = 256;
    for (const auto& [a, b] : pairs) {
        if (id >= first_special) break;
        v.tokens[(size_t)id] = a + b;
        v.types[(size_t)id] = (int32_t)TT::kNormal;
        v.merges.push_back(a + " " + b);
        ++id;
    }
    for (const auto& s : p.specials) {
        v.tokens[(size_t)s.id] = std::string(s.text);
        v.types[(size_t)s.id] = (int32_t)s.type;
    }
    const bool llama_reserved = p.arch == "llama" && p.n_vocab == 128256;
    int reserved = 0;
    for (int64_t i = 0; i < p.n_vocab; ++i) {
        if (!v.tokens[(size_t)i].empty()) continue;
        if (llama_reserved && i >= 128002) {
            v.tokens[(size_t)i] = fmt::format("<|reserved_special_token_{}|>", reserved++);
            v.types[(size_t)i] = (int32_t)TT::kControl;
        } else {
            v.tokens[(size_t)i] = fmt::format("[PAD{}]", i);
        }
    }
    return v;
}

// ------------------------------------------------------------------------------------------
// Random numbers: a counter-based stream per (seed, tensor, row), so the values do not
// depend on thread count or chunking; Gaussians by the ziggurat method (Marsaglia & Tsang,
// "The Ziggurat Method for Generating Random Variables", 2000), 128 layers.
// ------------------------------------------------------------------------------------------

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// xoshiro256+ (Blackman & Vigna): fast, and its high bits are all we use.
struct Rng {
    uint64_t s[4];
    explicit Rng(uint64_t seed) {
        for (auto& w : s) w = splitmix64(seed);
    }
    uint64_t next() {
        const uint64_t r = s[0] + s[3], t = s[1] << 17;
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
        s[2] ^= t;
        s[3] = (s[3] << 45) | (s[3] >> 19);
        return r;
    }
    double uniform() { return ((next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
};

struct Ziggurat {
    static constexpr double kR = 3.442619855899;            // start of the tail
    static constexpr double kV = 9.91256303526217e-3;       // area of each layer
    uint32_t k[128];
    double w[128], f[128];
    Ziggurat() {
        const double m = 2147483648.0;  // 2^31: samples are signed 32-bit
        double dn = kR, tn = dn;
        const double q = kV / std::exp(-0.5 * dn * dn);
        k[0] = (uint32_t)(dn / q * m);
        k[1] = 0;
        w[0] = q / m;
        w[127] = dn / m;
        f[0] = 1.0;
        f[127] = std::exp(-0.5 * dn * dn);
        for (int i = 126; i >= 1; --i) {
            dn = std::sqrt(-2.0 * std::log(kV / dn + std::exp(-0.5 * dn * dn)));
            k[i + 1] = (uint32_t)(dn / tn * m);
            tn = dn;
            f[i] = std::exp(-0.5 * dn * dn);
            w[i] = dn / m;
        }
    }
    double sample(Rng& rng) const {
        for (;;) {
            const uint64_t r = rng.next();
            const int32_t hz = (int32_t)(uint32_t)(r >> 32);  // sign and magnitude
            const int iz = (int)((r >> 8) & 127);              // layer, from separate bits
            const uint32_t ahz = hz < 0 ? (uint32_t)(-(int64_t)hz) : (uint32_t)hz;
            if (ahz < k[iz]) return hz * w[iz];  // inside the layer's rectangle: ~99%
            const double x = hz * w[iz];
            if (iz == 0) {  // the tail beyond kR
                double xt, y;
                do {
                    xt = -std::log(rng.uniform()) / kR;
                    y = -std::log(rng.uniform());
                } while (y + y < xt * xt);
                return hz > 0 ? kR + xt : -kR - xt;
            }
            if (f[iz] + rng.uniform() * (f[iz - 1] - f[iz]) < std::exp(-0.5 * x * x)) return x;
        }
    }
};

const Ziggurat& ziggurat() {
    static const Ziggurat z;
    return z;
}

uint64_t row_seed(uint64_t seed, size_t tensor, int64_t row) {
    uint64_t x = seed;
    uint64_t a = splitmix64(x) ^ (uint64_t)tensor * 0xD1B54A32D192ED03ull;
    a = splitmix64(a) ^ (uint64_t)row * 0x8CB92BA72F3D8DD7ull;
    return splitmix64(a);
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Writer
// ------------------------------------------------------------------------------------------

SynthWriter::SynthWriter(SynthPlan plan, SynthOptions options) : plan_(std::move(plan)), opt_(std::move(options)) {}

Result<std::unique_ptr<SynthWriter>> SynthWriter::create(SynthPlan plan, SynthOptions options) {
    if (plan.preset == nullptr || plan.file_type == nullptr)
        return Error::bad_argument("synth: the plan has no preset or file type");
    const SynthPreset& p = *plan.preset;
    std::unique_ptr<SynthWriter> sw(new SynthWriter(std::move(plan), std::move(options)));
    GgufWriter& g = sw->gguf_;
    const std::string a = std::string(p.arch) + ".";

    // Keys in the order convert_hf_to_gguf.py writes them (see the vocab GGUFs in tests/data).
    g.set_string("general.architecture", p.arch);
    g.set_string("general.type", "model");
    g.set_string("general.name", p.model_name);
    g.set_string("general.basename", p.basename);
    g.set_string("general.size_label", p.size_label);
    g.set_u32(a + "block_count", (uint32_t)p.n_layer);
    g.set_u32(a + "context_length", (uint32_t)p.n_ctx_train);
    g.set_u32(a + "embedding_length", (uint32_t)p.n_embd);
    g.set_u32(a + "feed_forward_length", (uint32_t)p.n_ff);
    g.set_u32(a + "attention.head_count", (uint32_t)p.n_head);
    g.set_u32(a + "attention.head_count_kv", (uint32_t)p.n_head_kv);
    g.set_f32(a + "rope.freq_base", (float)p.rope_base);
    g.set_f32(a + "attention.layer_norm_rms_epsilon", (float)p.rms_eps);
    if (p.head_dim * p.n_head != p.n_embd) {
        g.set_u32(a + "attention.key_length", (uint32_t)p.head_dim);
        g.set_u32(a + "attention.value_length", (uint32_t)p.head_dim);
    }
    g.set_u32("general.file_type", sw->plan_.file_type->ftype);
    if (p.arch == "llama") {
        g.set_u32(a + "vocab_size", (uint32_t)p.n_vocab);
        g.set_u32(a + "rope.dimension_count", (uint32_t)p.head_dim);
    }
    g.set_u32("general.quantization_version", 2);

    if (sw->opt_.vocab != nullptr) {
        const GgufFile& v = *sw->opt_.vocab;
        auto toks = v.get_string_array("tokenizer.ggml.tokens");
        if (!toks.ok()) return toks.error();
        if (!toks.value().has_value())
            return Error::bad_file(v.path(), "no tokenizer.ggml.tokens: not a vocab file");
        const std::vector<std::string_view>& t = **toks;
        if ((int64_t)t.size() > p.n_vocab)
            return Error::bad_file(v.path(), "vocab has {} tokens, more than the {} rows of preset '{}' (use the "
                                   "vocab of the same family)", t.size(), p.n_vocab, p.name);
        auto types = v.get_int_array("tokenizer.ggml.token_type");
        if (!types.ok()) return types.error();
        g.copy_kvs(v, "tokenizer.");
        if ((int64_t)t.size() < p.n_vocab) {
            // The 7B-32B Qwen models have 152064 embedding rows for 151936 tokens: the converter
            // pads the token list with [PADn] (UNUSED) so both agree.
            std::vector<std::string> padded(t.begin(), t.end());
            std::vector<int32_t> ptypes;
            if (types.value().has_value()) ptypes.assign(types.value()->begin(), types.value()->end());
            ptypes.resize(t.size(), (int32_t)TT::kNormal);
            for (int64_t i = (int64_t)t.size(); i < p.n_vocab; ++i) {
                padded.push_back(fmt::format("[PAD{}]", i));
                ptypes.push_back((int32_t)TT::kUnused);
            }
            g.set_array_strings("tokenizer.ggml.tokens", std::span<const std::string>(padded));
            g.set_array("tokenizer.ggml.token_type", ptypes);
        }
    } else {
        const BuiltinVocab v = builtin_vocab(p);
        g.set_string("tokenizer.ggml.model", "gpt2");
        g.set_string("tokenizer.ggml.pre", p.tokenizer_pre);
        g.set_array_strings("tokenizer.ggml.tokens", std::span<const std::string>(v.tokens));
        g.set_array("tokenizer.ggml.token_type", v.types);
        g.set_array_strings("tokenizer.ggml.merges", std::span<const std::string>(v.merges));
        g.set_u32("tokenizer.ggml.bos_token_id", (uint32_t)p.bos_id);
        g.set_u32("tokenizer.ggml.eos_token_id", (uint32_t)p.eos_id);
        g.set_u32("tokenizer.ggml.padding_token_id", (uint32_t)p.eos_id);
        g.set_bool("tokenizer.ggml.add_bos_token", true);
        g.set_bool("tokenizer.ggml.add_eos_token", false);
    }

    const SynthPlan& plan_ref = sw->plan_;
    for (size_t i = 0; i < plan_ref.tensors.size(); ++i) {
        const SynthTensor& t = plan_ref.tensors[i];
        SynthWriter* self = sw.get();
        RETORT_TRY(g.add_tensor(t.name, (uint32_t)t.type, t.ne,
                                [self, i](int64_t row0, int64_t n_rows, uint8_t* dst) {
                                    return self->fill(i, row0, n_rows, dst);
                                }));
    }
    if (p.rope_freqs) sw->rope_factors_ = llama3_rope_factors(p.head_dim, p.rope_base);

    const int n_threads = sw->opt_.n_threads > 0 ? sw->opt_.n_threads : ThreadPool::hardware_threads();
    sw->pool_ = std::make_unique<ThreadPool>(n_threads);
    int64_t widest = 1;
    for (const auto& t : plan_ref.tensors) widest = std::max(widest, t.ne[0]);
    sw->scratch_.assign((size_t)n_threads, std::vector<float>((size_t)widest));
    return sw;
}

void SynthWriter::generate_row(size_t index, int64_t row, float* dst) const {
    const SynthTensor& t = plan_.tensors[index];
    const int64_t n = t.ne[0];
    if (t.init == SynthInit::kRopeFreqs) {
        for (int64_t i = 0; i < n; ++i) dst[i] = rope_factors_[(size_t)i];
        return;
    }
    Rng rng(row_seed(opt_.seed, index, row));
    const Ziggurat& z = ziggurat();
    const float mean = t.init == SynthInit::kNorm ? 1.0f : 0.0f;
    for (int64_t i = 0; i < n; ++i) dst[i] = mean + t.sigma * (float)z.sample(rng);
}

void SynthWriter::generate_rows(size_t index, int64_t row0, int64_t n_rows, float* dst) const {
    const int64_t n = plan_.tensors[index].ne[0];
    for (int64_t r = 0; r < n_rows; ++r) generate_row(index, row0 + r, dst + r * n);
}

Status SynthWriter::fill(size_t index, int64_t row0, int64_t n_rows, uint8_t* dst) {
    const SynthTensor& t = plan_.tensors[index];
    const TypeTraits& tr = traits(t.type);
    const int64_t n = t.ne[0];
    const size_t rb = row_bytes(tr, n);
    // Rows are independent: each thread generates and quantizes a contiguous share.
    pool_->run([&](int ith, int nth) {
        int64_t r0, r1;
        split_range(n_rows, ith, nth, &r0, &r1);
        float* row = scratch_[(size_t)ith].data();
        for (int64_t r = r0; r < r1; ++r) {
            generate_row(index, row0 + r, row);
            tr.quantize_row(row, dst + (size_t)r * rb, n);
        }
    });
    done_bytes_ += (uint64_t)n_rows * rb;
    if (opt_.progress) opt_.progress(done_bytes_, plan_.tensor_bytes);
    return ok_status();
}

Status SynthWriter::write_file(const std::string& path) {
    done_bytes_ = 0;
    return gguf_.write_file(path, opt_.chunk_bytes);
}

}  // namespace retort
