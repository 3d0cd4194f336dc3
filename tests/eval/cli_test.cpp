// `retort grade` and `retort report` end to end through the binary (RETORT_BINARY): answers
// in, items.jsonl / summary.json out, then a report over the runs. Skipped when the binary has
// not been built (test_eval does not depend on it: other layers may not link yet).
#include "eval/jsonl.h"
#include "eval_test_util.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

namespace retort::eval {
namespace {

namespace fs = std::filesystem;

using testing::Cmd;
using testing::run;

class Cli : public ::testing::Test {
protected:
    void SetUp() override {
        if (access(RETORT_BINARY, X_OK) != 0) GTEST_SKIP() << "retort binary not built: " << RETORT_BINARY;
        dir_ = fs::temp_directory_path() / ("retort-cli-eval-" + std::to_string(getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        if (!dir_.empty()) fs::remove_all(dir_);
    }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    fs::path dir_;
};

TEST_F(Cli, GradeMathAnswers) {
    const std::string answers = path("answers.jsonl");
    ASSERT_TRUE(write_text_file(answers,
                                "{\"id\": \"0\", \"output\": \"9 eggs * $2 = 18\\n</think>\\n\\n\\\\boxed{18}\"}\n"
                                "{\"id\": 1, \"output\": \"</think>\\n\\nIt takes \\\\boxed{3} bolts.\"}\n"
                                "{\"id\": \"2\", \"output\": \"<think>\\nThe profit is\"}\n")
                    .ok());
    const std::string data = testing::data_dir() + "/gsm8k_test.jsonl";
    const Cmd c = run("grade --suite gsm8k --data " + data + " --answers " + answers + " --out " + path("run"));
    ASSERT_EQ(c.rc, 0) << c.out;
    EXPECT_NE(c.out.find("gsm8k: 2/3 correct, accuracy 0.6667"), std::string::npos) << c.out;
    auto items = read_jsonl(path("run/items.jsonl"));
    ASSERT_TRUE(items.ok());
    ASSERT_EQ(items->size(), 3u);
    EXPECT_EQ((*items)[2].value["truncated"], true);
    EXPECT_EQ((*items)[2].value["correct"], false);
    auto summary = read_text_file(path("run/summary.json"));
    ASSERT_TRUE(summary.ok());
    const auto j = nlohmann::json::parse(*summary);
    EXPECT_EQ(j["n"], 3);
    EXPECT_EQ(j["correct"], 2);
    EXPECT_EQ(j["n_truncated"], 1);
    EXPECT_TRUE(j["perf"]["peak_memory_bytes"].is_null());
}

TEST_F(Cli, GradeCodeReferencesAndReport) {
    // A three-item HumanEval file in the suite's format (--data), graded with its references.
    auto rows = read_jsonl(testing::data_dir() + "/humaneval.jsonl");
    ASSERT_TRUE(rows.ok());
    std::string subset;
    for (size_t i = 0; i < 3; ++i) subset += dump_json((*rows)[i].value) + "\n";
    ASSERT_TRUE(write_text_file(path("he3.jsonl"), subset).ok());
    Cmd c = run("grade --suite humaneval --data " + path("he3.jsonl") + " --reference --model-name canonical --out " +
                path("code"));
    ASSERT_EQ(c.rc, 0) << c.out;
    EXPECT_NE(c.out.find("humaneval: 3/3 correct"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("items/s"), std::string::npos) << c.out;

    c = run("grade --suite aime2024 --reference --out " + path("aime"));  // default data/eval file
    ASSERT_EQ(c.rc, 0) << c.out;
    EXPECT_NE(c.out.find("aime2024: 24/24 correct"), std::string::npos) << c.out;

    c = run("report " + path("code") + " " + path("aime") + " -o " + path("report.html"));
    ASSERT_EQ(c.rc, 0) << c.out;
    auto html = read_text_file(path("report.html"));
    ASSERT_TRUE(html.ok());
    for (const char* id : {"id=\"comparison\"", "id=\"chart-accuracy-memory\"", "id=\"chart-accuracy-latency\"",
                           "id=\"chart-thinking-tokens\"", ">canonical<"})
        EXPECT_NE(html->find(id), std::string::npos) << id;
    c = run("report --markdown " + path("code") + " " + path("aime"));
    ASSERT_EQ(c.rc, 0) << c.out;
    EXPECT_NE(c.out.find("| canonical | — | — |"), std::string::npos) << c.out;
}

TEST_F(Cli, ErrorsAreReported) {
    Cmd c = run("grade --suite nosuch --reference");
    EXPECT_EQ(c.rc, 2);
    EXPECT_NE(c.out.find("unknown suite 'nosuch'"), std::string::npos) << c.out;
    ASSERT_TRUE(write_text_file(path("bad.jsonl"), "{\"id\": \"99999\", \"output\": \"1\"}\n").ok());
    c = run("grade --suite gsm8k --answers " + path("bad.jsonl") + " --out " + path("x"));
    EXPECT_EQ(c.rc, 1);
    EXPECT_NE(c.out.find("'99999' is not in the gsm8k data"), std::string::npos) << c.out;
    c = run("grade --suite gsm8k");
    EXPECT_EQ(c.rc, 2);
    c = run("report " + path("nothing-here") + " -o " + path("r.html"));
    EXPECT_EQ(c.rc, 1);
    EXPECT_NE(c.out.find("run directory"), std::string::npos) << c.out;
}

}  // namespace
}  // namespace retort::eval
