// grade_outputs and the files around it: ANSWERS.jsonl parsing and its errors, samples and
// pass@k, the summary's figures, items.jsonl / summary.json, and the suite table itself.
#include "eval/grader.h"
#include "eval/jsonl.h"
#include "eval_test_util.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

namespace retort::eval {
namespace {

namespace fs = std::filesystem;
using testing::load_suite;

class TempDir {
public:
    TempDir() : path_(fs::temp_directory_path() / ("retort-grader-test-" + std::to_string(getpid()))) {
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string file(const std::string& name, const std::string& content) const {
        const std::string p = (path_ / name).string();
        EXPECT_TRUE(write_text_file(p, content).ok());
        return p;
    }
    std::string path(const std::string& name) const { return (path_ / name).string(); }

private:
    fs::path path_;
};

TEST(Suites, TableIsCompleteAndPromptsFollowR1Guidance) {
    EXPECT_EQ(suite_names(), "gsm8k, math500, cmath, aime2024, humaneval, mbpp, humanevalfix");
    for (const Suite& s : all_suites()) {
        const auto items = load_suite(std::string(s.name));
        ASSERT_FALSE(items.empty()) << s.name;
        const std::string prompt = build_prompt(s, items[0]);
        EXPECT_EQ(prompt.find("<think>"), std::string::npos);
        if (s.kind == SuiteKind::kMath) {
            EXPECT_TRUE(prompt.ends_with("Please reason step by step, and put your final answer within \\boxed{}."))
                << s.name << ": " << prompt;
            EXPECT_NE(s.answers_equal, nullptr);
        } else {
            EXPECT_NE(prompt.find("```python"), std::string::npos) << s.name;
            EXPECT_NE(s.build_program, nullptr);
        }
        EXPECT_NE(s.reference_output, nullptr);
    }
    // Ids: the dataset's own, or the 0-based line number.
    EXPECT_EQ(load_suite("gsm8k")[3].id, "3");
    EXPECT_EQ(load_suite("cmath")[0].id, "0");
    EXPECT_EQ(load_suite("math500")[0].id.find("test/"), 0u);
    EXPECT_EQ(load_suite("aime2024")[0].id, "60");
    EXPECT_EQ(load_suite("humaneval")[0].id, "HumanEval/0");
    EXPECT_EQ(load_suite("mbpp")[0].id, "11");
    EXPECT_EQ(load_suite("humanevalfix")[0].id, "Python/0");
    // MBPP prompts show the asserts (they name the function); HumanEvalFix shows the bug and tests.
    const auto mbpp = load_suite("mbpp");
    EXPECT_NE(build_prompt(*find_suite("mbpp"), mbpp[0]).find("assert remove_Occ(\"hello\",\"l\") == \"heo\""),
              std::string::npos);
    const auto fix = load_suite("humanevalfix");
    const std::string fp = build_prompt(*find_suite("humanevalfix"), fix[0]);
    EXPECT_TRUE(fp.starts_with("Fix bugs in has_close_elements.")) << fp;
    EXPECT_NE(fp.find("def check(has_close_elements)"), std::string::npos);
}

TEST(Suites, MbppSetupCodeRunsBeforeTheAsserts) {
    EvalItem item;
    item.id = "1";
    item.setup_code = "import math\nSCALE = 3";
    item.test_list = {"assert f(2) == 6", "assert math.floor(f(1.5)) == 4"};
    const std::string program = find_suite("mbpp")->build_program(item, "def f(x):\n    return SCALE * x\n");
    EXPECT_LT(program.find("def f"), program.find("SCALE = 3"));
    EXPECT_LT(program.find("SCALE = 3"), program.find("assert f(2)"));
    GradeOptions options;
    auto run = grade_outputs(*find_suite("mbpp"), {item}, {{"1", "```python\ndef f(x):\n    return SCALE * x\n```", {}, {}, {}, {}, {}}},
                             options);
    ASSERT_TRUE(run.ok()) << run.error().message;
    EXPECT_TRUE(run->items[0].correct) << run->items[0].run->stderr_tail;
    EXPECT_NE(build_prompt(*find_suite("mbpp"), item).find("SCALE = 3"), std::string::npos);
}

TEST(Suites, LoadRejectsMalformedData) {
    TempDir dir;
    const Suite& gsm8k = *find_suite("gsm8k");
    auto r = load_items(gsm8k, dir.file("a.jsonl", "{\"question\": \"q\"}\n"));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("'answer'"), std::string::npos) << r.error().message;
    r = load_items(gsm8k, dir.file("b.jsonl", "{\"question\": \"q\", \"answer\": 5}\n"));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("expected a string"), std::string::npos) << r.error().message;
    r = load_items(gsm8k, dir.file("c.jsonl", "not json\n"));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("line 1"), std::string::npos) << r.error().message;
    r = load_items(*find_suite("humaneval"), dir.file("d.jsonl", "{\"task_id\": \"x\", \"prompt\": \"p\", \"canonical_solution\": \"c\", \"test\": \"t\", \"entry_point\": \"f\"}\n"
                                                                  "{\"task_id\": \"x\", \"prompt\": \"p\", \"canonical_solution\": \"c\", \"test\": \"t\", \"entry_point\": \"f\"}\n"));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("duplicate id 'x'"), std::string::npos) << r.error().message;
    EXPECT_FALSE(load_items(gsm8k, dir.path("missing.jsonl")).ok());
    EXPECT_FALSE(load_items(gsm8k, dir.file("empty.jsonl", "\n")).ok());
}

