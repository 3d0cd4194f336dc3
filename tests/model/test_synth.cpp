// retort synth's library part: llama-quantize's mixtures (against the tiny fixtures' tensor
// types and llama.cpp's own 70B snapshot), the 1.5B plan without writing it, and small
// synthesized files that load and run, byte-identical for any thread count.
#include "gguf/gguf_writer.h"
#include "kernels/kernel_table.h"
#include "kv/kv_cache.h"
#include "model/decoder.h"
#include "model/model.h"
#include "model/synth.h"
#include "support/test_files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace retort {
namespace {

using nlohmann::json;


std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("retort_test_synth_" + name)).string();
}

std::unique_ptr<GgufFile> open_or_fail(const std::string& path) {
    auto f = GgufFile::open(path);
    EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
    return f.ok() ? std::move(f.value()) : nullptr;
}

// ---- mixtures

// The fixtures were quantized from their F32 file by llama-quantize (FIXTURES.md §3). The
// rules applied to the F32 file's tensors must give each file's tensor_types exactly.
TEST(SynthMixture, ReproducesFixtureTensorTypes) {
    int checked = 0;
    for (const std::string model : {"tiny-qwen2", "tiny-llama"}) {
        auto f32 = open_or_fail(kData + "/tiny/" + model + "-F32.gguf");
        ASSERT_TRUE(f32);
        std::vector<MixtureTensor> tensors;
        for (const auto& t : f32->tensors()) tensors.push_back({t.name, t.ne});
        const SynthPreset* preset = find_synth_preset(model);
        ASSERT_NE(preset, nullptr);
        const MixtureModel mm{preset->arch, preset->n_layer, preset->n_head, preset->n_head_kv};
        for (const std::string type : {"Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q4_0", "Q6_K", "Q8_0", "F16", "BF16"}) {
            const json ref = read_json_file(kData + "/tiny/" + model + "-" + type + ".reference.json");
            const SynthFileType* ft = find_synth_file_type(type);
            ASSERT_NE(ft, nullptr) << type;
            const std::vector<DType> got = choose_tensor_types(mm, *ft, tensors);
            ASSERT_EQ(got.size(), ref["tensor_types"].size()) << model << " " << type;
            for (size_t i = 0; i < tensors.size(); ++i) {
                const std::string want = ref["tensor_types"].at(tensors[i].name).get<std::string>();
                EXPECT_EQ(traits(got[i]).name, want) << model << "-" << type << " " << tensors[i].name;
                ++checked;
            }
            // The preset's own plan: the same names and the same types.
            const SynthPlan plan = plan_synth(*preset, *ft);
            ASSERT_EQ(plan.tensors.size(), ref["tensor_types"].size());
            for (const auto& t : plan.tensors)
                EXPECT_EQ(traits(t.type).name, ref["tensor_types"].at(t.name).get<std::string>())
                    << model << "-" << type << " plan " << t.name;
        }
    }
    EXPECT_EQ(checked, 9 * (27 + 22));
}

