// GGUF reader: a bounded cursor over the mapped bytes and a parser that checks every count,
// length, type, shape and offset before it is used. Values stay views into the mapping.
// Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (v2 and v3 are identical
// on a little-endian file; v3 only allowed big-endian files, which we refuse).
#include "gguf/gguf.h"

#include "gguf/ggml_types.h"

#include <fmt/ranges.h>

#include <cstring>
#include <limits>
#include <unordered_map>

namespace retort {

namespace {

constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;  // 1 GiB: no real value comes near
constexpr uint64_t kMaxKeyBytes = 65535;
constexpr uint64_t kMaxTensorNameBytes = 1024;  // ggml itself stops at 63
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kHeaderBytes = 4 + 4 + 8 + 8;  // magic, version, n_tensors, n_kv
// The smallest encodings, used to refuse counts that cannot fit before allocating for them.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;                    // key length, type, u8 value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, n_dims, ne[0], type, offset

// Byte size of one scalar of a metadata type; 0 for STRING/ARRAY/unknown.
size_t scalar_bytes(GgufType t) {
    switch (t) {
        case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
        case GgufType::UINT16: case GgufType::INT16: return 2;
        case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
        case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
        case GgufType::STRING: case GgufType::ARRAY: return 0;
    }
    return 0;
}

bool is_known_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::FLOAT64); }
bool is_unsigned(GgufType t) {
    return t == GgufType::UINT8 || t == GgufType::UINT16 || t == GgufType::UINT32 ||
           t == GgufType::UINT64;
}
bool is_signed(GgufType t) {
    return t == GgufType::INT8 || t == GgufType::INT16 || t == GgufType::INT32 ||
           t == GgufType::INT64;
}
bool is_float(GgufType t) { return t == GgufType::FLOAT32 || t == GgufType::FLOAT64; }

template <typename T>
T load_le(const uint8_t* p) {  // the file may put any value at any address
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

// Decodes scalar `index` of a raw little-endian array (or a lone scalar) of type `t`
// into the GgufValue members u / i / f.
void decode_scalar(GgufType t, const uint8_t* p, GgufValue& out) {
    switch (t) {
        case GgufType::UINT8: out.u = p[0]; break;
        case GgufType::BOOL: out.u = p[0]; break;
        case GgufType::INT8: out.i = static_cast<int8_t>(p[0]); break;
        case GgufType::UINT16: out.u = load_le<uint16_t>(p); break;
        case GgufType::INT16: out.i = load_le<int16_t>(p); break;
        case GgufType::UINT32: out.u = load_le<uint32_t>(p); break;
        case GgufType::INT32: out.i = load_le<int32_t>(p); break;
        case GgufType::UINT64: out.u = load_le<uint64_t>(p); break;
        case GgufType::INT64: out.i = load_le<int64_t>(p); break;
        case GgufType::FLOAT32: out.f = load_le<float>(p); break;
        case GgufType::FLOAT64: out.f = load_le<double>(p); break;
        case GgufType::STRING: case GgufType::ARRAY: break;
    }
}

std::string magic_text(const uint8_t* p) {
    std::string s;
    for (int k = 0; k < 4; ++k) s += (p[k] >= 0x20 && p[k] < 0x7f) ? static_cast<char>(p[k]) : '?';
    return fmt::format("'{}' ({:02x} {:02x} {:02x} {:02x})", s, p[0], p[1], p[2], p[3]);
}

// A printable, bounded excerpt of a name for messages (names come from the file).
std::string quoted(std::string_view s) {
    std::string out;
    const size_t n = std::min<size_t>(s.size(), 80);
    for (size_t k = 0; k < n; ++k) {
        const unsigned char c = static_cast<unsigned char>(s[k]);
        if (c >= 0x20 && c != 0x7f) out += static_cast<char>(c);
        else out += fmt::format("\\x{:02x}", c);
    }
    if (s.size() > n) out += "...";
    return "'" + out + "'";
}

}  // namespace

