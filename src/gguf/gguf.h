// GGUF reader (v2, v3): maps the file, validates every header field before use, and exposes
// metadata and tensor infos as typed views into the mapping. Knows nothing about models.
#pragma once

#include "util/error.h"
#include "util/mapped_file.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace retort {

// GGUF metadata value types (gguf spec numbering).
enum class GgufType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
    BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* gguf_type_name(GgufType t);

// One metadata value. Scalars are widened into the matching member; strings and array
// payloads are views into the mapped file (valid while the GgufFile lives).
struct GgufValue {
    GgufType type = GgufType::UINT8;
    uint64_t u = 0;       // UINT8/16/32/64, BOOL
    int64_t i = 0;        // INT8/16/32/64
    double f = 0;         // FLOAT32/64
    std::string_view str; // STRING
    // ARRAY: element type, count, and for scalar element types the raw little-endian bytes;
    // for STRING elements, one view per element. Nested arrays are rejected by the reader.
    GgufType elem_type = GgufType::UINT8;
    uint64_t count = 0;
    const uint8_t* raw = nullptr;
    std::vector<std::string_view> strings;
};

struct GgufKv {
    std::string key;
    GgufValue value;
};

struct GgufTensorInfo {
    std::string name;
    uint32_t ggml_type = 0;      // validated: a known ggml type id (see ggml_types.h)
    std::vector<int64_t> ne;     // GGUF order: ne[0] is the contiguous dimension
    uint64_t offset = 0;         // absolute byte offset in the file, aligned
    uint64_t size_bytes = 0;     // validated: inside the file
    const uint8_t* data = nullptr;
    int64_t n_elements() const;
    std::vector<int64_t> shape() const;  // outer to inner (ne reversed), as the layers above use
};

// Bytes of a tensor of `ggml_type` with GGUF dims `ne` (1..4 positive dims, ne[0] a multiple
// of the block size); nullopt when the type is unknown, the shape invalid or the size overflows.
std::optional<uint64_t> ggml_tensor_size_bytes(uint32_t ggml_type, const std::vector<int64_t>& ne);

class GgufFile {
public:
    // Maps and validates the file. Every problem is an Error naming the file.
    static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
    // Parses a buffer the caller keeps alive (tests, fuzzing). `name` is used in messages.
    static Result<std::unique_ptr<GgufFile>> parse(const std::string& name, const uint8_t* data,
                                                    size_t size);

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t file_size() const { return size_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section

    const std::vector<GgufKv>& metadata() const { return kvs_; }
    const GgufValue* find(std::string_view key) const;
    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;

    // Typed getters. nullopt when the key is absent; an Error when present with a type
    // that cannot be converted losslessly (e.g. a string where an integer is expected,
    // or a negative value for an unsigned request).
    Result<std::optional<uint64_t>> get_uint(std::string_view key) const;
    Result<std::optional<int64_t>> get_int(std::string_view key) const;
    Result<std::optional<double>> get_float(std::string_view key) const;  // any numeric type
    Result<std::optional<bool>> get_bool(std::string_view key) const;
    Result<std::optional<std::string_view>> get_string(std::string_view key) const;
    // Arrays: element type must match (any integer type for ints, F32/F64 for floats).
    Result<std::optional<std::vector<std::string_view>>> get_string_array(std::string_view key) const;
    Result<std::optional<std::vector<int64_t>>> get_int_array(std::string_view key) const;
    Result<std::optional<std::vector<float>>> get_float_array(std::string_view key) const;

private:
    GgufFile() = default;
    std::unique_ptr<MappedFile> mapping_;  // null when parsed from a caller's buffer
    std::string path_;
    uint32_t version_ = 0;
    uint64_t size_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<GgufKv> kvs_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string_view, size_t> tensor_index_;  // views into tensors_[k].name
    friend class GgufParser;
};

}  // namespace retort