// Tensor counts per type for the Llama-3.1-70B shapes (= R1-Distill-Llama-70B), from
// llama.cpp's tests/snapshots/meta-llama-3.1-70b-instruct.schema at d32676d7, which records
// what llama-quantize chooses. Covers the 70B attn_v bump and the every-third-layer rules
// over 80 layers; the full per-tensor comparison matched too (bench/compare.sh notes).
TEST(SynthMixture, MatchesLlamaCppSnapshotFor70B) {
    const std::map<std::string, std::map<std::string, int>> expected = {
        {"F16", {{"F16", 562}, {"F32", 162}}},
        {"BF16", {{"BF16", 562}, {"F32", 162}}},
        {"Q8_0", {{"F32", 162}, {"Q8_0", 562}}},
        {"Q4_0", {{"F32", 162}, {"Q4_0", 561}, {"Q6_K", 1}}},
        {"Q4_1", {{"F32", 162}, {"Q4_1", 561}, {"Q6_K", 1}}},
        {"Q5_0", {{"F32", 162}, {"Q5_0", 561}, {"Q6_K", 1}}},
        {"Q5_1", {{"F32", 162}, {"Q5_1", 561}, {"Q6_K", 1}}},
        {"Q2_K", {{"F32", 162}, {"Q2_K", 321}, {"Q3_K", 160}, {"Q5_K", 80}, {"Q6_K", 1}}},
        {"Q3_K_S", {{"F32", 162}, {"Q3_K", 481}, {"Q5_K", 80}, {"Q6_K", 1}}},
        {"Q3_K_M", {{"F32", 162}, {"Q3_K", 321}, {"Q4_K", 155}, {"Q5_K", 85}, {"Q6_K", 1}}},
        {"Q3_K_L", {{"F32", 162}, {"Q3_K", 321}, {"Q5_K", 240}, {"Q6_K", 1}}},
        {"Q4_K_S", {{"F32", 162}, {"Q4_K", 471}, {"Q5_K", 90}, {"Q6_K", 1}}},
        {"Q4_K_M", {{"F32", 162}, {"Q4_K", 441}, {"Q5_K", 40}, {"Q6_K", 81}}},
        {"Q5_K_S", {{"F32", 162}, {"Q5_K", 561}, {"Q6_K", 1}}},
        {"Q5_K_M", {{"F32", 162}, {"Q5_K", 481}, {"Q6_K", 81}}},
        {"Q6_K", {{"F32", 162}, {"Q6_K", 562}}},
    };
    const SynthPreset& p = *find_synth_preset("r1-distill-llama-70b");
    for (const auto& [type, counts] : expected) {
        std::map<std::string, int> got;
        for (const auto& t : plan_synth(p, *find_synth_file_type(type)).tensors) ++got[traits(t.type).name];
        EXPECT_EQ(got, counts) << type;
    }
    // Q4_K_M's attn_v: Q6_K on the use_more_bits layers (0-9, 12, 15, ..., 69, 70-79), the
    // others Q4_K bumped to Q5_K because the model is a 70B.
    const SynthPlan plan = plan_synth(p, *find_synth_file_type("Q4_K_M"));
    for (const auto& t : plan.tensors) {
        int il = -1;
        if (std::sscanf(t.name.c_str(), "blk.%d.attn_v.weight", &il) != 1 || t.name.find("attn_v") == std::string::npos)
            continue;
        const bool more = il < 10 || il >= 70 || (il - 10) % 3 == 2;
        EXPECT_EQ(t.type, more ? DType::Q6_K : DType::Q5_K) << t.name;
    }
}

TEST(SynthMixture, FallbackForRowsThatDoNotFitTheBlock) {
    // A 1-D tensor stays F32; a row of 96 elements cannot hold Q4_K (256) -> Q5_0 (32); the
    // output of 96 columns gets Q8_0; a row of 48 fits no 32-element type either -> F16.
    const std::vector<MixtureTensor> tensors = {
        {"token_embd.weight", {96, 10}}, {"blk.0.attn_q.weight", {96, 96}}, {"blk.0.ffn_up.weight", {48, 96}},
        {"blk.0.attn_norm.weight", {96}}, {"output.weight", {96, 10}}};
    const auto types = choose_tensor_types({"llama", 1, 1, 1}, *find_synth_file_type("Q4_K_M"), tensors);
    EXPECT_EQ(types, (std::vector<DType>{DType::Q5_0, DType::Q5_0, DType::F16, DType::F32, DType::Q8_0}));
    // Tied embeddings (no output.weight): token_embd takes the output rule.
    const std::vector<MixtureTensor> tied = {{"token_embd.weight", {256, 10}}, {"blk.0.attn_q.weight", {256, 256}}};
    EXPECT_EQ(choose_tensor_types({"qwen2", 1, 1, 1}, *find_synth_file_type("Q4_0"), tied),
              (std::vector<DType>{DType::Q6_K, DType::Q4_0}));
}

// ---- plans

