#include "model/arch.h"

namespace retort {

extern const ArchSpec kLlama;
extern const ArchSpec kQwen2;

namespace {
// One line per architecture.
const ArchSpec* const kArchs[] = {&kLlama, &kQwen2};
}  // namespace

const ArchSpec* find_arch(std::string_view gguf_arch) {
    for (const ArchSpec* a : kArchs)
        if (a->gguf_arch == gguf_arch) return a;
    return nullptr;
}

std::string_view supported_arch_names() { return "llama, qwen2"; }

}  // namespace retort
