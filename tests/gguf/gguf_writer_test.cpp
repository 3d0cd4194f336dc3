// GgufWriter: write -> read round trips (every value type, tensors of several ggml types,
// chunked fills, alignment), the writer's own refusals, and copying a real vocab and model.
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "support/test_files.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace retort {
namespace {

std::unique_ptr<GgufFile> parse_ok(const std::vector<uint8_t>& bytes) {
    auto r = GgufFile::parse("mem.gguf", bytes.data(), bytes.size());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r.value()) : nullptr;
}

std::vector<uint8_t> write_ok(const GgufWriter& w) {
    auto r = w.write_buffer();
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    if (!r.ok()) return {};
    EXPECT_EQ(r.value().size(), w.file_size());
    return std::move(r.value());
}

// A byte pattern that differs per tensor and per position, to catch misplaced rows.
uint8_t pattern(int tensor, uint64_t pos) { return static_cast<uint8_t>(tensor * 37 + pos * 7 + (pos >> 8)); }

GgufWriter::FillRows pattern_fill(int tensor, uint64_t row_bytes) {
    return [tensor, row_bytes](int64_t row0, int64_t n_rows, uint8_t* dst) -> Status {
        for (uint64_t k = 0; k < static_cast<uint64_t>(n_rows) * row_bytes; ++k)
            dst[k] = pattern(tensor, static_cast<uint64_t>(row0) * row_bytes + k);
        return ok_status();
    };
}