TEST(SynthPlan, Qwen15BShapesAndSizeWithoutWriting) {
    const SynthPreset& p = *find_synth_preset("r1-distill-qwen-1.5b");
    const SynthPlan plan = plan_synth(p, *find_synth_file_type("Q4_K_M"));
    ASSERT_EQ(plan.tensors.size(), 1u + 28 * 12 + 2);
    std::map<std::string, const SynthTensor*> by_name;
    for (const auto& t : plan.tensors) by_name[t.name] = &t;
    auto shape = [&](const std::string& n) { return by_name.at(n)->ne; };
    EXPECT_EQ(shape("token_embd.weight"), (std::vector<int64_t>{1536, 151936}));
    EXPECT_EQ(shape("output.weight"), (std::vector<int64_t>{1536, 151936}));
    EXPECT_EQ(shape("blk.0.attn_q.weight"), (std::vector<int64_t>{1536, 1536}));
    EXPECT_EQ(shape("blk.0.attn_k.weight"), (std::vector<int64_t>{1536, 256}));
    EXPECT_EQ(shape("blk.0.attn_v.weight"), (std::vector<int64_t>{1536, 256}));
    EXPECT_EQ(shape("blk.0.attn_k.bias"), (std::vector<int64_t>{256}));
    EXPECT_EQ(shape("blk.27.attn_output.weight"), (std::vector<int64_t>{1536, 1536}));
    EXPECT_EQ(shape("blk.27.ffn_gate.weight"), (std::vector<int64_t>{1536, 8960}));
    EXPECT_EQ(shape("blk.27.ffn_down.weight"), (std::vector<int64_t>{8960, 1536}));
    EXPECT_EQ(by_name.count("rope_freqs.weight"), 0u);
    EXPECT_EQ(plan.n_params, 1777088000);  // R1-Distill-Qwen-1.5B: 1.78 B with the separate output

    // Q6_K on half of attn_v / ffn_down (use_more_bits over 28 layers), output Q6_K.
    const std::set<int> more = {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27};
    uint64_t bytes = 0;
    for (const auto& t : plan.tensors) {
        int il = -1;
        std::sscanf(t.name.c_str(), "blk.%d.", &il);
        DType want = DType::Q4_K;
        if (t.ne.size() == 1) want = DType::F32;
        else if (t.name == "output.weight") want = DType::Q6_K;
        else if ((t.name.find("attn_v.weight") != std::string::npos || t.name.find("ffn_down") != std::string::npos) &&
                 more.count(il))
            want = DType::Q6_K;
        EXPECT_EQ(t.type, want) << t.name;
        // Bytes from first principles: Q4_K 144 and Q6_K 210 bytes per 256, F32 4 per element.
        int64_t n = 1;
        for (int64_t d : t.ne) n *= d;
        bytes += want == DType::F32 ? 4 * n : (want == DType::Q4_K ? 144 : 210) * n / 256;
    }
    EXPECT_EQ(plan.tensor_bytes, bytes);

    // The writer knows the exact file size before writing: header + aligned tensor data.
    auto w = SynthWriter::create(plan, {.seed = 1, .n_threads = 1});
    ASSERT_TRUE(w.ok()) << w.error().message;
    const uint64_t size = w.value()->file_size();
    EXPECT_GT(size, plan.tensor_bytes);
    EXPECT_LT(size, plan.tensor_bytes + (8u << 20));  // ~3 MB of vocab + 339 infos + padding
}

TEST(SynthPlan, AllPresetsAndTypesPlan) {
    for (const auto& p : synth_presets())
        for (const auto& ft : synth_file_types()) {
            const SynthPlan plan = plan_synth(p, ft);
            const size_t per_layer = p.qkv_bias ? 12 : 9;
            EXPECT_EQ(plan.tensors.size(), (size_t)p.n_layer * per_layer + 3 + (p.rope_freqs ? 1 : 0))
                << p.name << " " << ft.name;
            for (const auto& t : plan.tensors) EXPECT_EQ(t.ne[0] % traits(t.type).block_elems, 0) << t.name;
        }
    EXPECT_EQ(find_synth_preset("r1-distill-qwen-3b"), nullptr);
    EXPECT_EQ(find_synth_file_type("IQ2_XXS"), nullptr);
}

TEST(SynthPlan, RopeFreqsMatchTheConverter) {
    auto f = open_or_fail(kData + "/tiny/tiny-llama-F32.gguf");
    ASSERT_TRUE(f);
    const GgufTensorInfo* t = f->find_tensor("rope_freqs.weight");
    ASSERT_NE(t, nullptr);
    const std::vector<float> got = llama3_rope_factors(128, 500000.0);
    ASSERT_EQ((int64_t)got.size(), t->ne[0]);
    const auto* ref = reinterpret_cast<const float*>(t->data);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-6 * ref[i]) << i;
}

// ---- files

struct RunResult {
    std::unique_ptr<Model> model;
    std::vector<float> logits;  // last position
};

RunResult load_and_run(const std::string& path) {
    RunResult r;
    auto m = Model::load(path);
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    if (!m.ok()) return r;
    r.model = std::move(m.value());
    const ModelConfig& c = r.model->config();
    ThreadPool pool(2);
    Decoder dec(*r.model, *select_kernels(), pool, 16);
    auto kv = KvCache::create({c.n_layer, c.n_embd_kv(), 64, 32, 1, DType::F16});
    EXPECT_TRUE(kv.ok());
    Batch b;
    const int32_t ids[] = {1, 17, 200, 5, 99, 42, 7, 300};
    for (int i = 0; i < 8; ++i) b.add(ids[i], i, 0, i == 7);
    Status st = dec.forward(b, kv.value(), r.logits);
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
    return r;
}

