// A corpus of malformed GGUF files built in the test: hand-made headers with one bad field each,
// truncations of valid files at every byte of the header, and seeded byte flips. Each must be an
// Error naming the problem; none may crash or read out of bounds (the suite also runs under
// ASan+UBSan, and every buffer is copied to an exact-size heap block so overruns are caught).
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "support/test_files.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>

namespace retort {
namespace {

// Parses `bytes` from an exact-size heap copy.
Result<std::unique_ptr<GgufFile>> parse_exact(const uint8_t* data, size_t size) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[size > 0 ? size : 1]);
    if (size > 0) std::memcpy(copy.get(), data, size);
    auto r = GgufFile::parse("bad.gguf", copy.get(), size);
    if (r.ok()) return Error::bad_argument("(parsed ok)");  // views would dangle: report only
    return r.error();
}

// ---- a byte builder for hand-made files

struct Bytes {
    std::vector<uint8_t> b;
    Bytes& raw(const void* p, size_t n) {
        const auto* c = static_cast<const uint8_t*>(p);
        b.insert(b.end(), c, c + n);
        return *this;
    }
    Bytes& u8(uint8_t v) { return raw(&v, 1); }
    Bytes& u32(uint32_t v) { return raw(&v, 4); }
    Bytes& u64(uint64_t v) { return raw(&v, 8); }
    Bytes& i64(int64_t v) { return raw(&v, 8); }
    Bytes& str(std::string_view s) { return u64(s.size()).raw(s.data(), s.size()); }
    Bytes& pad_to(size_t align) {
        while (b.size() % align != 0) b.push_back(0);
        return *this;
    }
    Bytes& zeros(size_t n) {
        b.resize(b.size() + n, 0);
        return *this;
    }
};

Bytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    Bytes h;
    h.raw("GGUF", 4).u32(version).u64(n_tensors).u64(n_kv);
    return h;
}

Bytes& kv_u32(Bytes& b, std::string_view key, uint32_t v) { return b.str(key).u32(4).u32(v); }
Bytes& kv_str(Bytes& b, std::string_view key, std::string_view v) { return b.str(key).u32(8).str(v); }

Bytes& tensor_info(Bytes& b, std::string_view name, const std::vector<int64_t>& ne, uint32_t type,
                   uint64_t offset) {
    b.str(name).u32(static_cast<uint32_t>(ne.size()));
    for (int64_t d : ne) b.i64(d);
    return b.u32(type).u64(offset);
}

// One kv, then tensors; data section padded to 32 and `data_bytes` of zeros.
std::vector<uint8_t> file_with_tensors(
    const std::vector<std::tuple<std::string, std::vector<int64_t>, uint32_t, uint64_t>>& ts,
    size_t data_bytes) {
    Bytes b = header(ts.size(), 1);
    kv_str(b, "general.architecture", "llama");
    for (const auto& [name, ne, type, off] : ts) tensor_info(b, name, ne, type, off);
    b.pad_to(32).zeros(data_bytes);
    return b.b;
}

void expect_bad(const std::vector<uint8_t>& file, std::string_view needle) {
    auto r = parse_exact(file.data(), file.size());
    ASSERT_FALSE(r.ok());
    const Error& e = r.error();
    EXPECT_EQ(e.kind, ErrorKind::kBadFile) << e.message;
    EXPECT_EQ(e.message.rfind("bad.gguf: ", 0), 0u) << e.message;
    EXPECT_NE(e.message.find(needle), std::string::npos)
        << "expected '" << needle << "' in: " << e.message;
}

// ---- sanity: the builder makes a file the reader accepts

TEST(GgufMalformed, BuilderMakesAValidFile) {
    const auto f = file_with_tensors({{"a", {8, 2}, 0, 0}, {"b", {32}, 8, 64}}, 128);
    auto r = GgufFile::parse("ok.gguf", f.data(), f.size());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r.value()->tensors().size(), 2u);
    EXPECT_EQ(r.value()->tensors()[1].size_bytes, 34u);
}

