// The retort binary end to end: outputs on the fixtures, the JSON formats, and that bad input
// gets a one-line error and exit 2 (never a crash).
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "support/test_files.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <set>
#include <sys/wait.h>

namespace retort {
namespace {

const std::string kBin = RETORT_BINARY;

struct Output {
    int rc = -1;
    std::string out;  // stdout
    std::string err;  // stderr
};

// Runs `retort ARGS` through the shell, capturing stdout and stderr separately.
Output retort(const std::string& args, const std::string& stdin_text = "") {
    const std::string dir = ::testing::TempDir();
    const std::string out = dir + "/cli_out", err = dir + "/cli_err", in = dir + "/cli_in";
    std::ofstream(in, std::ios::binary) << stdin_text;
    const std::string cmd = kBin + " " + args + " <" + in + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    Output r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::ifstream o(out, std::ios::binary), e(err, std::ios::binary);
    r.out.assign(std::istreambuf_iterator<char>(o), {});
    r.err.assign(std::istreambuf_iterator<char>(e), {});
    return r;
}

std::string ids_csv(const std::vector<int>& ids) {
    std::string s;
    for (int id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
    return s;
}

TEST(Cli, RunEmbeddedModelGreedyMatchesLlamaCpp) {
    const auto ref = read_json_file(kData + "/stories260K/reference.json");
    for (const auto& p : ref["prompts"]) {
        const std::string text = p["text"];
        if (text.empty()) continue;
        Output r = retort("run -p '" + text + "' -n 64 --temp 0 --ignore-eos --no-echo -t 2");
        ASSERT_EQ(r.rc, 0) << r.err;
        // run prints the generated text and a final newline.
        EXPECT_EQ(r.out, p["greedy_text"].get<std::string>() + "\n") << text;
        EXPECT_NE(r.err.find("tok/s"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("peak memory"), std::string::npos) << r.err;
    }
}

TEST(Cli, SameSeedSameOutput) {
    Output a = retort("run -p 'Once upon a time' -n 40 --temp 1.0 --seed 42");
    Output b = retort("run -p 'Once upon a time' -n 40 --temp 1.0 --seed 42");
    Output c = retort("run -p 'Once upon a time' -n 40 --temp 1.0 --seed 43");
    ASSERT_EQ(a.rc, 0) << a.err;
    EXPECT_EQ(a.out, b.out);
    EXPECT_NE(a.out, c.out);
}

TEST(Cli, StopStringEndsGeneration) {
    Output r = retort("run -p 'Once upon a time' -n 64 --temp 0 --no-echo --stop Lily");
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, ", there was a little girl named \n");
    EXPECT_NE(r.err.find("stop string"), std::string::npos);
}

TEST(Cli, TokenizeMatchesReference) {
    const auto ref = read_json_file(kData + "/stories260K/reference.json");
    for (const auto& p : ref["prompts"]) {
        const std::string text = p["text"];
        Output r = retort("tokenize -f -", text);
        ASSERT_EQ(r.rc, 0) << r.err;
        EXPECT_EQ(nlohmann::json::parse(r.out), p["ids_with_bos"]) << text;
        Output nb = retort("tokenize --no-bos -f -", text);
        EXPECT_EQ(nlohmann::json::parse(nb.out), p["ids_no_bos"]) << text;
    }
    // Vocab-only files work too.
    Output v = retort("tokenize -m " + kData + "/vocab/ggml-vocab-r1-distill-qwen.gguf 'Hello world'");
    ASSERT_EQ(v.rc, 0) << v.err;
    EXPECT_EQ(nlohmann::json::parse(v.out), nlohmann::json({151646, 9707, 1879}));
}

// The R1 tokenizer vectors through `retort tokenize -f -` (the library tests cover all 856;
// here the first vector of every category x add_bos x parse_special group of each vocab, so
// the CLI's flag mapping and byte-exact stdin reading are proven on every kind of text).
TEST(Cli, TokenizeR1VectorsThroughStdin) {
    int checked = 0;
    for (const std::string family : {"qwen", "llama"}) {
        std::ifstream in(kData + "/vocab/r1-distill-" + family + ".jsonl");
        std::set<std::string> seen;
        for (std::string line; std::getline(in, line);) {
            const auto v = nlohmann::json::parse(line);
            const bool bos = v["add_bos"], special = v["parse_special"];
            const std::string group = v["category"].get<std::string>() + (bos ? "+bos" : "") + (special ? "+special" : "");
            if (!seen.insert(group).second) continue;
            const std::string args = "tokenize -m " + kData + "/vocab/ggml-vocab-r1-distill-" + family + ".gguf" +
                                     (bos ? "" : " --no-bos") + (special ? " --special" : "") + " -f -";
            Output r = retort(args, v["text"].get<std::string>());
            ASSERT_EQ(r.rc, 0) << r.err;
            EXPECT_EQ(nlohmann::json::parse(r.out), v["ids"]) << family << " " << group << ": " << v["text"];
            ++checked;
        }
    }
    EXPECT_GE(checked, 50);
    std::printf("R1 tokenizer vectors checked through the CLI: %d\n", checked);
}

TEST(Cli, DetokenizeRoundTrip) {
    Output r = retort("detokenize 403 407 261 378");
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, "Once upon a time\n");  // the SentencePiece word-initial space is dropped
}

TEST(Cli, LogitsJsonMatchesReference) {
    const auto ref = read_json_file(kData + "/tiny/tiny-qwen2-F32.reference.json");
    const auto& seq = ref["sequences"][0];
    const std::vector<int> ids = seq["ids"];
    Output r = retort("logits -m " + kData + "/tiny/tiny-qwen2-F32.gguf --kv-type f32 --top 10 --full-last --ids " + ids_csv(ids));
    ASSERT_EQ(r.rc, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["positions"].size(), ids.size());
    for (size_t p = 0; p < ids.size(); ++p) {
        EXPECT_EQ(j["positions"][p]["pos"], p);
        const auto& top = j["positions"][p]["top"];
        ASSERT_EQ(top.size(), 10u);
        EXPECT_EQ(top[0][0], seq["top10"][p][0][0]);
        EXPECT_NEAR(top[0][1].get<double>(), seq["top10"][p][0][1].get<double>(), 1e-3);
    }
    ASSERT_EQ(j["last_logits"].size(), seq["last_logits"].size());
    for (size_t i = 0; i < seq["last_logits"].size(); ++i)
        EXPECT_NEAR(j["last_logits"][i].get<double>(), seq["last_logits"][i].get<double>(), 1e-3);
}

TEST(Cli, InfoDescribesModelsAndMemory) {
    Output r = retort("info -m " + kData + "/tiny/tiny-llama-Q4_K_M.gguf --ctx 4096");
    ASSERT_EQ(r.rc, 0) << r.err;
    for (const char* s : {"llama", "Q4_K", "Q6_K", "rope_freqs", "memory at --ctx 4096", "chat template"})
        EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
    Output v = retort("info -m " + kData + "/vocab/ggml-vocab-r1-distill-llama.gguf");
    ASSERT_EQ(v.rc, 0) << v.err;
    EXPECT_NE(v.out.find("present"), std::string::npos);  // the R1 chat template
    EXPECT_NE(v.out.find("vocab-only"), std::string::npos);
}

// bench --json: the documented shape, one result per test (pp, tg, tg at depth by both fills,
// tg with parallel sequences whose context is not a multiple of the KV block), finite rates.
TEST(Cli, BenchJsonHasEveryTest) {
    for (const char* fill : {"compute", "random"}) {
        Output r = retort(std::string("bench -m ") + kData + "/tiny/tiny-qwen2-Q4_K_M.gguf -p 8 -n 4 -t 1 -r 1 " +
                          "-d 0,40 --parallel 1,3 --json --depth-fill " + fill);
        ASSERT_EQ(r.rc, 0) << r.err;
        const auto j = nlohmann::json::parse(r.out);
        std::vector<std::string> tests;
        for (const auto& t : j["results"]) {
            tests.push_back(t["test"].get<std::string>());
            EXPECT_EQ(t["reps"], 1);
            const double mean = t["tokens_per_s"]["mean"].get<double>();
            EXPECT_TRUE(mean > 0 && std::isfinite(mean)) << t.dump();
        }
        EXPECT_EQ(tests, (std::vector<std::string>{"pp8", "tg4", "tg4x3", "tg4@d40", "tg4@d40x3"})) << r.out;
        EXPECT_GT(j["peak_rss_bytes"].get<double>(), 0);
    }
    Output bad = retort("bench -n 4 --depth-fill zeros");
    EXPECT_EQ(bad.rc, 2);
}

// bench --interleave-bw: every tg result also has the probes' bandwidth and its roofline
// fraction, the pp results do not; a negative duration is a usage error.
TEST(Cli, BenchInterleavedProbeAddsSustainedFractions) {
    Output r = retort("bench -m " + kData + "/tiny/tiny-qwen2-Q4_K_M.gguf -p 8 -n 4 -t 2 -r 2 --interleave-bw 0.01 --json");
    ASSERT_EQ(r.rc, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["results"].size(), 2u) << r.out;
    for (const auto& t : j["results"]) {
        const bool tg = t["test"] == "tg4";
        EXPECT_EQ(t.contains("sustained_roofline_fraction"), tg) << t.dump();
        if (!tg) continue;
        const double gbs = t["sustained_read_gb_per_s"].get<double>(), f = t["sustained_roofline_fraction"].get<double>();
        EXPECT_TRUE(gbs > 0.1 && std::isfinite(gbs)) << t.dump();
        EXPECT_TRUE(f > 0 && std::isfinite(f)) << t.dump();
    }
    Output text = retort("bench -m " + kData + "/tiny/tiny-qwen2-Q4_K_M.gguf -p 8 -n 4 -t 1 -r 1 --interleave-bw 0.01");
    ASSERT_EQ(text.rc, 0) << text.err;
    EXPECT_NE(text.out.find("of sustained"), std::string::npos) << text.out;
    EXPECT_EQ(retort("bench -n 4 --interleave-bw -1").rc, 2);
}

// Bad input: one line of error (plus the usage hint), exit 2, never a signal.
TEST(Cli, BadInputIsAUsageError) {
    const std::string tiny = kData + "/tiny/tiny-qwen2-Q4_0.gguf";
    const std::string garbage = ::testing::TempDir() + "/garbage.gguf";
    std::ofstream(garbage, std::ios::binary) << "GGUF\x03\x00\x00\x00garbage";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"run --no-such-flag", ""},
        {"run -m /no/such/file.gguf -p hi", "cannot open"},
        {"run -m " + garbage + " -p hi", "garbage.gguf"},
        {"run -m " + kData + "/vocab/ggml-vocab-r1-distill-qwen.gguf -p hi", "no tensors"},
        {"run --temp -1 -p hi", "temperature"},
        {"run --ctx 0 -p hi", ""},
        {"run -p hi -f /no/such/prompt.txt", ""},
        {"run --ctx 8 -p 'Once upon a time there was a little girl named Lily who loved to play'", "context"},
        {"logits -m " + tiny + " --ids 1,x,3", "'x' is not a token id"},
        {"logits -m " + tiny + " --ids 1,99999", "outside the vocabulary"},
        {"detokenize 99999", "outside the vocabulary"},
        {"tokenize", "exactly one of"},
        {"frobnicate", ""},
        {"bench -t 0", ""},
    };
    for (const auto& [args, needle] : cases) {
        Output r = retort(args);
        EXPECT_EQ(r.rc, 2) << args << "\n" << r.err;
        EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
    }
}

// A file with a type we do not run (IQ4_NL) is refused up front, naming the tensor and type.
TEST(Cli, UnsupportedTensorTypeIsRefusedByName) {
    auto src = GgufFile::open(kData + "/tiny/tiny-qwen2-Q4_0.gguf");
    ASSERT_TRUE(src.ok());
    GgufWriter w;
    w.copy_kvs(*src.value(), "");
    for (const auto& t : src.value()->tensors()) {
        const bool swap = t.name == "blk.0.attn_q.weight";  // Q4_0 and IQ4_NL share the block size
        Status st = w.add_tensor(t.name, swap ? 20u : t.ggml_type, t.ne, t.data, t.size_bytes);
        ASSERT_TRUE(st.ok()) << st.error().message;
    }
    const std::string path = ::testing::TempDir() + "/iq.gguf";
    ASSERT_TRUE(w.write_file(path).ok());
    Output r = retort("run -m " + path + " -p hi");
    EXPECT_EQ(r.rc, 2);
    EXPECT_NE(r.err.find("blk.0.attn_q.weight"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("IQ4_NL"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace retort