TEST(SynthFile, TinyModelsLoadAndRun) {
    for (const std::string preset : {"tiny-qwen2", "tiny-llama"})
        for (const std::string type : {"F32", "Q4_K_M", "Q8_0", "Q2_K"}) {
            const SynthPlan plan = plan_synth(*find_synth_preset(preset), *find_synth_file_type(type));
            auto w = SynthWriter::create(plan, {.seed = 7, .n_threads = 2});
            ASSERT_TRUE(w.ok()) << w.error().message;
            const std::string path = temp_path(preset + "-" + type + ".gguf");
            ASSERT_TRUE(w.value()->write_file(path).ok());
            EXPECT_EQ(std::filesystem::file_size(path), w.value()->file_size());

            const RunResult r = load_and_run(path);
            ASSERT_TRUE(r.model);
            const ModelConfig& c = r.model->config();
            EXPECT_EQ(c.arch->gguf_arch, plan.preset->arch);
            EXPECT_EQ(c.n_vocab, plan.preset->n_vocab);
            EXPECT_EQ(c.n_layer, 2);
            EXPECT_EQ(c.file_type, plan.file_type->ftype);
            EXPECT_EQ(r.model->weights().rope_freqs != nullptr, plan.preset->rope_freqs);
            ASSERT_EQ((int64_t)r.logits.size(), c.n_vocab);
            // Realistic scales: finite logits with a spread like the fixtures' (std ~1.6).
            double sum = 0, sum2 = 0;
            for (float x : r.logits) {
                ASSERT_TRUE(std::isfinite(x));
                sum += x;
                sum2 += (double)x * x;
            }
            const double mean = sum / (double)r.logits.size();
            const double sd = std::sqrt(sum2 / (double)r.logits.size() - mean * mean);
            EXPECT_GT(sd, 0.3) << preset << " " << type;
            EXPECT_LT(sd, 10.0) << preset << " " << type;

            // The built-in vocab: n_vocab tokens, the R1 specials at their ids, BOS/EOS set.
            const GgufFile& f = r.model->file();
            auto toks = f.get_string_array("tokenizer.ggml.tokens");
            ASSERT_TRUE(toks.ok() && toks.value().has_value());
            EXPECT_EQ((int64_t)toks.value()->size(), plan.preset->n_vocab);
            for (const auto& s : plan.preset->specials) EXPECT_EQ((*toks.value())[(size_t)s.id], s.text);
            EXPECT_EQ(*f.get_uint("tokenizer.ggml.bos_token_id").value(), (uint64_t)plan.preset->bos_id);
            auto merges = f.get_string_array("tokenizer.ggml.merges");
            ASSERT_TRUE(merges.ok() && merges.value().has_value());
            EXPECT_FALSE(merges.value()->empty());
            std::remove(path.c_str());
        }
}

// Values depend on (seed, tensor, row) only: 1 thread and 3 threads, small and large chunks
// give the same bytes; the bytes are the generated floats quantized; another seed differs.
TEST(SynthFile, DeterministicAcrossThreadsAndChunks) {
    const SynthPlan plan = plan_synth(*find_synth_preset("tiny-qwen2"), *find_synth_file_type("Q4_K_M"));
    auto a = SynthWriter::create(plan, {.seed = 3, .n_threads = 1, .chunk_bytes = 1000});
    auto b = SynthWriter::create(plan, {.seed = 3, .n_threads = 3});
    auto c = SynthWriter::create(plan, {.seed = 4, .n_threads = 2});
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    const std::string pa = temp_path("det_a.gguf"), pb = temp_path("det_b.gguf"), pc = temp_path("det_c.gguf");
    ASSERT_TRUE(a.value()->write_file(pa).ok());
    ASSERT_TRUE(b.value()->write_file(pb).ok());
    ASSERT_TRUE(c.value()->write_file(pc).ok());
    auto read = [](const std::string& p) {
        std::ifstream in(p, std::ios::binary);
        return std::vector<char>(std::istreambuf_iterator<char>(in), {});
    };
    EXPECT_EQ(read(pa), read(pb));
    EXPECT_NE(read(pa), read(pc));

    auto f = open_or_fail(pa);
    ASSERT_TRUE(f);
    for (size_t i = 0; i < plan.tensors.size(); ++i) {
        const SynthTensor& t = plan.tensors[i];
        const GgufTensorInfo* info = f->find_tensor(t.name);
        ASSERT_NE(info, nullptr);
        ASSERT_EQ(info->ggml_type, (uint32_t)t.type);
        int64_t rows = info->n_elements() / t.ne[0];
        std::vector<float> x((size_t)(rows * t.ne[0]));
        a.value()->generate_rows(i, 0, rows, x.data());
        std::vector<uint8_t> q(info->size_bytes);
        const size_t rb = row_bytes(traits(t.type), t.ne[0]);
        for (int64_t r = 0; r < rows; ++r) traits(t.type).quantize_row(x.data() + r * t.ne[0], q.data() + r * rb, t.ne[0]);
        EXPECT_EQ(0, std::memcmp(q.data(), info->data, q.size())) << t.name;
        // The scales are those of the plan: sample std within 10% of sigma (or 1 + ... for norms).
        if (t.init == SynthInit::kGaussian && x.size() >= 4096) {
            double s2 = 0;
            for (float v : x) s2 += (double)v * v;
            EXPECT_NEAR(std::sqrt(s2 / (double)x.size()), t.sigma, 0.1 * t.sigma) << t.name;
        }
    }
    for (const auto& p : {pa, pb, pc}) std::remove(p.c_str());
}