const char* gguf_type_name(GgufType t) {
    switch (t) {
        case GgufType::UINT8: return "u8";
        case GgufType::INT8: return "i8";
        case GgufType::UINT16: return "u16";
        case GgufType::INT16: return "i16";
        case GgufType::UINT32: return "u32";
        case GgufType::INT32: return "i32";
        case GgufType::FLOAT32: return "f32";
        case GgufType::BOOL: return "bool";
        case GgufType::STRING: return "string";
        case GgufType::ARRAY: return "array";
        case GgufType::UINT64: return "u64";
        case GgufType::INT64: return "i64";
        case GgufType::FLOAT64: return "f64";
    }
    return "unknown";
}

std::optional<uint64_t> ggml_tensor_size_bytes(uint32_t ggml_type, const std::vector<int64_t>& ne) {
    const GgmlTypeInfo* info = ggml_type_info(ggml_type);
    if (info == nullptr || ne.empty() || ne.size() > kMaxDims) return std::nullopt;
    uint64_t n_elements = 1;
    for (int64_t d : ne) {
        if (d <= 0 || __builtin_mul_overflow(n_elements, static_cast<uint64_t>(d), &n_elements))
            return std::nullopt;
    }
    if (n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    if (ne[0] % info->block_elems != 0) return std::nullopt;
    uint64_t bytes = static_cast<uint64_t>(ne[0] / info->block_elems);
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(info->block_bytes), &bytes))
        return std::nullopt;
    for (size_t k = 1; k < ne.size(); ++k)
        if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(ne[k]), &bytes)) return std::nullopt;
    return bytes;
}

int64_t GgufTensorInfo::n_elements() const {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;  // the reader checked the product fits in int64
    return n;
}

std::vector<int64_t> GgufTensorInfo::shape() const { return {ne.rbegin(), ne.rend()}; }

// ---------------------------------------------------------------------------------------------
// Cursor: reads little-endian fields; never moves past the end. Every failed read becomes an
// error naming the field, where it started and how many bytes were left.

class GgufParser {
public:
    GgufParser(GgufFile& f, const uint8_t* data, size_t size) : f_(f), data_(data), size_(size) {}

    Status run();

private:
    uint64_t left() const { return size_ - pos_; }

    template <typename... Args>
    Error fail(fmt::format_string<Args...> fmt_str, Args&&... args) const {
        return Error::bad_file(f_.path_, fmt_str, std::forward<Args>(args)...);
    }
    Error truncated(std::string_view what, uint64_t need) const {
        return fail("truncated: {} at offset {} needs {} bytes but the file ends after {} more "
                    "(file is {} bytes)", what, pos_, need, left(), size_);
    }

    template <typename T>
    Status read(T& out, std::string_view what) {
        if (left() < sizeof(T)) return truncated(what, sizeof(T));
        out = load_le<T>(data_ + pos_);
        pos_ += sizeof(T);
        return ok_status();
    }
    // A u64 length followed by that many bytes; a view into the mapping.
    Status read_string(std::string_view& out, std::string_view what, uint64_t cap);

    Status parse_header(uint64_t& n_tensors, uint64_t& n_kv);
    Status parse_kv(uint64_t index);
    Status parse_value(GgufType type, std::string_view key, GgufValue& out);
    Status parse_array(std::string_view key, GgufValue& out);
    Status apply_alignment();
    Status parse_tensor_info(uint64_t index);
    Status place_tensors();

