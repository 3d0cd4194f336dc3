// Grader + sandbox on the real data: every reference answer must grade as correct — every
// canonical HumanEval and MBPP solution and every fixed HumanEvalFix function run through the
// sandbox, every math reference written as a boxed R1 answer — and every buggy HumanEvalFix
// function must fail. Prints the sandbox throughput (items/s).
#include "eval/grader.h"
#include "eval_test_util.h"

#include <gtest/gtest.h>

namespace retort::eval {
namespace {

using testing::load_suite;

GradedRun grade_references(const std::string& name, const std::vector<EvalItem>& items,
                           const std::vector<ModelOutput>& outputs, double timeout_s = 10.0) {
    GradeOptions options;
    options.parallel = 2;
    options.sandbox.limits.wall_time_s = timeout_s;
    options.sandbox.limits.cpu_time_s = static_cast<int>(timeout_s);
    auto run = grade_outputs(*find_suite(name), items, outputs, options);
    EXPECT_TRUE(run.ok()) << (run.ok() ? "" : run.error().message);
    return run.ok() ? std::move(*run) : GradedRun{};
}

std::vector<ModelOutput> reference_outputs(const Suite& suite, const std::vector<EvalItem>& items) {
    std::vector<ModelOutput> outputs;
    for (const auto& item : items) outputs.push_back({item.id, suite.reference_output(item), {}, {}, {}, {}, {}});
    return outputs;
}

void expect_all_correct(const std::string& name, size_t expected_items) {
    const auto items = load_suite(name);
    ASSERT_EQ(items.size(), expected_items) << name;
    const GradedRun run = grade_references(name, items, reference_outputs(*find_suite(name), items));
    ASSERT_EQ(run.items.size(), items.size());
    size_t shown = 0;
    for (const auto& r : run.items) {
        if (r.correct || ++shown > 5) continue;
        ADD_FAILURE() << name << " " << r.id << ": reference graded wrong; extracted '" << r.extracted << "'"
                      << (r.run ? "\nstatus " + std::string(run_status_name(r.run->status)) + "\n" + r.run->stderr_tail
                                : std::string());
    }
    const RunSummary& s = run.summary;
    std::printf("%s: %zu/%zu references correct", name.c_str(), s.correct, s.n_samples);
    if (!s.sandbox.is_null())
        std::printf(", sandbox %.1f items/s (%zu runs in %.1f s, %d parallel)", s.sandbox["items_per_s"].get<double>(),
                    s.sandbox["runs"].get<size_t>(), s.sandbox["wall_s"].get<double>(), s.sandbox["parallel"].get<int>());
    std::printf("\n");
    EXPECT_EQ(s.correct, items.size());
    EXPECT_DOUBLE_EQ(s.accuracy, 1.0);
}

TEST(References, Gsm8k) { expect_all_correct("gsm8k", 1055); }
TEST(References, Math500) { expect_all_correct("math500", 400); }
TEST(References, Cmath) { expect_all_correct("cmath", 480); }
TEST(References, Aime2024) { expect_all_correct("aime2024", 24); }
TEST(References, HumanEvalCanonicalSolutionsPass) { expect_all_correct("humaneval", 131); }
TEST(References, MbppCanonicalSolutionsPass) { expect_all_correct("mbpp", 400); }
TEST(References, HumanEvalFixFixedFunctionsPass) { expect_all_correct("humanevalfix", 131); }

TEST(References, HumanEvalFixBuggyFunctionsFail) {
    const auto items = load_suite("humanevalfix");
    std::vector<ModelOutput> outputs;
    for (const auto& item : items)
        outputs.push_back({item.id, "</think>\n\n```python\n" + item.buggy_code + "```\n", {}, {}, {}, {}, {}});
    // Two buggy functions loop forever: a short limit keeps the test quick.
    const GradedRun run = grade_references("humanevalfix", items, outputs, 3.0);
    ASSERT_EQ(run.items.size(), items.size());
    for (const auto& r : run.items) EXPECT_FALSE(r.correct) << r.id << ": the buggy version passed its tests";
    const auto& status = run.summary.sandbox["status"];
    std::printf("humanevalfix buggy: %zu/%zu fail (%s)\n", run.items.size() - run.summary.correct, run.items.size(),
                status.dump().c_str());
    EXPECT_GE(status.value("timeout", 0) + status.value("cpu_limit", 0), 1) << "expected the infinite-loop bugs to be stopped";
}

// Wrong answers must not pass either: each math reference graded against the next item's.
TEST(References, ShiftedMathAnswersMostlyFail) {
    for (const char* name : {"gsm8k", "math500", "cmath", "aime2024"}) {
        const auto items = load_suite(name);
        const Suite& suite = *find_suite(name);
        size_t wrongly_correct = 0, compared = 0;
        for (size_t i = 0; i + 1 < items.size(); ++i) {
            if (items[i].reference == items[i + 1].reference) continue;
            ++compared;
            wrongly_correct += suite.answers_equal(items[i + 1].reference, items[i].reference);
        }
        // Distinct references can still be equal in value ("0.5" vs "\frac{1}{2}"), and CMATH's
        // 1% rule accepts close decimals: allow a few.
        EXPECT_LE(wrongly_correct, compared / 50 + 1) << name;
        std::printf("%s: %zu of %zu distinct neighbouring references compare equal\n", name, wrongly_correct, compared);
    }
}

}  // namespace
}  // namespace retort::eval
