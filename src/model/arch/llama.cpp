// Llama (R1-Distill-Llama 8B/70B, Llama 3.x; also llama2.c models such as stories260K):
// RMSNorm, GQA attention without biases, SwiGLU FFN, adjacent-pair RoPE with optional
// per-dimension frequency divisors (rope_freqs.weight, Llama-3.1 scaling).
#include "model/arch.h"

namespace retort {

extern const ArchSpec kLlama = {
    .gguf_arch = "llama",
    .description = "Llama (R1-Distill-Llama, Llama 3.x)",
    .qkv_bias = false,
    .rope_style = RopeStyle::kNormal,
    .default_rope_base = 10000.0f,
};

}  // namespace retort