    GgufFile& f_;
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

Status GgufParser::read_string(std::string_view& out, std::string_view what, uint64_t cap) {
    const size_t start = pos_;
    uint64_t len = 0;
    RETORT_TRY(read(len, fmt::format("{} length", what)));
    if (len > cap)
        return fail("{} at offset {}: string length {} exceeds the cap of {} bytes", what, start,
                    len, cap);
    if (len > left())
        return fail("{} at offset {}: string length {} exceeds the {} bytes left in the file", what,
                    start, len, left());
    out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return ok_status();
}

Status GgufParser::parse_header(uint64_t& n_tensors, uint64_t& n_kv) {
    if (size_ < 4) return fail("file is {} bytes, too short for the GGUF magic", size_);
    if (std::memcmp(data_, "GGUF", 4) != 0)
        return fail("not a GGUF file: magic is {}, expected 'GGUF' (47 47 55 46)",
                    magic_text(data_));
    pos_ = 4;
    uint32_t version = 0;
    RETORT_TRY(read(version, "header version"));
    // A big-endian file stores the version bytes swapped: 3 reads as 0x03000000 here.
    const uint32_t swapped = __builtin_bswap32(version);
    if ((version & 0xffff) == 0 && swapped >= 1 && swapped <= 3)
        return fail("big-endian GGUF file (version field reads 0x{:08x}, i.e. version {} "
                    "byte-swapped); only little-endian files are supported", version, swapped);
    if (version == 1)
        return fail("GGUF version 1 is not supported (32-bit counts, pre-2023 format); "
                    "expected version 2 or 3. HINT: re-convert the model with a current llama.cpp");
    if (version != 2 && version != 3)
        return fail("unsupported GGUF version {}, expected 2 or 3", version);
    f_.version_ = version;
    RETORT_TRY(read(n_tensors, "header tensor count"));
    RETORT_TRY(read(n_kv, "header kv count"));
    // Refuse counts that cannot fit before anything is sized by them.
    if (n_kv > left() / kMinKvBytes)
        return fail("header kv count {} cannot fit in the {} bytes left (each kv needs at least "
                    "{} bytes)", n_kv, left(), kMinKvBytes);
    if (n_tensors > (left() - n_kv * kMinKvBytes) / kMinTensorInfoBytes)
        return fail("header tensor count {} cannot fit in the {} bytes left after {} kvs (each "
                    "tensor info needs at least {} bytes)", n_tensors, left() - n_kv * kMinKvBytes,
                    n_kv, kMinTensorInfoBytes);
    return ok_status();
}

Status GgufParser::parse_array(std::string_view key, GgufValue& out) {
    const size_t start = pos_;
    uint32_t elem = 0;
    RETORT_TRY(read(elem, fmt::format("kv {} array element type", quoted(key))));
    if (!is_known_type(elem))
        return fail("kv {} at offset {}: unknown array element type {} (valid types are 0..12)",
                    quoted(key), start, elem);
    const auto elem_type = static_cast<GgufType>(elem);
    if (elem_type == GgufType::ARRAY)
        return fail("kv {} at offset {}: nested arrays are not supported", quoted(key), start);
    uint64_t count = 0;
    RETORT_TRY(read(count, fmt::format("kv {} array length", quoted(key))));
    out.elem_type = elem_type;
    out.count = count;

    if (elem_type != GgufType::STRING) {
        const uint64_t width = scalar_bytes(elem_type);
        uint64_t bytes = 0;
        const bool overflow = __builtin_mul_overflow(count, width, &bytes);
        if (overflow || bytes > left())
            return fail("kv {} at offset {}: array of {} {} elements needs {} bytes but only {} "
                        "are left", quoted(key), start, count, gguf_type_name(elem_type),
                        overflow ? std::string("more than 2^64") : fmt::format("{}", bytes),
                        left());
        out.raw = data_ + pos_;
        if (elem_type == GgufType::BOOL) {
            for (uint64_t k = 0; k < count; ++k)
                if (out.raw[k] > 1)
                    return fail("kv {}: bool array element {} has value {}, expected 0 or 1",
                                quoted(key), k, out.raw[k]);
        }
        pos_ += bytes;
        return ok_status();
    }

    // Each string is at least its 8-byte length: refuse a count that cannot fit, then reserve.
    if (count > left() / 8)
        return fail("kv {} at offset {}: array of {} strings cannot fit in the {} bytes left "
                    "(each string needs at least 8 bytes)", quoted(key), start, count, left());
    out.strings.reserve(count);
    // The tokenizer arrays hold ~150k strings: a tight loop, with the error path out of line.
    for (uint64_t k = 0; k < count; ++k) {
        if (left() < 8) return truncated(fmt::format("kv {} string {} length", quoted(key), k), 8);
        const uint64_t len = load_le<uint64_t>(data_ + pos_);
        if (len > kMaxStringBytes || len > left() - 8)
            return fail("kv {} string {} at offset {}: length {} exceeds {}", quoted(key), k, pos_,
                        len, len > kMaxStringBytes
                                 ? fmt::format("the cap of {} bytes", kMaxStringBytes)
                                 : fmt::format("the {} bytes left in the file", left() - 8));
        out.strings.emplace_back(reinterpret_cast<const char*>(data_ + pos_ + 8), len);
        pos_ += 8 + len;
    }
    return ok_status();
}

Status GgufParser::parse_value(GgufType type, std::string_view key, GgufValue& out) {
    out.type = type;
    if (type == GgufType::STRING)
        return read_string(out.str, fmt::format("kv {} value", quoted(key)), kMaxStringBytes);
    if (type == GgufType::ARRAY) return parse_array(key, out);
    const size_t width = scalar_bytes(type);
    if (left() < width) return truncated(fmt::format("kv {} {} value", quoted(key), gguf_type_name(type)), width);
    decode_scalar(type, data_ + pos_, out);
    if (type == GgufType::BOOL && out.u > 1)
        return fail("kv {} at offset {}: bool value {}, expected 0 or 1", quoted(key), pos_, out.u);
    pos_ += width;
    return ok_status();
}

Status GgufParser::parse_kv(uint64_t index) {
    std::string_view key;
    RETORT_TRY(read_string(key, fmt::format("kv #{} key", index), kMaxKeyBytes));
    if (key.empty()) return fail("kv #{} at offset {}: empty key", index, pos_ - 8);
    const size_t type_pos = pos_;
    uint32_t type = 0;
    RETORT_TRY(read(type, fmt::format("kv {} value type", quoted(key))));
    if (!is_known_type(type))
        return fail("kv {} at offset {}: unknown value type {} (valid types are 0..12)",
                    quoted(key), type_pos, type);
    GgufKv kv;
    kv.key = std::string(key);
    RETORT_TRY(parse_value(static_cast<GgufType>(type), key, kv.value));
    f_.kvs_.push_back(std::move(kv));
    return ok_status();
}

Status GgufParser::apply_alignment() {
    const GgufValue* v = f_.find("general.alignment");
    if (v == nullptr) return ok_status();
    if (v->type != GgufType::UINT32)
        return fail("general.alignment has type {}, expected u32", gguf_type_name(v->type));
    if (v->u == 0 || (v->u & (v->u - 1)) != 0)
        return fail("general.alignment = {} is not a non-zero power of two", v->u);
    f_.alignment_ = v->u;
    return ok_status();
}

Status GgufParser::parse_tensor_info(uint64_t index) {
    GgufTensorInfo t;
    std::string_view name;
    RETORT_TRY(read_string(name, fmt::format("tensor #{} name", index), kMaxTensorNameBytes));
    if (name.empty()) return fail("tensor #{} at offset {}: empty name", index, pos_ - 8);
    t.name = std::string(name);
    const std::string where = fmt::format("tensor #{} {}", index, quoted(name));

    uint32_t n_dims = 0;
    RETORT_TRY(read(n_dims, where + " n_dims"));
    if (n_dims < 1 || n_dims > kMaxDims)
        return fail("{}: n_dims = {} is outside 1..{}", where, n_dims, kMaxDims);
    t.ne.resize(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
        RETORT_TRY(read(t.ne[d], fmt::format("{} ne[{}]", where, d)));
        if (t.ne[d] <= 0) return fail("{}: ne[{}] = {} must be positive", where, d, t.ne[d]);
    }
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
        if (__builtin_mul_overflow(n_elements, static_cast<uint64_t>(t.ne[d]), &n_elements) ||
            n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            return fail("{}: element count of shape [{}] overflows int64", where,
                        fmt::join(t.ne, ", "));
    }

    RETORT_TRY(read(t.ggml_type, where + " type"));
    const GgmlTypeInfo* info = ggml_type_info(t.ggml_type);
    if (info == nullptr) return fail("{}: unknown ggml type id {}", where, t.ggml_type);
    if (t.ne[0] % info->block_elems != 0)
        return fail("{} ({}): ne[0] = {} is not a multiple of its block size {}", where,
                    info->name, t.ne[0], info->block_elems);
    const std::optional<uint64_t> bytes = ggml_tensor_size_bytes(t.ggml_type, t.ne);
    if (!bytes)
        return fail("{} ({}): byte size of shape [{}] overflows 64 bits", where, info->name,
                    fmt::join(t.ne, ", "));
    t.size_bytes = *bytes;

    RETORT_TRY(read(t.offset, where + " offset"));  // relative until place_tensors()
    f_.tensors_.push_back(std::move(t));
    return ok_status();
}

// Tensor data starts at the first aligned offset after the infos; each tensor's relative
// offset must be aligned and its bytes inside the file.
Status GgufParser::place_tensors() {
    const uint64_t align = f_.alignment_;
    uint64_t data_offset = 0;
    if (__builtin_add_overflow(static_cast<uint64_t>(pos_), align - 1, &data_offset))
        return fail("data section offset overflows");  // unreachable for a mapped file
    data_offset -= data_offset % align;
    f_.data_offset_ = data_offset;
    for (GgufTensorInfo& t : f_.tensors_) {
        const uint64_t rel = t.offset;
        if (rel % align != 0)
            return fail("tensor {}: offset {} is not a multiple of the alignment {}", quoted(t.name),
                        rel, align);
        uint64_t begin = 0, end = 0;
        if (__builtin_add_overflow(data_offset, rel, &begin) ||
            __builtin_add_overflow(begin, t.size_bytes, &end))
            return fail("tensor {}: data range {} + {} + {} bytes overflows 64 bits",
                        quoted(t.name), data_offset, rel, t.size_bytes);
        if (end > size_)
            return fail("tensor {}: data [{}, {}) ends past the end of the file ({} bytes)",
                        quoted(t.name), begin, end, size_);
        t.offset = begin;
        t.data = data_ + begin;
    }
    return ok_status();
}

Status GgufParser::run() {
    f_.size_ = size_;
    uint64_t n_tensors = 0, n_kv = 0;
    RETORT_TRY(parse_header(n_tensors, n_kv));

    f_.kvs_.reserve(n_kv);  // bounded by the bytes left (parse_header)
    for (uint64_t k = 0; k < n_kv; ++k) RETORT_TRY(parse_kv(k));
    {
        std::unordered_map<std::string_view, uint64_t> seen;
        seen.reserve(f_.kvs_.size());
        for (uint64_t k = 0; k < f_.kvs_.size(); ++k) {
            auto [it, inserted] = seen.emplace(f_.kvs_[k].key, k);
            if (!inserted)
                return fail("duplicate key {} (kv #{} and #{})", quoted(f_.kvs_[k].key),
                            it->second, k);
        }
    }
    RETORT_TRY(apply_alignment());

    f_.tensors_.reserve(n_tensors);
    for (uint64_t k = 0; k < n_tensors; ++k) RETORT_TRY(parse_tensor_info(k));
    f_.tensor_index_.reserve(f_.tensors_.size());
    for (size_t k = 0; k < f_.tensors_.size(); ++k) {
        auto [it, inserted] = f_.tensor_index_.emplace(f_.tensors_[k].name, k);
        if (!inserted)
            return fail("duplicate tensor name {} (tensors #{} and #{})",
                        quoted(f_.tensors_[k].name), it->second, k);
    }
    return place_tensors();
}

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
    auto mapped = MappedFile::open(path);
    if (!mapped.ok()) return mapped.error();
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->path_ = path;
    f->mapping_ = std::move(mapped.value());
    GgufParser parser(*f, f->mapping_->data(), f->mapping_->size());
    RETORT_TRY(parser.run());
    return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::parse(const std::string& name, const uint8_t* data,
                                                  size_t size) {
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->path_ = name;
    static const uint8_t kEmpty = 0;
    GgufParser parser(*f, data != nullptr ? data : &kEmpty, data != nullptr ? size : 0);
    RETORT_TRY(parser.run());
    return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
    for (const GgufKv& kv : kvs_)
        if (kv.key == key) return &kv.value;
    return nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

// ---------------------------------------------------------------------------------------------
// Typed getters

namespace {
std::string type_desc(const GgufValue& v) {
    if (v.type == GgufType::ARRAY)
        return fmt::format("array of {} {}", v.count, gguf_type_name(v.elem_type));
    return gguf_type_name(v.type);
}
}  // namespace

Result<std::optional<uint64_t>> GgufFile::get_uint(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::optional<uint64_t>();
    if (is_unsigned(v->type)) return std::optional<uint64_t>(v->u);
    if (is_signed(v->type)) {
        if (v->i < 0)
            return Error::bad_file(path_, "key '{}' = {} is negative, expected an unsigned integer",
                                   key, v->i);
        return std::optional<uint64_t>(static_cast<uint64_t>(v->i));
    }
    return Error::bad_file(path_, "key '{}' is {}, expected an unsigned integer", key, type_desc(*v));
}

Result<std::optional<int64_t>> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::optional<int64_t>();
    if (is_signed(v->type)) return std::optional<int64_t>(v->i);
    if (is_unsigned(v->type)) {
        if (v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            return Error::bad_file(path_, "key '{}' = {} does not fit in int64", key, v->u);
        return std::optional<int64_t>(static_cast<int64_t>(v->u));
    }
    return Error::bad_file(path_, "key '{}' is {}, expected an integer", key, type_desc(*v));
}

Result<std::optional<double>> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::optional<double>();
    if (is_float(v->type)) return std::optional<double>(v->f);
    if (is_unsigned(v->type)) return std::optional<double>(static_cast<double>(v->u));
    if (is_signed(v->type)) return std::optional<double>(static_cast<double>(v->i));
    return Error::bad_file(path_, "key '{}' is {}, expected a number", key, type_desc(*v));
}

Result<std::optional<bool>> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::optional<bool>();
    if (v->type == GgufType::BOOL) return std::optional<bool>(v->u != 0);
    return Error::bad_file(path_, "key '{}' is {}, expected bool", key, type_desc(*v));
}