TEST(GgufWriter, RoundTripsEveryValueType) {
    GgufWriter w;
    w.set_u8("t.u8", 200);
    w.set_i8("t.i8", -100);
    w.set_u16("t.u16", 60000);
    w.set_i16("t.i16", -30000);
    w.set_u32("t.u32", 4000000000u);
    w.set_i32("t.i32", -2000000000);
    w.set_u64("t.u64", 0xfedcba9876543210ull);
    w.set_i64("t.i64", -(int64_t{1} << 62));
    w.set_f32("t.f32", 1.5e-6f);
    w.set_f64("t.f64", -3.25e100);
    w.set_bool("t.bool", true);
    w.set_string("t.str", "héllo <｜User｜>");
    w.set_string("t.empty", "");
    w.set_array("t.a.u8", std::vector<uint8_t>{1, 2, 255});
    w.set_array("t.a.i8", std::vector<int8_t>{-1, 0, 127});
    w.set_array("t.a.u16", std::vector<uint16_t>{65535});
    w.set_array("t.a.i16", std::vector<int16_t>{-32768, 5});
    w.set_array("t.a.u32", std::vector<uint32_t>{7, 4294967295u});
    w.set_array("t.a.i32", std::vector<int32_t>{-7, 1, 2, 3});
    w.set_array("t.a.u64", std::vector<uint64_t>{1ull << 40});
    w.set_array("t.a.i64", std::vector<int64_t>{-(int64_t{1} << 40), 9});
    w.set_array("t.a.f32", std::vector<float>{0.5f, -1.0f, 1e30f});
    w.set_array("t.a.f64", std::vector<double>{0.1, -2.5});
    w.set_array("t.a.empty", std::vector<int32_t>{});
    w.set_array_bool("t.a.bool", {true, false, true});
    const std::vector<std::string> strs = {"a", "", "Ġthe", "<think>", std::string(3000, 'x')};
    w.set_array_strings("t.a.str", strs);
    w.set_array_strings("t.a.str_empty", std::span<const std::string>());

    const std::vector<uint8_t> bytes = write_ok(w);
    auto f = parse_ok(bytes);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->metadata().size(), w.kv_count());
    EXPECT_EQ(f->metadata()[0].key, "t.u8");  // insertion order kept
    EXPECT_EQ(*f->get_uint("t.u8").value(), 200u);
    EXPECT_EQ(*f->get_int("t.i8").value(), -100);
    EXPECT_EQ(*f->get_uint("t.u16").value(), 60000u);
    EXPECT_EQ(*f->get_int("t.i16").value(), -30000);
    EXPECT_EQ(*f->get_uint("t.u32").value(), 4000000000u);
    EXPECT_EQ(*f->get_int("t.i32").value(), -2000000000);
    EXPECT_EQ(*f->get_uint("t.u64").value(), 0xfedcba9876543210ull);
    EXPECT_FALSE(f->get_int("t.u64").ok());  // does not fit int64
    EXPECT_EQ(*f->get_int("t.i64").value(), -(int64_t{1} << 62));
    EXPECT_FALSE(f->get_uint("t.i64").ok());  // negative
    EXPECT_EQ(*f->get_float("t.f32").value(), static_cast<double>(1.5e-6f));
    EXPECT_EQ(*f->get_float("t.f64").value(), -3.25e100);
    EXPECT_EQ(*f->get_float("t.u16").value(), 60000.0);
    EXPECT_TRUE(*f->get_bool("t.bool").value());
    EXPECT_EQ(*f->get_string("t.str").value(), "héllo <｜User｜>");
    EXPECT_EQ(*f->get_string("t.empty").value(), "");
    EXPECT_EQ(f->find("t.f32")->type, GgufType::FLOAT32);
    EXPECT_EQ(f->find("t.i16")->type, GgufType::INT16);

    EXPECT_EQ(*f->get_int_array("t.a.u8").value(), (std::vector<int64_t>{1, 2, 255}));
    EXPECT_EQ(*f->get_int_array("t.a.i8").value(), (std::vector<int64_t>{-1, 0, 127}));
    EXPECT_EQ(*f->get_int_array("t.a.u16").value(), (std::vector<int64_t>{65535}));
    EXPECT_EQ(*f->get_int_array("t.a.i16").value(), (std::vector<int64_t>{-32768, 5}));
    EXPECT_EQ(*f->get_int_array("t.a.u32").value(), (std::vector<int64_t>{7, 4294967295ll}));
    EXPECT_EQ(*f->get_int_array("t.a.i32").value(), (std::vector<int64_t>{-7, 1, 2, 3}));
    EXPECT_EQ(*f->get_int_array("t.a.u64").value(), (std::vector<int64_t>{1ll << 40}));
    EXPECT_EQ(*f->get_int_array("t.a.i64").value(), (std::vector<int64_t>{-(1ll << 40), 9}));
    EXPECT_EQ(*f->get_float_array("t.a.f32").value(), (std::vector<float>{0.5f, -1.0f, 1e30f}));
    EXPECT_EQ(*f->get_float_array("t.a.f64").value(), (std::vector<float>{0.1f, -2.5f}));
    EXPECT_TRUE(f->get_int_array("t.a.empty").value()->empty());
    const GgufValue* b = f->find("t.a.bool");
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->elem_type, GgufType::BOOL);
    ASSERT_EQ(b->count, 3u);
    EXPECT_EQ(b->raw[0], 1);
    EXPECT_EQ(b->raw[1], 0);
    auto s = f->get_string_array("t.a.str");
    ASSERT_TRUE(s.ok() && s.value());
    ASSERT_EQ(s.value()->size(), strs.size());
    for (size_t k = 0; k < strs.size(); ++k) EXPECT_EQ((*s.value())[k], strs[k]);
    EXPECT_TRUE(f->get_string_array("t.a.str_empty").value()->empty());
    EXPECT_FALSE(f->get_float_array("t.a.i32").ok());
    EXPECT_TRUE(f->tensors().empty());
}

TEST(GgufWriter, SettingAKeyAgainReplacesItInPlace) {
    GgufWriter w;
    w.set_u32("a", 1);
    w.set_string("b", "x");
    w.set_string("a", "now a string");
    EXPECT_TRUE(w.has("a"));
    EXPECT_EQ(w.kv_count(), 2u);
    const std::vector<uint8_t> bytes = write_ok(w);
    auto f = parse_ok(bytes);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->metadata()[0].key, "a");
    EXPECT_EQ(*f->get_string("a").value(), "now a string");
    EXPECT_TRUE(w.remove("b"));
    EXPECT_FALSE(w.remove("b"));
    EXPECT_EQ(w.kv_count(), 1u);
}