TEST(Grader, ReadsAnswersAndRejectsBadLines) {
    TempDir dir;
    auto a = read_outputs(dir.file("ok.jsonl", "{\"id\": 3, \"output\": \"x\", \"reasoning_tokens\": 120, \"latency_ms\": 900}\n\n"
                                               "{\"id\": \"HumanEval/1\", \"output\": \"y\"}\n"));
    ASSERT_TRUE(a.ok()) << a.error().message;
    ASSERT_EQ(a->size(), 2u);
    EXPECT_EQ((*a)[0].id, "3");
    EXPECT_EQ((*a)[0].reasoning_tokens, 120);
    EXPECT_FALSE((*a)[1].latency_ms.has_value());
    for (const char* bad : {"{\"output\": \"x\"}", "{\"id\": 1}", "{\"id\": [1], \"output\": \"x\"}", "[1, 2]", "{"}) {
        auto r = read_outputs(dir.file("bad.jsonl", std::string("{\"id\": 0, \"output\": \"\"}\n") + bad + "\n"));
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
    }
}

TEST(Grader, SamplesPassAtKAndSummary) {
    const auto items = load_suite("gsm8k");
    const Suite& suite = *find_suite("gsm8k");
    // Item 0 (answer 18): 3 of 4 samples right; item 1: 0 of 4; item 2: 4 of 4.
    std::vector<ModelOutput> outputs;
    auto add = [&](const std::string& id, const std::string& answer, double think_tokens) {
        outputs.push_back({id, "<think>\nwork\n</think>\n\n\\boxed{" + answer + "}", think_tokens, 10.0, 1000.0, 50.0, "stop"});
    };
    for (const char* a : {"18", "18", "17", "18"}) add("0", a, 90);
    for (int i = 0; i < 4; ++i) add("1", "-1", 190);
    for (int i = 0; i < 4; ++i) add("2", items[2].reference, 190);
    size_t progress_calls = 0;
    GradeOptions options;
    options.progress = [&](size_t done, size_t total, size_t) {
        ++progress_calls;
        EXPECT_LE(done, total);
    };
    auto run = grade_outputs(suite, items, outputs, options);
    ASSERT_TRUE(run.ok()) << run.error().message;
    const RunSummary& s = run->summary;
    EXPECT_EQ(progress_calls, 12u);
    EXPECT_EQ(s.n, 3u);
    EXPECT_EQ(s.n_samples, 12u);
    EXPECT_EQ(s.samples_per_item, 4u);
    EXPECT_EQ(s.correct, 7u);
    EXPECT_NEAR(s.accuracy, 7.0 / 12.0, 1e-12);
    EXPECT_NEAR(s.pass_at_k.at(1), 7.0 / 12.0, 1e-12);
    EXPECT_NEAR(s.pass_at_k.at(2), (1.0 + 0.0 + 1.0) / 3.0, 1e-12);  // item 0: 1 - C(1,2)/C(4,2) = 1
    EXPECT_NEAR(s.pass_at_k.at(4), 2.0 / 3.0, 1e-12);
    EXPECT_LT(s.ci_low, s.accuracy);
    EXPECT_GT(s.ci_high, s.accuracy);
    EXPECT_EQ(s.n_dataset, items.size());
    EXPECT_NEAR(*s.perf.mean_reasoning_tokens, (4 * 90 + 8 * 190) / 12.0, 1e-9);
    EXPECT_NEAR(*s.perf.ms_per_token, 12 * 1000.0 / (4 * 100 + 8 * 200), 1e-9);
    EXPECT_NEAR(*s.perf.mean_ttft_ms, 50.0, 1e-9);
    EXPECT_FALSE(s.perf.peak_memory_bytes.has_value());
    EXPECT_EQ(run->items[3].sample, 3);
    EXPECT_EQ(run->items[2].extracted, "17");
    EXPECT_FALSE(run->items[2].correct);
    EXPECT_TRUE(s.sandbox.is_null());

    TempDir dir;
    ASSERT_TRUE(write_run(dir.path("run"), *run).ok());
    auto lines = read_jsonl(dir.path("run") + "/items.jsonl");
    ASSERT_TRUE(lines.ok());
    ASSERT_EQ(lines->size(), 12u);
    const auto& first = (*lines)[0].value;
    for (const char* key : {"id", "prompt", "output", "extracted", "reference", "correct", "method", "reasoning_tokens"})
        EXPECT_TRUE(first.contains(key)) << key;
    EXPECT_EQ(first["reference"], "18");
    auto text = read_text_file(dir.path("run") + "/summary.json");
    ASSERT_TRUE(text.ok());
    auto back = summary_from_json(nlohmann::json::parse(*text), "summary.json");
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->correct, 7u);
    EXPECT_EQ(back->source, "grade");
}