// ---- header

TEST(GgufMalformed, Header) {
    expect_bad({}, "too short for the GGUF magic");
    expect_bad({'G', 'G'}, "too short for the GGUF magic");
    expect_bad(Bytes().raw("GGML", 4).u32(3).u64(0).u64(0).b, "not a GGUF file: magic is 'GGML'");
    expect_bad(Bytes().raw("\x00\x01\xfe\xff", 4).u32(3).b, "(00 01 fe ff)");
    expect_bad(Bytes().raw("GGUF", 4).b, "header version");
    expect_bad(header(0, 0, 0).b, "unsupported GGUF version 0, expected 2 or 3");
    expect_bad(header(0, 0, 1).b, "GGUF version 1 is not supported");
    expect_bad(header(0, 0, 4).b, "unsupported GGUF version 4");
    expect_bad(header(0, 0, 0xffffffffu).b, "unsupported GGUF version 4294967295");
    expect_bad(header(0, 0, 0x03000000u).b, "big-endian GGUF file");
    expect_bad(header(0, 0, 0x02000000u).b, "big-endian GGUF file");
    expect_bad(Bytes().raw("GGUF", 4).u32(3).u64(0).b, "truncated: header kv count");
    expect_bad(Bytes().raw("GGUF", 4).u32(3).u32(0).b, "truncated: header tensor count");
    // Version 2 is the same layout as 3.
    auto v2 = header(0, 0, 2).b;
    auto r = GgufFile::parse("v2.gguf", v2.data(), v2.size());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r.value()->version(), 2u);
}

TEST(GgufMalformed, HugeCountsAreRefusedBeforeAllocating) {
    expect_bad(header(0, ~uint64_t{0}).b, "header kv count 18446744073709551615 cannot fit");
    expect_bad(header(0, uint64_t{1} << 40).b, "cannot fit in the 0 bytes left");
    expect_bad(header(~uint64_t{0}, 0).b, "header tensor count 18446744073709551615 cannot fit");
    Bytes b = header(uint64_t{1} << 62, 1);
    kv_u32(b, "general.alignment", 32);
    b.zeros(100);
    expect_bad(b.b, "header tensor count 4611686018427387904 cannot fit");
    // A count that fits the bound but not the real content: ends as a truncation.
    Bytes c = header(0, 3);
    kv_u32(c, "a", 1);
    kv_u32(c, "b", 2);
    c.str("c").u32(4);
    expect_bad(c.b, "truncated: kv 'c' u32 value at offset 71 needs 4 bytes but the file ends "
                    "after 0 more (file is 71 bytes)");
}

// ---- kvs

TEST(GgufMalformed, Strings) {
    Bytes huge_key = header(0, 1);
    huge_key.u64(uint64_t{1} << 40).zeros(64);
    expect_bad(huge_key.b, "kv #0 key at offset 24: string length 1099511627776 exceeds the cap");
    Bytes long_key = header(0, 1);
    long_key.u64(100).zeros(60);
    expect_bad(long_key.b, "string length 100 exceeds the 60 bytes left");
    Bytes empty_key = header(0, 1);
    empty_key.str("").u32(0).u8(1);
    expect_bad(empty_key.b, "kv #0 at offset 24: empty key");
    Bytes huge_val = header(0, 1);
    huge_val.str("k").u32(8).u64(~uint64_t{0}).zeros(8);
    expect_bad(huge_val.b, "kv 'k' value at offset 37: string length 18446744073709551615 exceeds the cap");
    Bytes over_val = header(0, 1);
    over_val.str("k").u32(8).u64(1000).zeros(10);
    expect_bad(over_val.b, "kv 'k' value at offset 37: string length 1000 exceeds the 10 bytes left");
    Bytes gib = header(0, 1);
    gib.str("k").u32(8).u64((uint64_t{1} << 30) + 1);
    expect_bad(gib.b, "exceeds the cap of 1073741824 bytes");
    // Bytes a key carries are echoed safely.
    Bytes ctrl = header(0, 1);
    ctrl.str(std::string_view("a\x01\n", 3)).u32(99).zeros(4);
    expect_bad(ctrl.b, "kv 'a\\x01\\x0a' at offset");
}

