// GGUF writer: serializes each kv when it is set, lays tensors out as they are added, and
// streams header + data through one sink (a file or a buffer) at write time.
#include "gguf/gguf_writer.h"

#include "gguf/ggml_types.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian host");

namespace retort {

namespace {

constexpr uint32_t kVersion = 3;
constexpr size_t kMaxNameBytes = 63;  // ggml's GGML_MAX_NAME - 1: what llama.cpp will load

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

uint64_t align_up(uint64_t n, uint64_t align) { return (n + align - 1) / align * align; }

}  // namespace

// ---- metadata

GgufWriter::Kv& GgufWriter::slot(std::string_view key, GgufType type) {
    for (Kv& kv : kvs_) {
        if (kv.key == key) {
            kv.type = type;
            kv.payload.clear();
            return kv;
        }
    }
    kvs_.push_back(Kv{std::string(key), type, {}});
    return kvs_.back();
}

void GgufWriter::set_u8(std::string_view key, uint8_t v) { put(slot(key, GgufType::UINT8).payload, v); }
void GgufWriter::set_i8(std::string_view key, int8_t v) { put(slot(key, GgufType::INT8).payload, v); }
void GgufWriter::set_u16(std::string_view key, uint16_t v) { put(slot(key, GgufType::UINT16).payload, v); }
void GgufWriter::set_i16(std::string_view key, int16_t v) { put(slot(key, GgufType::INT16).payload, v); }
void GgufWriter::set_u32(std::string_view key, uint32_t v) { put(slot(key, GgufType::UINT32).payload, v); }
void GgufWriter::set_i32(std::string_view key, int32_t v) { put(slot(key, GgufType::INT32).payload, v); }
void GgufWriter::set_u64(std::string_view key, uint64_t v) { put(slot(key, GgufType::UINT64).payload, v); }
void GgufWriter::set_i64(std::string_view key, int64_t v) { put(slot(key, GgufType::INT64).payload, v); }
void GgufWriter::set_f32(std::string_view key, float v) { put(slot(key, GgufType::FLOAT32).payload, v); }
void GgufWriter::set_f64(std::string_view key, double v) { put(slot(key, GgufType::FLOAT64).payload, v); }
void GgufWriter::set_bool(std::string_view key, bool v) {
    put<uint8_t>(slot(key, GgufType::BOOL).payload, v ? 1 : 0);
}
void GgufWriter::set_string(std::string_view key, std::string_view v) {
    put_string(slot(key, GgufType::STRING).payload, v);
}

void GgufWriter::set_scalar_array(std::string_view key, GgufType elem, const void* data,
                                  uint64_t count, size_t width) {
    std::vector<uint8_t>& p = slot(key, GgufType::ARRAY).payload;
    p.reserve(4 + 8 + count * width);
    put<uint32_t>(p, static_cast<uint32_t>(elem));
    put<uint64_t>(p, count);
    const auto* bytes = static_cast<const uint8_t*>(data);
    if (count > 0) p.insert(p.end(), bytes, bytes + count * width);
}

void GgufWriter::set_array_bool(std::string_view key, const std::vector<bool>& v) {
    std::vector<uint8_t>& p = slot(key, GgufType::ARRAY).payload;
    put<uint32_t>(p, static_cast<uint32_t>(GgufType::BOOL));
    put<uint64_t>(p, v.size());
    for (bool b : v) put<uint8_t>(p, b ? 1 : 0);
}

namespace {
template <typename S>
void put_string_array(std::vector<uint8_t>& p, std::span<const S> v) {
    size_t total = 4 + 8;
    for (const S& s : v) total += 8 + s.size();
    p.reserve(total);
    put<uint32_t>(p, static_cast<uint32_t>(GgufType::STRING));
    put<uint64_t>(p, v.size());
    for (const S& s : v) put_string(p, s);
}
}  // namespace

void GgufWriter::set_array_strings(std::string_view key, std::span<const std::string> v) {
    put_string_array(slot(key, GgufType::ARRAY).payload, v);
}
void GgufWriter::set_array_strings(std::string_view key, std::span<const std::string_view> v) {
    put_string_array(slot(key, GgufType::ARRAY).payload, v);
}

void GgufWriter::set_value(std::string_view key, const GgufValue& v) {
    switch (v.type) {
        case GgufType::UINT8: set_u8(key, static_cast<uint8_t>(v.u)); return;
        case GgufType::INT8: set_i8(key, static_cast<int8_t>(v.i)); return;
        case GgufType::UINT16: set_u16(key, static_cast<uint16_t>(v.u)); return;
        case GgufType::INT16: set_i16(key, static_cast<int16_t>(v.i)); return;
        case GgufType::UINT32: set_u32(key, static_cast<uint32_t>(v.u)); return;
        case GgufType::INT32: set_i32(key, static_cast<int32_t>(v.i)); return;
        case GgufType::UINT64: set_u64(key, v.u); return;
        case GgufType::INT64: set_i64(key, v.i); return;
        case GgufType::FLOAT32: set_f32(key, static_cast<float>(v.f)); return;
        case GgufType::FLOAT64: set_f64(key, v.f); return;
        case GgufType::BOOL: set_bool(key, v.u != 0); return;
        case GgufType::STRING: set_string(key, v.str); return;
        case GgufType::ARRAY: break;
    }
    if (v.elem_type == GgufType::STRING) {
        set_array_strings(key, std::span<const std::string_view>(v.strings));
        return;
    }
    size_t width = 0;
    switch (v.elem_type) {
        case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: width = 1; break;
        case GgufType::UINT16: case GgufType::INT16: width = 2; break;
        case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: width = 4; break;
        case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: width = 8; break;
        case GgufType::STRING: case GgufType::ARRAY: break;  // nested arrays never come from the reader
    }
    set_scalar_array(key, v.elem_type, v.raw, v.raw != nullptr ? v.count : 0, width);
}

size_t GgufWriter::copy_kvs(const GgufFile& src, std::string_view prefix) {
    size_t n = 0;
    for (const GgufKv& kv : src.metadata()) {
        if (kv.key.starts_with(prefix)) {
            set_value(kv.key, kv.value);
            ++n;
        }
    }
    return n;
}

bool GgufWriter::remove(std::string_view key) {
    auto it = std::find_if(kvs_.begin(), kvs_.end(), [&](const Kv& kv) { return kv.key == key; });
    if (it == kvs_.end()) return false;
    kvs_.erase(it);
    if (key == "general.alignment") alignment_ = 32;
    return true;
}

bool GgufWriter::has(std::string_view key) const {
    return std::any_of(kvs_.begin(), kvs_.end(), [&](const Kv& kv) { return kv.key == key; });
}

Status GgufWriter::set_alignment(uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        return Error::bad_argument("GGUF alignment {} is not a non-zero power of two", alignment);
    if (!tensors_.empty())
        return Error::bad_argument("GGUF alignment must be set before the first tensor is added");
    alignment_ = alignment;
    set_u32("general.alignment", alignment);
    return ok_status();
}

// ---- tensors

Status GgufWriter::add_tensor(std::string_view name, uint32_t ggml_type, std::vector<int64_t> ne,
                              FillRows fill) {
    if (name.empty() || name.size() > kMaxNameBytes)
        return Error::bad_argument("tensor name '{}' must be 1..{} bytes, is {}", name,
                                   kMaxNameBytes, name.size());
    for (const Tensor& t : tensors_)
        if (t.name == name) return Error::bad_argument("duplicate tensor name '{}'", name);
    const GgmlTypeInfo* info = ggml_type_info(ggml_type);
    if (info == nullptr)
        return Error::bad_argument("tensor '{}': unknown ggml type id {}", name, ggml_type);
    const std::optional<uint64_t> size = ggml_tensor_size_bytes(ggml_type, ne);
    if (!size)
        return Error::bad_argument("tensor '{}' ({}): invalid shape of {} dims (need 1..4 dims, "
                                   "each > 0, ne[0] a multiple of {}, size within 64 bits)",
                                   name, info->name, ne.size(), info->block_elems);
    if (!fill) return Error::bad_argument("tensor '{}': no fill callback", name);
    Tensor t;
    t.name = std::string(name);
    t.ggml_type = ggml_type;
    t.size_bytes = *size;
    t.row_bytes = static_cast<uint64_t>(ne[0] / info->block_elems) * info->block_bytes;
    t.n_rows = static_cast<int64_t>(t.size_bytes / t.row_bytes);
    t.ne = std::move(ne);
    t.rel_offset = data_bytes_;
    t.fill = std::move(fill);
    data_bytes_ = align_up(data_bytes_ + t.size_bytes, alignment_);
    tensors_.push_back(std::move(t));
    return ok_status();
}

Status GgufWriter::add_tensor(std::string_view name, uint32_t ggml_type, std::vector<int64_t> ne,
                              const void* data, uint64_t size_bytes) {
    const std::optional<uint64_t> expected = ggml_tensor_size_bytes(ggml_type, ne);
    if (expected && *expected != size_bytes)
        return Error::bad_argument("tensor '{}': {} bytes given, its type and shape need {}",
                                   name, size_bytes, *expected);
    if (!expected || data == nullptr)  // let the other overload name the problem
        return add_tensor(name, ggml_type, std::move(ne), FillRows());
    const auto* src = static_cast<const uint8_t*>(data);
    const GgmlTypeInfo* info = ggml_type_info(ggml_type);
    const uint64_t row_bytes = static_cast<uint64_t>(ne[0] / info->block_elems) * info->block_bytes;
    return add_tensor(name, ggml_type, std::move(ne),
                      [src, row_bytes](int64_t row0, int64_t n_rows, uint8_t* dst) -> Status {
                          std::memcpy(dst, src + row0 * row_bytes, n_rows * row_bytes);
                          return ok_status();
                      });
}

// ---- output

uint64_t GgufWriter::header_bytes() const {
    uint64_t n = 4 + 4 + 8 + 8;
    for (const Kv& kv : kvs_) n += 8 + kv.key.size() + 4 + kv.payload.size();
    for (const Tensor& t : tensors_) n += 8 + t.name.size() + 4 + 8 * t.ne.size() + 4 + 8;
    return n;
}

uint64_t GgufWriter::data_offset() const {
    // Like gguf-py: a file without tensors ends right after its header.
    return tensors_.empty() ? header_bytes() : align_up(header_bytes(), alignment_);
}

uint64_t GgufWriter::file_size() const { return data_offset() + data_bytes_; }

Status GgufWriter::validate() const {
    for (const Kv& kv : kvs_)
        if (kv.key.empty()) return Error::bad_argument("GGUF writer: empty metadata key");
    for (const Kv& kv : kvs_) {
        if (kv.key != "general.alignment") continue;
        uint32_t a = 0;
        if (kv.type == GgufType::UINT32) std::memcpy(&a, kv.payload.data(), 4);
        if (kv.type != GgufType::UINT32 || a != alignment_)
            return Error::bad_argument("GGUF writer: general.alignment must be set with "
                                       "set_alignment() (a u32 power of two)");
    }
    return ok_status();
}

Status GgufWriter::write_to(const SinkFn& sink, size_t chunk_bytes) const {
    RETORT_TRY(validate());
    std::vector<uint8_t> head;
    head.reserve(header_bytes());
    head.insert(head.end(), {'G', 'G', 'U', 'F'});
    put<uint32_t>(head, kVersion);
    put<uint64_t>(head, tensors_.size());
    put<uint64_t>(head, kvs_.size());
    for (const Kv& kv : kvs_) {
        put_string(head, kv.key);
        put<uint32_t>(head, static_cast<uint32_t>(kv.type));
        head.insert(head.end(), kv.payload.begin(), kv.payload.end());
    }
    for (const Tensor& t : tensors_) {
        put_string(head, t.name);
        put<uint32_t>(head, static_cast<uint32_t>(t.ne.size()));
        for (int64_t d : t.ne) put<int64_t>(head, d);
        put<uint32_t>(head, t.ggml_type);
        put<uint64_t>(head, t.rel_offset);
    }
    head.resize(data_offset(), 0);
    RETORT_TRY(sink(head.data(), head.size()));

    std::vector<uint8_t> chunk;
    uint64_t written = 0;  // relative to the data section
    for (const Tensor& t : tensors_) {
        if (written < t.rel_offset) {
            const std::vector<uint8_t> pad(t.rel_offset - written, 0);
            RETORT_TRY(sink(pad.data(), pad.size()));
            written = t.rel_offset;
        }
        const int64_t rows_per_chunk =
            std::max<int64_t>(1, static_cast<int64_t>(chunk_bytes / t.row_bytes));
        for (int64_t row0 = 0; row0 < t.n_rows; row0 += rows_per_chunk) {
            const int64_t n = std::min(rows_per_chunk, t.n_rows - row0);
            const size_t bytes = static_cast<size_t>(n) * t.row_bytes;
            chunk.assign(bytes, 0);
            Status st = t.fill(row0, n, chunk.data());
            if (!st.ok())
                return Error{st.error().kind,
                             fmt::format("tensor '{}': {}", t.name, st.error().message)};
            RETORT_TRY(sink(chunk.data(), bytes));
        }
        written += t.size_bytes;
    }
    if (written < data_bytes_) {
        const std::vector<uint8_t> pad(data_bytes_ - written, 0);
        RETORT_TRY(sink(pad.data(), pad.size()));
    }
    return ok_status();
}

Result<std::vector<uint8_t>> GgufWriter::write_buffer() const {
    std::vector<uint8_t> out;
    out.reserve(file_size());
    RETORT_TRY(write_to(
        [&](const void* p, size_t n) -> Status {
            const auto* b = static_cast<const uint8_t*>(p);
            out.insert(out.end(), b, b + n);
            return ok_status();
        },
        size_t{1} << 20));
    return out;
}

Status GgufWriter::write_file(const std::string& path, size_t chunk_bytes) const {
    const std::string tmp = path + ".partial";
    std::FILE* fp = std::fopen(tmp.c_str(), "wb");
    if (fp == nullptr)
        return Error::make(ErrorKind::kIo, "{}: cannot create: {}", tmp, std::strerror(errno));
    Status st = write_to(
        [&](const void* p, size_t n) -> Status {
            if (n > 0 && std::fwrite(p, 1, n, fp) != n)
                return Error::make(ErrorKind::kIo, "{}: write failed: {}", tmp, std::strerror(errno));
            return ok_status();
        },
        chunk_bytes);
    if (std::fclose(fp) != 0 && st.ok())
        st = Error::make(ErrorKind::kIo, "{}: close failed: {}", tmp, std::strerror(errno));
    if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0)
        st = Error::make(ErrorKind::kIo, "{}: cannot rename to {}: {}", tmp, path, std::strerror(errno));
    if (!st.ok()) std::remove(tmp.c_str());
    return st;
}

}  // namespace retort
