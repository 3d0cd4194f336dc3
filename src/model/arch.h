// ArchSpec: what distinguishes one Llama-family architecture from another, as data.
// The shared decoder (decoder.cpp) reads these flags; a new architecture is one file in
// arch/ plus one line in registry.cpp.
#pragma once

#include <string_view>

namespace retort {

enum class RopeStyle {
    kNormal,  // rotate adjacent pairs (x[2i], x[2i+1]): llama GGUFs (the converter permuted Q/K)
    kNeoX,    // rotate (x[i], x[i + n_rot/2]): qwen2
};

struct ArchSpec {
    std::string_view gguf_arch;     // general.architecture
    std::string_view description;
    bool qkv_bias = false;          // attn_{q,k,v}.bias tensors are required
    RopeStyle rope_style = RopeStyle::kNormal;
    float default_rope_base = 10000.0f;
};

// The spec for general.architecture, or nullptr.
const ArchSpec* find_arch(std::string_view gguf_arch);
// "llama, qwen2": for error messages.
std::string_view supported_arch_names();

}  // namespace retort