// --vocab: tokenizer.* keys are copied; a shorter token list is padded with [PADn] (UNUSED)
// up to the embedding rows, as the converter does for Qwen 7B-32B; a longer one is refused.
TEST(SynthFile, VocabIsCopiedAndPadded) {
    GgufWriter v;
    v.set_string("general.architecture", "qwen2");
    std::vector<std::string> toks;
    for (int i = 0; i < 300; ++i) toks.push_back("tok" + std::to_string(i));
    v.set_string("tokenizer.ggml.model", "gpt2");
    v.set_array_strings("tokenizer.ggml.tokens", std::span<const std::string>(toks));
    v.set_array("tokenizer.ggml.token_type", std::vector<int32_t>(300, 1));
    v.set_array_strings("tokenizer.ggml.merges", std::span<const std::string>(toks.data(), 2));
    v.set_u32("tokenizer.ggml.bos_token_id", 7);
    auto buf = v.write_buffer();
    ASSERT_TRUE(buf.ok());
    auto vocab = GgufFile::parse("vocab", buf.value().data(), buf.value().size());
    ASSERT_TRUE(vocab.ok());

    const SynthPlan plan = plan_synth(*find_synth_preset("tiny-qwen2"), *find_synth_file_type("Q8_0"));
    auto w = SynthWriter::create(plan, {.seed = 1, .vocab = vocab.value().get(), .n_threads = 1});
    ASSERT_TRUE(w.ok()) << w.error().message;
    const std::string path = temp_path("vocab.gguf");
    ASSERT_TRUE(w.value()->write_file(path).ok());
    auto f = open_or_fail(path);
    ASSERT_TRUE(f);
    auto t = f->get_string_array("tokenizer.ggml.tokens");
    auto tt = f->get_int_array("tokenizer.ggml.token_type");
    ASSERT_TRUE(t.ok() && t.value().has_value() && tt.ok() && tt.value().has_value());
    ASSERT_EQ(t.value()->size(), 384u);
    EXPECT_EQ((*t.value())[299], "tok299");
    EXPECT_EQ((*t.value())[383], "[PAD383]");
    EXPECT_EQ((*tt.value())[383], 5);
    EXPECT_EQ(*f->get_uint("tokenizer.ggml.bos_token_id").value(), 7u);
    EXPECT_TRUE(Model::load(path).ok());
    std::remove(path.c_str());

    // The real Qwen vocab (151936 tokens) does not fit the tiny preset's 384 rows.
    auto qwen = open_or_fail(kData + "/vocab/ggml-vocab-r1-distill-qwen.gguf");
    ASSERT_TRUE(qwen);
    auto bad = SynthWriter::create(plan, {.vocab = qwen.get()});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("151936"), std::string::npos) << bad.error().message;
}

TEST(SynthFile, UnwritablePathIsAnError) {
    const SynthPlan plan = plan_synth(*find_synth_preset("tiny-llama"), *find_synth_file_type("Q4_0"));
    auto w = SynthWriter::create(plan, {.n_threads = 1});
    ASSERT_TRUE(w.ok());
    Status st = w.value()->write_file("/nonexistent-dir/sub/x.gguf");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().kind, ErrorKind::kIo);
    EXPECT_NE(st.error().message.find("/nonexistent-dir/sub/x.gguf"), std::string::npos);
}

}  // namespace
}  // namespace retort