TEST(GgufWriter, RoundTripsTensorsOfSeveralTypes) {
    struct Spec {
        const char* name;
        uint32_t type;
        std::vector<int64_t> ne;
        uint64_t row_bytes;
    };
    const std::vector<Spec> specs = {
        {"a.f32", 0, {7, 3}, 28},          {"b.q4_0", 2, {64, 5}, 36},
        {"c.q8_0", 8, {32}, 34},           {"d.f16.4d", 1, {5, 1, 2, 3}, 10},
        {"e.q4_k", 12, {512, 2}, 288},     {"f.bf16", 30, {1}, 2},
    };
    for (uint32_t alignment : {32u, 64u, 1u, 4096u}) {
        SCOPED_TRACE(alignment);
        GgufWriter w;
        ASSERT_TRUE(w.set_alignment(alignment).ok());
        w.set_string("general.architecture", "test");
        for (size_t k = 0; k < specs.size(); ++k)
            ASSERT_TRUE(w.add_tensor(specs[k].name, specs[k].type, specs[k].ne,
                                     pattern_fill(static_cast<int>(k), specs[k].row_bytes)).ok());
        EXPECT_FALSE(w.set_alignment(16).ok());  // too late: offsets are laid out
        const std::vector<uint8_t> bytes = write_ok(w);
        auto f = parse_ok(bytes);
        ASSERT_NE(f, nullptr);
        EXPECT_EQ(f->alignment(), alignment);
        ASSERT_EQ(f->tensors().size(), specs.size());
        for (size_t k = 0; k < specs.size(); ++k) {
            const GgufTensorInfo& t = f->tensors()[k];
            EXPECT_EQ(t.name, specs[k].name);
            EXPECT_EQ(t.ggml_type, specs[k].type);
            EXPECT_EQ(t.ne, specs[k].ne);
            EXPECT_EQ(t.offset % alignment, 0u);
            EXPECT_EQ(t.size_bytes, specs[k].row_bytes * (t.n_elements() / specs[k].ne[0]));
            uint64_t bad = 0;
            for (uint64_t b = 0; b < t.size_bytes; ++b)
                bad += t.data[b] != pattern(static_cast<int>(k), b);
            EXPECT_EQ(bad, 0u) << t.name;
        }
    }
}

TEST(GgufWriter, ChunkedFillCoversEveryRowOnceInOrder) {
    GgufWriter w;
    const int64_t n_rows = 1000;
    std::vector<std::pair<int64_t, int64_t>> calls;
    ASSERT_TRUE(w.add_tensor("big", 0, {16, 10, 100},  // 64-byte rows
                             [&](int64_t row0, int64_t n, uint8_t* dst) -> Status {
                                 calls.emplace_back(row0, n);
                                 for (int64_t b = 0; b < n * 64; ++b)
                                     dst[b] = pattern(0, static_cast<uint64_t>(row0 * 64 + b));
                                 return ok_status();
                             }).ok());
    const std::string path = ::testing::TempDir() + "/retort_gguf_chunked.gguf";
    ASSERT_TRUE(w.write_file(path, /*chunk_bytes=*/1000).ok());  // 15 rows per chunk
    int64_t next = 0;
    for (auto [row0, n] : calls) {
        EXPECT_EQ(row0, next);
        EXPECT_GE(n, 1);
        EXPECT_LE(n, 15);
        next = row0 + n;
    }
    EXPECT_EQ(next, n_rows);
    EXPECT_EQ(calls.size(), (n_rows + 14) / 15);
    auto f = GgufFile::open(path);
    ASSERT_TRUE(f.ok()) << f.error().message;
    const GgufTensorInfo& t = f.value()->tensors()[0];
    uint64_t bad = 0;
    for (uint64_t b = 0; b < t.size_bytes; ++b) bad += t.data[b] != pattern(0, b);
    EXPECT_EQ(bad, 0u);
    EXPECT_EQ(f.value()->file_size(), w.file_size());
    std::filesystem::remove(path);
}