TEST(GgufMalformed, ValueTypes) {
    Bytes unknown = header(0, 1);
    unknown.str("k").u32(13).zeros(8);
    expect_bad(unknown.b, "kv 'k' at offset 33: unknown value type 13 (valid types are 0..12)");
    Bytes unknown2 = header(0, 1);
    unknown2.str("k").u32(0x80000000u).zeros(8);
    expect_bad(unknown2.b, "unknown value type 2147483648");
    Bytes bad_bool = header(0, 1);
    bad_bool.str("k").u32(7).u8(2);
    expect_bad(bad_bool.b, "bool value 2, expected 0 or 1");
    Bytes short_scalar = header(0, 1);
    short_scalar.str("k").u32(10).zeros(7);
    expect_bad(short_scalar.b, "truncated: kv 'k' u64 value at offset 37 needs 8 bytes");
    Bytes no_type = header(0, 1);
    no_type.str("key").zeros(2);
    expect_bad(no_type.b, "truncated: kv 'key' value type");
}

TEST(GgufMalformed, Arrays) {
    Bytes nested = header(0, 1);
    nested.str("k").u32(9).u32(9).u64(1).u32(4).u64(0);
    expect_bad(nested.b, "kv 'k' at offset 37: nested arrays are not supported");
    Bytes unknown_elem = header(0, 1);
    unknown_elem.str("k").u32(9).u32(77).u64(1).zeros(8);
    expect_bad(unknown_elem.b, "unknown array element type 77");
    Bytes overflow = header(0, 1);
    overflow.str("k").u32(9).u32(10).u64(uint64_t{1} << 62).zeros(64);
    expect_bad(overflow.b, "array of 4611686018427387904 u64 elements needs more than 2^64 bytes");
    Bytes too_long = header(0, 1);
    too_long.str("k").u32(9).u32(5).u64(100).zeros(16);
    expect_bad(too_long.b, "array of 100 i32 elements needs 400 bytes but only 16 are left");
    Bytes strings = header(0, 1);
    strings.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(uint64_t{1} << 50).zeros(80);
    expect_bad(strings.b, "array of 1125899906842624 strings cannot fit in the 80 bytes left");
    Bytes elem_len = header(0, 1);
    elem_len.str("k").u32(9).u32(8).u64(3).str("ok").u64(~uint64_t{0}).zeros(16);
    expect_bad(elem_len.b, "kv 'k' string 1 at offset");
    expect_bad(elem_len.b, "length 18446744073709551615 exceeds the cap");
    Bytes elem_over = header(0, 1);
    elem_over.str("k").u32(9).u32(8).u64(2).str("ok").u64(20).zeros(19);
    expect_bad(elem_over.b, "length 20 exceeds the 19 bytes left");
    Bytes elem_trunc = header(0, 1);
    elem_trunc.str("k").u32(9).u32(8).u64(2).str("ok").zeros(7);
    expect_bad(elem_trunc.b, "truncated: kv 'k' string 1 length");
    Bytes bools = header(0, 1);
    bools.str("k").u32(9).u32(7).u64(3).u8(1).u8(0).u8(5);
    expect_bad(bools.b, "bool array element 2 has value 5");
}

TEST(GgufMalformed, DuplicateKey) {
    Bytes b = header(0, 3);
    kv_u32(b, "a", 1);
    kv_str(b, "b", "x");
    kv_str(b, "a", "again");
    expect_bad(b.b, "duplicate key 'a' (kv #0 and #2)");
}

