// The block geometry of every ggml tensor type id a GGUF file may name, supported or not.
// The reader needs it to check tensor sizes and offsets; which types retort can compute with
// is decided above (tensor/dtype.h), so an IQ file is read fine and refused with a clear message.
#pragma once

#include <cstddef>
#include <cstdint>

namespace retort {

struct GgmlTypeInfo {
    uint32_t id;
    const char* name;
    int64_t block_elems;
    size_t block_bytes;
};

// nullptr for an id ggml never defined (or removed): such a file is malformed.
const GgmlTypeInfo* ggml_type_info(uint32_t id);

}  // namespace retort
