// Qwen2 (R1-Distill-Qwen 1.5B-32B): the Llama block plus Q/K/V biases and NeoX RoPE.
#include "model/arch.h"

namespace retort {

extern const ArchSpec kQwen2 = {
    .gguf_arch = "qwen2",
    .description = "Qwen2 (R1-Distill-Qwen)",
    .qkv_bias = true,
    .rope_style = RopeStyle::kNeoX,
    .default_rope_base = 10000.0f,
};

}  // namespace retort