TEST(GgufMalformed, Alignment) {
    for (uint32_t bad : {0u, 3u, 48u, 0x80000001u}) {
        Bytes b = header(0, 1);
        kv_u32(b, "general.alignment", bad);
        expect_bad(b.b, fmt::format("general.alignment = {} is not a non-zero power of two", bad));
    }
    Bytes wrong_type = header(0, 1);
    wrong_type.str("general.alignment").u32(10).u64(32);
    expect_bad(wrong_type.b, "general.alignment has type u64, expected u32");
    Bytes as_string = header(0, 1);
    kv_str(as_string, "general.alignment", "32");
    expect_bad(as_string.b, "general.alignment has type string, expected u32");
    // A valid non-default alignment is honoured: offset 64 is fine at 64, 32 is not.
    for (auto [off, ok] : {std::pair{64u, true}, std::pair{32u, false}}) {
        Bytes b = header(1, 1);
        kv_u32(b, "general.alignment", 64);
        tensor_info(b, "t", {4}, 0, off);
        b.pad_to(64).zeros(128);
        if (ok) {
            auto r = GgufFile::parse("a64.gguf", b.b.data(), b.b.size());
            ASSERT_TRUE(r.ok()) << r.error().message;
            EXPECT_EQ(r.value()->alignment(), 64u);
            EXPECT_EQ(r.value()->data_offset() % 64, 0u);
        } else {
            expect_bad(b.b, "tensor 't': offset 32 is not a multiple of the alignment 64");
        }
    }
}

// ---- tensor infos

TEST(GgufMalformed, TensorShapes) {
    expect_bad(file_with_tensors({{"t", {}, 0, 0}}, 64), "tensor #0 't': n_dims = 0 is outside 1..4");
    expect_bad(file_with_tensors({{"t", {1, 1, 1, 1, 1}, 0, 0}}, 64), "n_dims = 5 is outside 1..4");
    expect_bad(file_with_tensors({{"t", {4, 0}, 0, 0}}, 64), "tensor #0 't': ne[1] = 0 must be positive");
    expect_bad(file_with_tensors({{"t", {-4}, 0, 0}}, 64), "ne[0] = -4 must be positive");
    expect_bad(file_with_tensors({{"t", {int64_t{1} << 32, int64_t{1} << 32}, 0, 0}}, 64),
               "element count of shape [4294967296, 4294967296] overflows int64");
    expect_bad(file_with_tensors({{"t", {int64_t{1} << 21, int64_t{1} << 21, int64_t{1} << 21}, 0, 0}}, 64),
               "overflows int64");
    // 2^62 elements fit int64 but 2^62 * 4 bytes does not fit 64 bits.
    expect_bad(file_with_tensors({{"t", {int64_t{1} << 31, int64_t{1} << 31}, 0, 0}}, 64),
               "tensor #0 't' (F32): byte size of shape [2147483648, 2147483648] overflows 64 bits");
    Bytes n_dims_huge = header(1, 0);
    n_dims_huge.str("t").u32(0xffffffffu).zeros(64);
    expect_bad(n_dims_huge.b, "n_dims = 4294967295 is outside 1..4");
}

TEST(GgufMalformed, TensorTypes) {
    for (uint32_t id : {4u, 5u, 31u, 40u, 1000u, 0xffffffffu})
        expect_bad(file_with_tensors({{"t", {256}, id, 0}}, 2048),
                   fmt::format("tensor #0 't': unknown ggml type id {}", id));
    expect_bad(file_with_tensors({{"t", {33, 2}, 2, 0}}, 2048),
               "tensor #0 't' (Q4_0): ne[0] = 33 is not a multiple of its block size 32");
    expect_bad(file_with_tensors({{"t", {128}, 12, 0}}, 2048),
               "(Q4_K): ne[0] = 128 is not a multiple of its block size 256");
}

