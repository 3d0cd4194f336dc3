// libFuzzer target for the GGUF reader: any input must parse or return an Error, never crash,
// hang or read outside the buffer. Not part of the CMake build (needs clang's -fsanitize=fuzzer):
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Isrc \
//     tools/fuzz/fuzz_gguf.cpp src/gguf/gguf.cpp src/gguf/ggml_types.cpp src/util/mapped_file.cpp \
//     -lfmt -o fuzz_gguf
//   ./fuzz_gguf -max_len=65536 corpus/   (seed corpus/ with the first KB of tests/data/*/*.gguf)
#include "gguf/gguf.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto r = retort::GgufFile::parse("fuzz.gguf", data, size);
    if (!r.ok()) return 0;
    // Touch what the reader promises is valid.
    const retort::GgufFile& f = *r.value();
    uint64_t sum = 0;
    for (const retort::GgufKv& kv : f.metadata()) {
        sum += kv.key.size() + kv.value.str.size();
        for (std::string_view s : kv.value.strings) sum += s.size();
        (void)f.get_int_array(kv.key);
        (void)f.get_float_array(kv.key);
    }
    for (const retort::GgufTensorInfo& t : f.tensors()) {
        if (t.offset + t.size_bytes > size) std::abort();
        if (t.size_bytes > 0) sum += t.data[0] + t.data[t.size_bytes - 1];
    }
    return static_cast<int>(sum & 0);
}