Result<std::optional<std::string_view>> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::optional<std::string_view>();
    if (v->type == GgufType::STRING) return std::optional<std::string_view>(v->str);
    return Error::bad_file(path_, "key '{}' is {}, expected string", key, type_desc(*v));
}

Result<std::optional<std::vector<std::string_view>>> GgufFile::get_string_array(
    std::string_view key) const {
    using R = std::optional<std::vector<std::string_view>>;
    const GgufValue* v = find(key);
    if (v == nullptr) return R();
    if (v->type == GgufType::ARRAY && v->elem_type == GgufType::STRING) return R(v->strings);
    return Error::bad_file(path_, "key '{}' is {}, expected an array of strings", key,
                           type_desc(*v));
}

Result<std::optional<std::vector<int64_t>>> GgufFile::get_int_array(std::string_view key) const {
    using R = std::optional<std::vector<int64_t>>;
    const GgufValue* v = find(key);
    if (v == nullptr) return R();
    if (v->type != GgufType::ARRAY || !(is_signed(v->elem_type) || is_unsigned(v->elem_type)))
        return Error::bad_file(path_, "key '{}' is {}, expected an array of integers", key,
                               type_desc(*v));
    const size_t width = scalar_bytes(v->elem_type);
    std::vector<int64_t> out(v->count);
    for (uint64_t k = 0; k < v->count; ++k) {
        GgufValue e;
        decode_scalar(v->elem_type, v->raw + k * width, e);
        if (is_signed(v->elem_type)) {
            out[k] = e.i;
        } else {
            if (e.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                return Error::bad_file(path_, "key '{}' element {} = {} does not fit in int64",
                                       key, k, e.u);
            out[k] = static_cast<int64_t>(e.u);
        }
    }
    return R(std::move(out));
}

Result<std::optional<std::vector<float>>> GgufFile::get_float_array(std::string_view key) const {
    using R = std::optional<std::vector<float>>;
    const GgufValue* v = find(key);
    if (v == nullptr) return R();
    if (v->type != GgufType::ARRAY || !is_float(v->elem_type))
        return Error::bad_file(path_, "key '{}' is {}, expected an array of f32 or f64", key,
                               type_desc(*v));
    std::vector<float> out(v->count);
    for (uint64_t k = 0; k < v->count; ++k) {
        if (v->elem_type == GgufType::FLOAT32)
            out[k] = load_le<float>(v->raw + k * 4);
        else
            out[k] = static_cast<float>(load_le<double>(v->raw + k * 8));
    }
    return R(std::move(out));
}

}  // namespace retort