TEST(GgufMalformed, TensorNames) {
    expect_bad(file_with_tensors({{"", {4}, 0, 0}}, 64), "tensor #0 at offset");
    expect_bad(file_with_tensors({{"", {4}, 0, 0}}, 64), "empty name");
    expect_bad(file_with_tensors({{std::string(2000, 'n'), {4}, 0, 0}}, 4096),
               "tensor #0 name at offset");
    expect_bad(file_with_tensors({{std::string(2000, 'n'), {4}, 0, 0}}, 4096),
               "string length 2000 exceeds the cap of 1024 bytes");
    expect_bad(file_with_tensors({{"a", {4}, 0, 0}, {"b", {4}, 0, 32}, {"a", {4}, 0, 64}}, 128),
               "duplicate tensor name 'a' (tensors #0 and #2)");
}

TEST(GgufMalformed, TensorOffsets) {
    expect_bad(file_with_tensors({{"t", {8}, 0, 4}}, 64),
               "tensor 't': offset 4 is not a multiple of the alignment 32");
    // Header 24 + kv 45 + tensor info 33 = 102, so data starts at 128 and the file is 192
    // bytes; 16 floats at relative offset 32 would end at 224.
    const auto past = file_with_tensors({{"t", {16}, 0, 32}}, 64);
    expect_bad(past, "tensor 't': data [160, 224) ends past the end of the file (192 bytes)");
    expect_bad(file_with_tensors({{"t", {8}, 0, uint64_t{1} << 40}}, 64), "ends past the end of the file");
    expect_bad(file_with_tensors({{"t", {8}, 0, ~uint64_t{31}}}, 64), "overflows 64 bits");
    // A tensor as big as the address space, at offset 0.
    expect_bad(file_with_tensors({{"t", {int64_t{1} << 30, int64_t{1} << 30}, 1, 0}}, 64),
               "ends past the end of the file");
    // No data section at all.
    expect_bad(file_with_tensors({{"t", {1}, 0, 0}}, 0), "ends past the end of the file");
}

// ---- truncation and corruption of valid files

// Where the header ends and where the last tensor's data ends: any shorter prefix is invalid.
uint64_t min_valid_size(const std::vector<uint8_t>& file) {
    auto r = GgufFile::parse("full.gguf", file.data(), file.size());
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return 0;
    uint64_t end = r.value()->tensors().empty() ? file.size() : 0;
    for (const GgufTensorInfo& t : r.value()->tensors()) end = std::max(end, t.offset + t.size_bytes);
    return end;
}

void expect_every_truncation_fails(const std::vector<uint8_t>& file, size_t every_byte_up_to,
                                   size_t stride) {
    const uint64_t min_size = min_valid_size(file);
    ASSERT_GT(min_size, 0u);
    size_t n_checked = 0;
    for (size_t len = 0; len < min_size; len += (len < every_byte_up_to ? 1 : stride)) {
        auto r = parse_exact(file.data(), len);
        ASSERT_FALSE(r.ok()) << "prefix of " << len << " bytes parsed";
        const std::string& m = r.error().message;
        ASSERT_EQ(r.error().kind, ErrorKind::kBadFile) << m;
        const bool named = m.find("truncated") != std::string::npos ||
                           m.find("bytes left") != std::string::npos ||
                           m.find("are left") != std::string::npos ||
                           m.find("past the end of the file") != std::string::npos ||
                           m.find("too short") != std::string::npos ||
                           m.find("cannot fit") != std::string::npos;
        ASSERT_TRUE(named) << "prefix of " << len << ": " << m;
        ++n_checked;
    }
    EXPECT_GT(n_checked, 0u);
}