TEST(GgufWriter, FillErrorAbortsTheWriteAndLeavesNoFile) {
    GgufWriter w;
    ASSERT_TRUE(w.add_tensor("t", 0, {4, 4}, [](int64_t row0, int64_t, uint8_t*) -> Status {
        if (row0 > 0) return Error::bad_argument("quantizer ran out of luck");
        return ok_status();
    }).ok());
    const std::string path = ::testing::TempDir() + "/retort_gguf_fail.gguf";
    std::filesystem::remove(path);
    Status st = w.write_file(path, 16);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("tensor 't': quantizer ran out of luck"), std::string::npos)
        << st.error().message;
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
    Status bad_dir = w.write_file("/nonexistent-dir/x.gguf");
    ASSERT_FALSE(bad_dir.ok());
    EXPECT_EQ(bad_dir.error().kind, ErrorKind::kIo);
}

TEST(GgufWriter, RefusesWhatTheReaderWouldRefuse) {
    GgufWriter w;
    const auto fill = pattern_fill(0, 4);
    ASSERT_TRUE(w.add_tensor("x", 0, {4}, fill).ok());
    auto expect = [](Status st, std::string_view needle) {
        ASSERT_FALSE(st.ok());
        EXPECT_NE(st.error().message.find(needle), std::string::npos) << st.error().message;
    };
    expect(w.add_tensor("x", 0, {4}, fill), "duplicate tensor name 'x'");
    expect(w.add_tensor("", 0, {4}, fill), "must be 1..63 bytes");
    expect(w.add_tensor(std::string(64, 'n'), 0, {4}, fill), "must be 1..63 bytes");
    expect(w.add_tensor("u", 4, {4}, fill), "unknown ggml type id 4");
    expect(w.add_tensor("u", 1000, {4}, fill), "unknown ggml type id 1000");
    expect(w.add_tensor("s", 2, {33}, fill), "ne[0] a multiple of 32");
    expect(w.add_tensor("s", 0, {}, fill), "invalid shape of 0 dims");
    expect(w.add_tensor("s", 0, {1, 1, 1, 1, 1}, fill), "invalid shape of 5 dims");
    expect(w.add_tensor("s", 0, {4, 0}, fill), "invalid shape");
    expect(w.add_tensor("s", 0, {int64_t{1} << 32, int64_t{1} << 32}, fill), "invalid shape");
    expect(w.add_tensor("s", 0, {4}, GgufWriter::FillRows()), "no fill callback");
    const float data[3] = {1, 2, 3};
    expect(w.add_tensor("d", 0, {4}, data, sizeof(data)), "12 bytes given, its type and shape need 16");
    expect(w.set_alignment(0), "not a non-zero power of two");
    expect(w.set_alignment(3), "not a non-zero power of two");
    EXPECT_EQ(w.tensor_count(), 1u);

    GgufWriter w2;
    w2.set_u64("general.alignment", 64);  // must be u32, via set_alignment
    auto r2 = w2.write_buffer();
    expect(r2.ok() ? ok_status() : Status(r2.error()), "general.alignment");
    GgufWriter w3;
    w3.set_u32("", 1);
    auto r3 = w3.write_buffer();
    expect(r3.ok() ? ok_status() : Status(r3.error()), "empty metadata key");
}

TEST(GgufWriter, InMemoryTensorData) {
    GgufWriter w;
    std::vector<float> v(6 * 5);
    for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(k) * 0.5f;
    ASSERT_TRUE(w.add_tensor("m", 0, {6, 5}, v.data(), v.size() * sizeof(float)).ok());
    const std::vector<uint8_t> bytes = write_ok(w);
    auto f = parse_ok(bytes);
    ASSERT_NE(f, nullptr);
    const GgufTensorInfo* t = f->find_tensor("m");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(std::memcmp(t->data, v.data(), v.size() * sizeof(float)), 0);
}

