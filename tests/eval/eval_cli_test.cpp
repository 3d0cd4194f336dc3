// `retort eval` end to end through the binary (RETORT_BINARY) on the tiny R1-vocab fixture:
// every suite in-process (batched on the runtime worker), through `retort serve` as an
// endpoint (greedy outputs match the in-process ones), --resume after a cut-off, --samples,
// and the bad-input cases (one line, exit 2). The model is random, so accuracy is whatever it
// is: the checks are structure, counts and token figures. Skipped when the binary is not built.
// GCC 12 reports std::regex internals (serve_process.h uses one) as maybe-uninitialized under
// the sanitizers with -Werror: a false positive in libstdc++, as for -Wrestrict (CMakeLists.txt).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "eval/answer_extract.h"
#include "eval/jsonl.h"
#include "eval/text.h"
#include "eval_test_util.h"
#include "server/serve_process.h"
#include "support/test_files.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <map>
#include <set>

namespace retort::eval {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using testing::Cmd;
using testing::run;

const char* kAllSuites[] = {"gsm8k", "math500", "cmath", "aime2024", "humaneval", "mbpp", "humanevalfix"};

std::vector<json> read_lines(const std::string& path) {
    std::vector<json> out;
    auto rows = read_jsonl(path);
    EXPECT_TRUE(rows.ok()) << path;
    if (rows.ok())
        for (auto& r : *rows) out.push_back(std::move(r.value));
    return out;
}

json read_json(const std::string& path) {
    auto text = read_text_file(path);
    EXPECT_TRUE(text.ok()) << path;
    return text.ok() ? json::parse(*text) : json();
}

// The checks every run directory must pass: n items, the documented fields, token counts.
void check_run(const std::string& dir, const std::string& suite, size_t n, int max_tokens, bool in_process) {
    SCOPED_TRACE(dir);
    const auto items = read_lines(dir + "/items.jsonl");
    ASSERT_EQ(items.size(), n);
    for (const auto& it : items) {
        for (const char* k : {"id", "prompt", "output", "extracted", "correct", "reasoning_tokens", "answer_tokens",
                              "latency_ms", "ttft_ms", "truncated", "method"})
            EXPECT_TRUE(it.contains(k)) << k;
        EXPECT_FALSE(it["prompt"].get<std::string>().empty());
        const double r = it["reasoning_tokens"].get<double>(), a = it["answer_tokens"].get<double>();
        EXPECT_GT(r + a, 0);
        EXPECT_LE(r + a, max_tokens + 1);  // + an end-of-generation token
        EXPECT_GT(it["latency_ms"].get<double>(), 0);
        EXPECT_TRUE(it["correct"].is_boolean());
    }
    const json s = read_json(dir + "/summary.json");
    EXPECT_EQ(s["schema"], "retort.eval.summary/1");
    EXPECT_EQ(s["suite"], suite);
    EXPECT_EQ(s["source"], "eval");
    EXPECT_EQ(s["n"], n);
    EXPECT_EQ(s["n_samples"], n);
    EXPECT_GT(s["n_dataset"].get<size_t>(), n);
    EXPECT_LE(s["correct"].get<size_t>(), n);
    EXPECT_TRUE(s["accuracy"].is_number());
    EXPECT_TRUE(s["ci95"]["low"].is_number());
    EXPECT_TRUE(s["ci95"]["high"].is_number());
    EXPECT_EQ(s["generation"]["max_tokens"], max_tokens);
    EXPECT_TRUE(s["perf"]["mean_reasoning_tokens"].is_number());
    EXPECT_TRUE(s["perf"]["mean_answer_tokens"].is_number());
    EXPECT_GT(s["perf"]["ms_per_token"].get<double>(), 0);
    EXPECT_GT(s["perf"]["tokens_per_s"].get<double>(), 0);
    EXPECT_TRUE(s["perf"]["mean_ttft_ms"].is_number());
    EXPECT_EQ(s["eval"]["generated"], n);
    EXPECT_GT(s["eval"]["tokens_per_s"].get<double>(), 0);
    EXPECT_EQ(s["eval"]["backend"], in_process ? "engine" : "endpoint");
    if (in_process) {
        EXPECT_EQ(s["model"]["name"], "tiny-qwen2-F32");
        EXPECT_EQ(s["model"]["file"], kTinyQwen2);
        EXPECT_EQ(s["model"]["size_bytes"], fs::file_size(kTinyQwen2));
        EXPECT_TRUE(s["model"]["quant"].is_string());
        EXPECT_GT(s["perf"]["peak_memory_bytes"].get<uint64_t>(), 0u);
        EXPECT_GT(s["hardware"]["threads"].get<int>(), 0);
        EXPECT_TRUE(s["hardware"]["cpu"].is_string());
    } else {
        EXPECT_TRUE(s["perf"]["peak_memory_bytes"].is_null());
        EXPECT_TRUE(s["model"]["file"].get<std::string>().starts_with("http://127.0.0.1:"));
    }
    EXPECT_EQ(read_lines(dir + "/outputs.jsonl").size(), n);
}

class EvalCli : public ::testing::Test {
protected:
    void SetUp() override {
        if (access(RETORT_BINARY, X_OK) != 0) GTEST_SKIP() << "retort binary not built: " << RETORT_BINARY;
        dir_ = fs::temp_directory_path() / ("retort-eval-cli-" + std::to_string(getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        if (!dir_.empty()) fs::remove_all(dir_);
    }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    fs::path dir_;
};

TEST_F(EvalCli, EverySuiteInProcessWithReasoningBudget) {
    // A budget of 6 forces </think> early, so the answers are graded (the code ones in the sandbox).
    std::string suites;
    for (const char* s : kAllSuites) suites += std::string(suites.empty() ? "" : ",") + s;
    const Cmd c = run("eval --suite " + suites + " -m " + kTinyQwen2 +
                      " --limit 2 --max-tokens 16 --reasoning-budget 6 --parallel 4 --out " + path("all"));
    ASSERT_EQ(c.rc, 0) << c.out;
    for (const char* s : kAllSuites) {
        check_run(path("all") + "/" + s, s, 2, 16, true);
        for (const auto& o : read_lines(path("all") + "/" + s + "/outputs.jsonl")) {
            // Closed by the model or the budget, unless it stopped (end of generation) first.
            if (o["finish_reason"] != "stop") {
                EXPECT_NE(o["output"].get<std::string>().find("</think>"), std::string::npos) << o["output"];
            }
            EXPECT_LE(o["reasoning_tokens"].get<double>(), 6 + 8);  // the budget + the forced tag
        }
        EXPECT_EQ(read_json(path("all") + "/" + s + "/summary.json")["generation"]["reasoning_budget"], 6);
        EXPECT_NE(c.out.find(std::string(s) + ": generated 2 outputs (0 resumed)"), std::string::npos) << c.out;
    }
}

// Reasoning and answer, whitespace at the edges dropped: an endpoint trims around </think>
// (OpenAI's reasoning_content), the raw in-process output does not.
std::pair<std::string, std::string> parts(const std::string& output) {
    std::string_view s = output;
    if (s.starts_with("<think>")) s.remove_prefix(7);
    const size_t k = s.rfind("</think>");
    if (k == std::string_view::npos) return {std::string(trim(s)), ""};
    return {std::string(trim(s.substr(0, k))), std::string(trim(s.substr(k + 8)))};
}

TEST_F(EvalCli, EndpointMatchesInProcessWhenGreedy) {
    test::ServeProcess serve({"-m", kTinyQwen2, "--parallel", "4"});
    ASSERT_GT(serve.port(), 0);
    ASSERT_TRUE(serve.wait_ready());
    const std::string url = "http://127.0.0.1:" + std::to_string(serve.port());
    const std::string common = " --suite gsm8k,humaneval --limit 3 --max-tokens 16 --temp 0 --seed 7 --parallel 3";
    const Cmd remote = run("eval --endpoint " + url + common + " --out " + path("remote"));
    ASSERT_EQ(remote.rc, 0) << remote.out;
    const Cmd local = run("eval -m " + kTinyQwen2 + common + " --out " + path("local"));
    ASSERT_EQ(local.rc, 0) << local.out;
    for (const char* s : {"gsm8k", "humaneval"}) {
        check_run(path("remote") + "/" + s, s, 3, 16, false);
        check_run(path("local") + "/" + s, s, 3, 16, true);
        const json rs = read_json(path("remote") + "/" + s + "/summary.json");
        EXPECT_EQ(rs["model"]["name"], "tiny-qwen2-F32");  // the server's alias, from /v1/models
        const auto a = read_lines(path("remote") + "/" + s + "/items.jsonl");
        const auto b = read_lines(path("local") + "/" + s + "/items.jsonl");
        ASSERT_EQ(a.size(), b.size());
        for (size_t i = 0; i < a.size(); ++i) {
            SCOPED_TRACE(a[i]["id"].dump());
            EXPECT_EQ(a[i]["id"], b[i]["id"]);
            EXPECT_EQ(parts(a[i]["output"]), parts(b[i]["output"]));
            EXPECT_EQ(a[i]["reasoning_tokens"], b[i]["reasoning_tokens"]);
            EXPECT_EQ(a[i]["answer_tokens"], b[i]["answer_tokens"]);
            EXPECT_EQ(a[i]["correct"], b[i]["correct"]);
            EXPECT_TRUE(a[i]["ttft_ms"].is_number());
        }
    }
}

TEST_F(EvalCli, ResumeGeneratesOnlyWhatIsMissing) {
    const std::string out = path("resume");
    const std::string args = "eval --suite gsm8k -m " + kTinyQwen2 + " --limit 3 --max-tokens 8 --out " + out;
    Cmd c = run(args);
    ASSERT_EQ(c.rc, 0) << c.out;
    const auto first = read_lines(out + "/outputs.jsonl");
    ASSERT_EQ(first.size(), 3u);
    // Keep one complete line and half of the next, as a kill in mid-write leaves it.
    auto text = read_text_file(out + "/outputs.jsonl");
    ASSERT_TRUE(text.ok());
    const size_t nl = text->find('\n');
    ASSERT_TRUE(write_text_file(out + "/outputs.jsonl", text->substr(0, nl + 1) + text->substr(nl + 1, 20)).ok());

    c = run(args);  // without --resume the existing outputs are not overwritten
    EXPECT_EQ(c.rc, 2) << c.out;
    EXPECT_NE(c.out.find("pass --resume"), std::string::npos) << c.out;

    c = run(args + " --resume");
    ASSERT_EQ(c.rc, 0) << c.out;
    EXPECT_NE(c.out.find("dropped 1 cut-off line"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("gsm8k: generated 2 outputs (1 resumed)"), std::string::npos) << c.out;
    const auto after = read_lines(out + "/outputs.jsonl");
    ASSERT_EQ(after.size(), 3u);
    EXPECT_EQ(after[0], first[0]);  // the kept line is untouched (same latency, same text)
    std::map<std::string, int> ids;
    for (const auto& o : after) ++ids[o["id"].get<std::string>()];
    EXPECT_EQ(ids, (std::map<std::string, int>{{"0", 1}, {"1", 1}, {"2", 1}}));
    const json s = read_json(out + "/summary.json");
    EXPECT_EQ(s["n"], 3);
    EXPECT_EQ(s["eval"]["generated"], 2);
    EXPECT_EQ(s["eval"]["resumed"], 1);

    c = run(args + " --resume");  // nothing left to do: grades again, generates nothing
    ASSERT_EQ(c.rc, 0) << c.out;
    EXPECT_NE(c.out.find("gsm8k: generated 0 outputs (3 resumed)"), std::string::npos) << c.out;
}

TEST_F(EvalCli, ResumeRefusesOtherGenerationSettings) {
    const std::string out = path("resume-settings");
    const std::string args = "eval --suite gsm8k -m " + kTinyQwen2 + " --max-tokens 8 --temp 0 --out " + out;
    Cmd c = run(args + " --limit 1");
    ASSERT_EQ(c.rc, 0) << c.out;
    const json settings = read_json(out + "/run.json");
    EXPECT_EQ(settings["max_tokens"], 8);
    EXPECT_EQ(settings["temperature"], 0.0);

    c = run("eval --suite gsm8k -m " + kTinyQwen2 + " --limit 1 --max-tokens 16 --temp 0.5 --out " + out + " --resume");
    EXPECT_EQ(c.rc, 2) << c.out;
    EXPECT_NE(c.out.find("generated with other settings"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("max_tokens: first run 8, now 16"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("temperature: first run 0.0, now 0.5"), std::string::npos) << c.out;
    EXPECT_EQ(read_lines(out + "/outputs.jsonl").size(), 1u);  // untouched

    c = run(args + " --limit 2 --resume");  // the same settings may ask for more items
    ASSERT_EQ(c.rc, 0) << c.out;
    EXPECT_NE(c.out.find("gsm8k: generated 1 outputs (1 resumed)"), std::string::npos) << c.out;
}

TEST_F(EvalCli, CtrlCFinishesTheAnswersInFlightAndResumeCompletes) {
    const std::string out = path("interrupted");
    const std::string outputs = out + "/outputs.jsonl";
    const std::string err_path = path("interrupted.stderr");
    const std::vector<std::string> args = {RETORT_BINARY, "eval",         "--suite", "gsm8k", "-m",  kTinyQwen2,
                                           "--limit",     "30",           "--max-tokens", "16", "--parallel", "2",
                                           "--out",       out};
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        const int fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, STDERR_FILENO);
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    // Ctrl-C once the first answer is on disk.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
        auto text = read_text_file(outputs);
        if (text.ok() && text->find('\n') != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(pid, SIGINT);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    auto err_text = read_text_file(err_path);
    const std::string err = err_text.ok() ? *err_text : std::string();
    ASSERT_TRUE(WIFEXITED(status)) << err;
    EXPECT_EQ(WEXITSTATUS(status), 130) << err;
    EXPECT_NE(err.find("interrupted: finishing the answers in flight"), std::string::npos) << err;
    EXPECT_NE(err.find("rerun with --resume"), std::string::npos) << err;
    const auto kept = read_lines(outputs);  // every line whole: nothing cut off mid-answer
    EXPECT_GE(kept.size(), 1u);
    EXPECT_LT(kept.size(), 30u);
    EXPECT_FALSE(std::filesystem::exists(out + "/summary.json"));  // an interrupted run is not graded

    const std::string rest = "eval --suite gsm8k -m " + kTinyQwen2 + " --limit 30 --max-tokens 16 --parallel 2 --out " + out;
    Cmd c = run(rest + " --resume");
    ASSERT_EQ(c.rc, 0) << c.out;
    const std::string expect = "generated " + std::to_string(30 - kept.size()) + " outputs (" +
                               std::to_string(kept.size()) + " resumed)";
    EXPECT_NE(c.out.find(expect), std::string::npos) << c.out;
    EXPECT_EQ(read_lines(outputs).size(), 30u);
}

TEST_F(EvalCli, FailingEndpointStopsAndResumeFinishes) {
    // A stand-in endpoint: two good answers, then HTTP 500 until `healed`.
    std::atomic<int> calls{0};
    std::atomic<bool> healed{false};
    httplib::Server svr;
    svr.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(R"({"object":"list","data":[{"id":"stand-in","object":"model"}]})", "application/json");
    });
    svr.Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
        if (calls.fetch_add(1) >= 2 && !healed.load()) {
            res.status = 500;
            res.set_content(R"({"error":{"message":"overloaded"}})", "application/json");
            return;
        }
        res.set_content(R"({"choices":[{"message":{"role":"assistant","reasoning_content":"so",)"
                        R"("content":"\\boxed{18}"},"finish_reason":"stop"}],)"
                        R"("usage":{"completion_tokens":5,"completion_tokens_details":{"reasoning_tokens":2}}})",
                        "application/json");
    });
    const int port = svr.bind_to_any_port("127.0.0.1");
    std::thread listener([&] { svr.listen_after_bind(); });
    while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const std::string args = "eval --suite gsm8k --limit 4 --parallel 1 --retries 1 --endpoint http://127.0.0.1:" +
                             std::to_string(port) + " --out " + path("flaky");
    Cmd c = run(args);
    EXPECT_EQ(c.rc, 1) << c.out;
    EXPECT_NE(c.out.find("HTTP 500: overloaded (gave up after 2 attempts)"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("rerun with --resume"), std::string::npos) << c.out;
    EXPECT_EQ(read_lines(path("flaky") + "/outputs.jsonl").size(), 2u);
    healed = true;
    c = run(args + " --resume");
    EXPECT_EQ(c.rc, 0) << c.out;
    EXPECT_NE(c.out.find("gsm8k: generated 2 outputs (2 resumed)"), std::string::npos) << c.out;
    const json s = read_json(path("flaky") + "/summary.json");
    EXPECT_EQ(s["n"], 4);
    EXPECT_EQ(s["model"]["name"], "stand-in");
    EXPECT_EQ(s["perf"]["mean_reasoning_tokens"], 2.0);
    EXPECT_EQ(s["perf"]["mean_answer_tokens"], 3.0);
    const auto items = read_lines(path("flaky") + "/items.jsonl");
    ASSERT_EQ(items.size(), 4u);
    EXPECT_EQ(items[0]["output"], "<think>\nso\n</think>\n\n\\boxed{18}");
    EXPECT_EQ(items[0]["correct"], true);  // gsm8k item 0 is 18
    svr.stop();
    listener.join();
}

TEST_F(EvalCli, SamplesGivePassAtK) {
    const std::string out = path("samples");
    const Cmd c = run("eval --suite aime2024 -m " + kTinyQwen2 + " --limit 2 --samples 2 --max-tokens 8 --out " + out);
    ASSERT_EQ(c.rc, 0) << c.out;
    const json s = read_json(out + "/summary.json");
    EXPECT_EQ(s["n"], 2);
    EXPECT_EQ(s["n_samples"], 4);
    EXPECT_EQ(s["samples_per_item"], 2);
    EXPECT_TRUE(s["pass_at_k"].contains("2"));
    const auto outs = read_lines(out + "/outputs.jsonl");
    ASSERT_EQ(outs.size(), 4u);
    std::map<std::string, std::set<uint64_t>> seeds;  // each sample its own seed
    for (const auto& o : outs) seeds[o["id"].get<std::string>()].insert(o["seed"].get<uint64_t>());
    for (const auto& [id, set] : seeds) EXPECT_EQ(set.size(), 2u) << id;
}

TEST_F(EvalCli, DefaultModelAndPromptsOverTheContext) {
    // No -m: the embedded stories260K (a 128-token context). Prompts that do not fit get no
    // answer (graded as cut off) and the run goes on; --ctx makes room.
    Cmd c = run("eval --suite gsm8k --limit 2 --max-tokens 8 --parallel 2 --out " + path("small"));
    ASSERT_EQ(c.rc, 0) << c.out;
    EXPECT_NE(c.out.find("2 prompt(s) did not fit the context of 128 tokens"), std::string::npos) << c.out;
    json s = read_json(path("small") + "/summary.json");
    EXPECT_EQ(s["n"], 2);
    EXPECT_EQ(s["n_truncated"], 2);
    EXPECT_EQ(s["model"]["name"], "stories260K");
    c = run("eval --suite gsm8k --limit 2 --max-tokens 8 --parallel 2 --ctx 1024 --out " + path("big"));
    ASSERT_EQ(c.rc, 0) << c.out;
    EXPECT_EQ(c.out.find("did not fit"), std::string::npos) << c.out;
    s = read_json(path("big") + "/summary.json");
    EXPECT_EQ(s["n"], 2);
    EXPECT_GT(s["perf"]["mean_reasoning_tokens"].get<double>() + s["perf"]["mean_answer_tokens"].get<double>(), 0);
}

TEST_F(EvalCli, BadInputIsOneLineAndExit2) {
    const std::string m = " -m " + kTinyQwen2;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"eval --suite nosuch" + m, "unknown suite 'nosuch'"},
        {"eval --suite gsm8k -m " + path("missing.gguf"), "missing.gguf"},
        {"eval --suite gsm8k --endpoint localhost:1234", "is not an endpoint URL"},
        {"eval --suite gsm8k --endpoint http://127.0.0.1:1", "cannot reach http://127.0.0.1:1"},
        {"eval --suite gsm8k --endpoint http://127.0.0.1:1" + m, "not both"},
        {"eval --suite gsm8k --api-key k" + m, "--api-key needs --endpoint"},
        {"eval --suite gsm8k --endpoint http://127.0.0.1:1 --reasoning-budget 5", "in-process only"},
        {"eval --suite gsm8k,math500 --data x.jsonl" + m, "one suite only"},
        {"eval --suite gsm8k --data " + path("nope.jsonl") + m, "nope.jsonl"},
        {"eval --suite gsm8k --limit -1" + m, "--limit"},
        {"eval --suite gsm8k --temp -1" + m, "temperature"},
        {"eval --suite gsm8k --resume" + m, "--resume: no runs/"},
        {"eval" + m, "--suite"},
    };
    for (const auto& [args, want] : cases) {
        const Cmd c = run(args);
        EXPECT_EQ(c.rc, 2) << args << "\n" << c.out;
        EXPECT_NE(c.out.find(want), std::string::npos) << args << "\n" << c.out;
        EXPECT_EQ(c.out.find("Segmentation"), std::string::npos);
    }
}

}  // namespace
}  // namespace retort::eval