std::vector<uint8_t> small_writer_file() {
    GgufWriter w;
    w.set_string("general.architecture", "qwen2");
    w.set_u32("qwen2.block_count", 2);
    w.set_f32("qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    w.set_u64("big", 1);
    w.set_i8("small", -1);
    w.set_array_strings("tokenizer.ggml.tokens",
                        std::vector<std::string>{"a", "b", "", "Ġthe", "<think>"});
    w.set_array("tokenizer.ggml.token_type", std::vector<int32_t>{1, 1, 1, 1, 4});
    w.set_array("tokenizer.ggml.scores", std::vector<float>{0, -1, -2, -3, 0});
    w.set_array_bool("flags", {true, false});
    std::vector<uint8_t> data(4096, 0x5a);
    Status st = w.add_tensor("token_embd.weight", 0, {8, 5}, data.data(), 160);
    if (st.ok()) st = w.add_tensor("blk.0.attn_q.weight", 2, {64, 4}, data.data(), 144);
    if (st.ok()) st = w.add_tensor("blk.0.attn_q.bias", 1, {3}, data.data(), 6);
    if (st.ok()) st = w.add_tensor("blk.0.ffn.weight", 12, {256, 1, 2}, data.data(), 288);
    EXPECT_TRUE(st.ok());
    auto r = w.write_buffer();
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : std::vector<uint8_t>();
}

TEST(GgufMalformed, EveryTruncationOfAWriterFileFails) {
    const auto file = small_writer_file();
    ASSERT_GT(file.size(), 500u);
    expect_every_truncation_fails(file, file.size(), 1);
}

TEST(GgufMalformed, TruncationsOfRealFixturesFail) {
    for (const char* name : {"stories260K/stories260K.gguf", "tiny/tiny-llama-Q4_K_M.gguf",
                             "vocab/ggml-vocab-r1-distill-qwen.gguf"}) {
        SCOPED_TRACE(name);
        const auto file = read_file_bytes(kData + "/" + name);
        ASSERT_FALSE(file.empty());
        // Every byte of the first 4 KB (header, first kvs), then a prime stride through the
        // rest; the vocab (5.9 MB of kvs) gets a wider stride to keep the test quick.
        const size_t stride = file.size() > (size_t{4} << 20) ? 65537 : 4099;
        expect_every_truncation_fails(file, 4096, stride);
    }
}

// Seeded random corruption of a valid file's header: any outcome but a crash is acceptable,
// and whatever parses must still satisfy the reader's promises.
TEST(GgufMalformed, RandomByteFlipsNeverCrash) {
    const auto base = small_writer_file();
    auto full = GgufFile::parse("base.gguf", base.data(), base.size());
    ASSERT_TRUE(full.ok());
    const size_t header_end = full.value()->data_offset();
    std::mt19937_64 rng(1234);
    int n_ok = 0, n_err = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        std::vector<uint8_t> f = base;
        const int n_flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < n_flips; ++k) {
            const size_t pos = rng() % header_end;
            switch (rng() % 4) {
                case 0: f[pos] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
                case 1: f[pos] = static_cast<uint8_t>(rng()); break;
                case 2: f[pos] = 0xff; break;
                default: f[pos] = 0; break;
            }
        }
        std::unique_ptr<uint8_t[]> copy(new uint8_t[f.size()]);
        std::memcpy(copy.get(), f.data(), f.size());
        auto r = GgufFile::parse("flip.gguf", copy.get(), f.size());
        if (!r.ok()) {
            ++n_err;
            EXPECT_EQ(r.error().kind, ErrorKind::kBadFile);
            continue;
        }
        ++n_ok;
        const GgufFile& g = *r.value();
        for (const GgufTensorInfo& t : g.tensors()) {
            ASSERT_LE(t.offset + t.size_bytes, f.size());
            ASSERT_EQ(t.offset % g.alignment(), 0u);
            ASSERT_EQ(t.data, copy.get() + t.offset);
        }
    }
    EXPECT_GT(n_err, 1000);
    std::printf("byte flips: %d parsed, %d refused\n", n_ok, n_err);
}

}  // namespace
}  // namespace retort