TEST(GgufWriter, CopiesAVocabFromARealFile) {
    auto vocab = GgufFile::open(kData + "/vocab/ggml-vocab-r1-distill-qwen.gguf");
    ASSERT_TRUE(vocab.ok()) << vocab.error().message;
    const GgufFile& src = *vocab.value();
    GgufWriter w;
    w.set_string("general.architecture", "qwen2");
    size_t n_tok_keys = 0;
    for (const GgufKv& kv : src.metadata()) n_tok_keys += kv.key.starts_with("tokenizer.");
    EXPECT_EQ(w.copy_kvs(src, "tokenizer."), n_tok_keys);
    EXPECT_GE(n_tok_keys, 8u);
    std::vector<float> emb(64 * 4, 0.25f);
    ASSERT_TRUE(w.add_tensor("token_embd.weight", 0, {64, 4}, emb.data(), emb.size() * 4).ok());
    const std::vector<uint8_t> bytes = write_ok(w);
    auto f = parse_ok(bytes);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->metadata().size(), 1 + n_tok_keys);
    for (const GgufKv& kv : src.metadata()) {
        if (!kv.key.starts_with("tokenizer.")) continue;
        SCOPED_TRACE(kv.key);
        const GgufValue* got = f->find(kv.key);
        ASSERT_NE(got, nullptr);
        const GgufValue& want = kv.value;
        EXPECT_EQ(got->type, want.type);
        EXPECT_EQ(got->u, want.u);
        EXPECT_EQ(got->i, want.i);
        EXPECT_EQ(got->str, want.str);
        EXPECT_EQ(got->elem_type, want.elem_type);
        EXPECT_EQ(got->count, want.count);
        EXPECT_EQ(got->strings, want.strings);
        if (want.raw != nullptr) {
            size_t width = want.elem_type == GgufType::INT32 || want.elem_type == GgufType::UINT32 ||
                                   want.elem_type == GgufType::FLOAT32 ? 4 : 1;
            if (want.elem_type == GgufType::INT64 || want.elem_type == GgufType::UINT64 ||
                want.elem_type == GgufType::FLOAT64) width = 8;
            if (want.elem_type == GgufType::INT16 || want.elem_type == GgufType::UINT16) width = 2;
            EXPECT_EQ(std::memcmp(got->raw, want.raw, want.count * width), 0);
        }
    }
    EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").value()->size(), 151936u);
}

// Reading a real model and writing every kv and tensor back reproduces the file byte for byte:
// gguf-py and this writer lay the format out the same way.
TEST(GgufWriter, RewritesARealModelByteForByte) {
    for (const char* name : {"tiny/tiny-qwen2-Q4_K_M.gguf", "tiny/tiny-llama-Q2_K.gguf",
                             "stories260K/stories260K.gguf", "vocab/ggml-vocab-r1-distill-llama.gguf"}) {
        SCOPED_TRACE(name);
        const std::string path = kData + "/" + name;
        auto src = GgufFile::open(path);
        ASSERT_TRUE(src.ok()) << src.error().message;
        const GgufFile& f = *src.value();
        GgufWriter w;
        if (f.find("general.alignment") != nullptr) {
            ASSERT_TRUE(w.set_alignment(static_cast<uint32_t>(f.alignment())).ok());
        }
        EXPECT_EQ(w.copy_kvs(f, ""), f.metadata().size());
        for (const GgufTensorInfo& t : f.tensors())
            ASSERT_TRUE(w.add_tensor(t.name, t.ggml_type, t.ne, t.data, t.size_bytes).ok());
        auto out = w.write_buffer();
        ASSERT_TRUE(out.ok()) << out.error().message;
        const std::vector<uint8_t> orig = read_file_bytes(path);
        ASSERT_EQ(out.value().size(), orig.size());
        EXPECT_TRUE(out.value() == orig);
    }
}

}  // namespace
}  // namespace retort