TEST(Grader, OutputStoppedByTheTokenLimitWhileReasoningHasNoAnswer) {
    const auto items = load_suite("gsm8k");
    ModelOutput cut{"0", "Okay, 16 - 3 - 4 = 9 eggs, times 2 is 18, but wait", {}, {}, {}, {}, "length"};
    ModelOutput closed = cut;
    closed.output = "16 - 3 - 4 = 9, 9 * 2 = 18\n</think>\n\nShe makes \\boxed{18} dollars, because";
    ModelOutput untagged = cut;
    untagged.finish_reason = "stop";
    auto run = grade_outputs(*find_suite("gsm8k"), items, {cut, closed, untagged}, GradeOptions{});
    ASSERT_TRUE(run.ok());
    EXPECT_TRUE(run->items[0].truncated);
    EXPECT_FALSE(run->items[0].correct);
    EXPECT_TRUE(run->items[1].correct);  // cut off in the answer, after the box
    EXPECT_TRUE(run->items[2].correct);  // no tags, not cut off: the whole text is the answer
    EXPECT_EQ(run->summary.n_truncated, 1u);
}

TEST(Grader, UnknownIdIsAnError) {
    const auto items = load_suite("aime2024");
    auto run = grade_outputs(*find_suite("aime2024"), items, {{"HumanEval/0", "\\boxed{1}", {}, {}, {}, {}, {}}}, GradeOptions{});
    ASSERT_FALSE(run.ok());
    EXPECT_NE(run.error().message.find("'HumanEval/0'"), std::string::npos) << run.error().message;
}

TEST(Grader, InvalidUtf8OutputStillWritesValidJson) {
    const auto items = load_suite("gsm8k");
    auto run = grade_outputs(*find_suite("gsm8k"), items, {{"0", "\xff\xfe broken \\boxed{18}", {}, {}, {}, {}, {}}}, GradeOptions{});
    ASSERT_TRUE(run.ok());
    EXPECT_TRUE(run->items[0].correct);
    TempDir dir;
    ASSERT_TRUE(write_run(dir.path("run"), *run).ok());
    EXPECT_TRUE(read_jsonl(dir.path("run") + "/items.jsonl").ok());
}

}  // namespace
}  // namespace retort::eval
