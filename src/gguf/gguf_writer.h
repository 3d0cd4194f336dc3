// GGUF writer (v3, little-endian): metadata and tensor infos are built in memory, tensor data is
// streamed from per-tensor callbacks at write time, so a 70 GB file never sits in RAM.
// Used by tests (synthetic and malformed files), `retort synth` and the quantize tool.
//
// Usage:
//   GgufWriter w;
//   w.set_string("general.architecture", "qwen2");
//   w.set_u32("qwen2.block_count", 28);
//   w.set_array("tokenizer.ggml.token_type", std::span<const int32_t>(types));
//   RETORT_TRY(w.copy_kvs(vocab_file, "tokenizer."));       // embed a real vocab
//   RETORT_TRY(w.add_tensor("token_embd.weight", 12 /*Q4_K*/, {1536, 151936},
//       [&](int64_t row0, int64_t n_rows, uint8_t* dst) -> Status {
//           quantize_rows(src + row0 * 1536, dst, n_rows);  // n_rows rows of ne[0] elements
//           return ok_status();
//       }));
//   RETORT_TRY(w.write_file("out.gguf"));
//
// Layout written: header, kvs (in first-set order), tensor infos (in add order), zero padding to
// the alignment, then each tensor's data at an aligned offset, zero-padded to the alignment.
#pragma once

#include "gguf/gguf.h"
#include "util/error.h"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace retort {

class GgufWriter {
public:
    // Fills rows [row0, row0 + n_rows) of a tensor into dst (n_rows * row_bytes bytes, zeroed
    // before the call). A row is ne[0] elements; a tensor has ne[1] * ne[2] * ne[3] rows. The
    // writer calls it for consecutive row ranges that cover the tensor exactly once, in order,
    // each range at most `chunk_bytes` (write_file) and never less than one row. An Error
    // returned here aborts the write and is passed back to the caller.
    using FillRows = std::function<Status(int64_t row0, int64_t n_rows, uint8_t* dst)>;

    GgufWriter() = default;

    // ---- metadata. Setting a key again replaces its value and keeps its original position.
    void set_u8(std::string_view key, uint8_t v);
    void set_i8(std::string_view key, int8_t v);
    void set_u16(std::string_view key, uint16_t v);
    void set_i16(std::string_view key, int16_t v);
    void set_u32(std::string_view key, uint32_t v);
    void set_i32(std::string_view key, int32_t v);
    void set_u64(std::string_view key, uint64_t v);
    void set_i64(std::string_view key, int64_t v);
    void set_f32(std::string_view key, float v);
    void set_f64(std::string_view key, double v);
    void set_bool(std::string_view key, bool v);
    void set_string(std::string_view key, std::string_view v);
    // Arrays of scalars: T is one of uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t,
    // uint64_t, int64_t, float, double.
    template <typename T>
    void set_array(std::string_view key, std::span<const T> v);
    template <typename T>
    void set_array(std::string_view key, const std::vector<T>& v) {
        set_array(key, std::span<const T>(v));
    }
    void set_array_bool(std::string_view key, const std::vector<bool>& v);
    void set_array_strings(std::string_view key, std::span<const std::string> v);
    void set_array_strings(std::string_view key, std::span<const std::string_view> v);
    // Any value as read from a file (string and array views are copied now).
    void set_value(std::string_view key, const GgufValue& v);
    // Copies every kv of `src` whose key starts with `prefix` ("tokenizer." embeds a vocab).
    // Returns the number of kvs copied.
    size_t copy_kvs(const GgufFile& src, std::string_view prefix);
    bool remove(std::string_view key);
    bool has(std::string_view key) const;
    // Writes general.alignment (u32); tensor data offsets are multiples of it. Default 32.
    Status set_alignment(uint32_t alignment);

    // ---- tensors, in the order they will be written. Each returns an Error (nothing added)
    // for an empty, over-long (ggml stops at 63 bytes) or duplicate name, an unknown ggml type,
    // or a shape the reader would refuse (1..4 dims, each > 0, ne[0] a multiple of the block).
    Status add_tensor(std::string_view name, uint32_t ggml_type, std::vector<int64_t> ne,
                      FillRows fill);
    // Data already in memory: `data` must hold the tensor's exact byte size (checked) and stay
    // alive until the write.
    Status add_tensor(std::string_view name, uint32_t ggml_type, std::vector<int64_t> ne,
                      const void* data, uint64_t size_bytes);

    size_t kv_count() const { return kvs_.size(); }
    size_t tensor_count() const { return tensors_.size(); }
    uint64_t file_size() const;  // the exact size write_file will produce

    // Streams the file to `path` via `path + ".partial"`, renamed on success (removed on any
    // failure), so a reader never sees a half-written model. chunk_bytes bounds the memory the
    // fill callbacks write into (one row at least).
    Status write_file(const std::string& path, size_t chunk_bytes = size_t{64} << 20) const;
    // The whole file in memory (tests, small files).
    Result<std::vector<uint8_t>> write_buffer() const;

private:
    struct Kv {
        std::string key;
        GgufType type;
        std::vector<uint8_t> payload;  // the value's encoding as it appears after the type field
    };
    struct Tensor {
        std::string name;
        uint32_t ggml_type;
        std::vector<int64_t> ne;
        uint64_t size_bytes;
        uint64_t row_bytes;
        int64_t n_rows;
        uint64_t rel_offset;  // from the start of the data section
        FillRows fill;
    };
    using SinkFn = std::function<Status(const void* data, size_t n)>;

    Kv& slot(std::string_view key, GgufType type);
    void set_scalar_array(std::string_view key, GgufType elem, const void* data, uint64_t count,
                          size_t width);
    uint64_t header_bytes() const;
    uint64_t data_offset() const;
    Status validate() const;
    Status write_to(const SinkFn& sink, size_t chunk_bytes) const;

    std::vector<Kv> kvs_;
    std::vector<Tensor> tensors_;
    uint32_t alignment_ = 32;
    uint64_t data_bytes_ = 0;  // aligned end of the last tensor, relative to the data section
};

namespace gguf_detail {
template <typename T>
constexpr GgufType scalar_type() {
    if constexpr (std::is_same_v<T, uint8_t>) return GgufType::UINT8;
    else if constexpr (std::is_same_v<T, int8_t>) return GgufType::INT8;
    else if constexpr (std::is_same_v<T, uint16_t>) return GgufType::UINT16;
    else if constexpr (std::is_same_v<T, int16_t>) return GgufType::INT16;
    else if constexpr (std::is_same_v<T, uint32_t>) return GgufType::UINT32;
    else if constexpr (std::is_same_v<T, int32_t>) return GgufType::INT32;
    else if constexpr (std::is_same_v<T, uint64_t>) return GgufType::UINT64;
    else if constexpr (std::is_same_v<T, int64_t>) return GgufType::INT64;
    else if constexpr (std::is_same_v<T, float>) return GgufType::FLOAT32;
    else if constexpr (std::is_same_v<T, double>) return GgufType::FLOAT64;
    else static_assert(sizeof(T) == 0, "not a GGUF scalar type");
}
}  // namespace gguf_detail

template <typename T>
void GgufWriter::set_array(std::string_view key, std::span<const T> v) {
    // Host order is the file order: retort builds for little-endian targets only.
    set_scalar_array(key, gguf_detail::scalar_type<T>(), v.data(), v.size(), sizeof(T));
}

}  // namespace retort
