// Golden set for the code graders: R1-style code answers (fenced, unfenced, body only, several
// blocks, cut off) for real HumanEval / MBPP / HumanEvalFix items, graded end to end through
// extraction, program assembly and the sandbox.
#include "eval/code_extract.h"
#include "eval/grader.h"
#include "eval_test_util.h"

#include <gtest/gtest.h>

#include <map>

namespace retort::eval {
namespace {

using testing::find_item;
using testing::load_suite;

struct GoldenCode {
    const char* suite;
    const char* id;
    const char* output;
    const char* method;  // expected extraction: fence | whole | none
    bool correct;
};

// HumanEval/0 has_close_elements, HumanEval/2 truncate_number, MBPP 11 remove_Occ,
// MBPP 17 square_perimeter, Python/18 how_many_times.
// clang-format off
const std::vector<GoldenCode> kGoldenCode = {
    {"humaneval", "HumanEval/0",
     "<think>\nCompare every pair; if any distance is below the threshold return True.\n</think>\n\n"
     "Here is the implementation:\n\n```python\nfrom typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
     "    for i, a in enumerate(numbers):\n        for j, b in enumerate(numbers):\n            if i != j and abs(a - b) < threshold:\n                return True\n    return False\n```\n\n"
     "This runs in O(n^2) time.", "fence", true},
    {"humaneval", "HumanEval/0",
     "Compare all pairs.\n</think>\n\n    for i in range(len(numbers)):\n        for j in range(i + 1, len(numbers)):\n"
     "            if abs(numbers[i] - numbers[j]) < threshold:\n                return True\n    return False\n", "whole", true},
    {"humaneval", "HumanEval/0",
     "</think>\n\n```python\n    sorted_nums = sorted(numbers)\n    return any(b - a < threshold for a, b in zip(sorted_nums, sorted_nums[1:]))\n```", "fence", true},
    {"humaneval", "HumanEval/0",
     "</think>\n\nExample usage:\n\n```python\nprint(has_close_elements([1.0, 2.0], 0.5))\n```\n\nSolution:\n\n```python\n"
     "def has_close_elements(numbers, threshold):\n    s = sorted(numbers)\n    return any(b - a < threshold for a, b in zip(s, s[1:]))\n```\n\n"
     "Output:\n```text\nFalse\n```", "fence", true},
    {"humaneval", "HumanEval/0",
     "<think>\nJust check adjacent elements without sorting.\n</think>\n\n```python\ndef has_close_elements(numbers, threshold):\n"
     "    return any(abs(a - b) < threshold for a, b in zip(numbers, numbers[1:]))\n```", "fence", false},
    {"humaneval", "HumanEval/2",
     "</think>\n\n```python\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n", "fence", true},
    {"humaneval", "HumanEval/2",
     "<think>\nThe decimal part is number minus its integer part, so return number - int(number). Let me also consider", "none", false},
    {"humaneval", "HumanEval/2", "</think>\n\n```python\nreturn number - int(number)\n```", "fence", true},
    {"humaneval", "HumanEval/2", "</think>\n\n```python\ndef truncate_number(number):\n    return number // 1.0\n```", "fence", false},
    {"mbpp", "11",
     "<think>\nRemove the first occurrence, then the last one.\n</think>\n\n```python\ndef remove_Occ(s, ch):\n    i = s.find(ch)\n"
     "    if i != -1:\n        s = s[:i] + s[i + 1:]\n    j = s.rfind(ch)\n    if j != -1:\n        s = s[:j] + s[j + 1:]\n    return s\n```", "fence", true},
    {"mbpp", "17", "def square_perimeter(a):\n  return 4 * a\n", "whole", true},
    {"mbpp", "17", "</think>\n\nThe perimeter of a square is four times its side.\n\n```py\ndef square_perimeter(a):\n    return 4*a\n```\nDone.", "fence", true},
    {"mbpp", "17", "</think>\n\n```python\ndef square_perimeter(a):\n    return a * a\n```", "fence", false},
    {"mbpp", "17", "</think>\n\nThe function is `square_perimeter(a) = 4a`, it returns 4 times a.", "whole", false},
    {"humanevalfix", "Python/18",
     "<think>\nThe loop stops one position early: range(len(string) - len(substring)) misses the last window.\n</think>\n\n"
     "```python\ndef how_many_times(string: str, substring: str) -> int:\n    times = 0\n\n    for i in range(len(string) - len(substring) + 1):\n"
     "        if string[i:i+len(substring)] == substring:\n            times += 1\n\n    return times\n```", "fence", true},
    {"humanevalfix", "Python/18",
     "</think>\n\n```python\ndef how_many_times(string: str, substring: str) -> int:\n    times = 0\n\n    for i in range(len(string) - len(substring)):\n"
     "        if string[i:i+len(substring)] == substring:\n            times += 1\n\n    return times\n```", "fence", false},
};
// clang-format on

TEST(GoldenCode, ExtractionAndSandboxGrading) {
    std::map<std::string, std::vector<EvalItem>> items;
    for (const char* s : {"humaneval", "mbpp", "humanevalfix"}) items[s] = load_suite(s);
    GradeOptions options;
    options.parallel = 2;
    size_t as_expected = 0;
    for (size_t i = 0; i < kGoldenCode.size(); ++i) {
        const GoldenCode& g = kGoldenCode[i];
        const Suite* suite = find_suite(g.suite);
        const EvalItem* item = find_item(items[g.suite], g.id);
        ASSERT_NE(item, nullptr) << g.id;
        auto run = grade_outputs(*suite, {*item}, {{g.id, g.output, {}, {}, {}, {}, {}}}, options);
        ASSERT_TRUE(run.ok()) << run.error().message;
        const ItemRecord& r = run->items.at(0);
        EXPECT_EQ(r.method, g.method) << "case " << i;
        EXPECT_EQ(r.correct, g.correct) << "case " << i << " (" << g.suite << " " << g.id << ")\nstderr: "
                                        << (r.run ? r.run->stderr_tail : std::string("(not run)"));
        as_expected += (r.method == g.method && r.correct == g.correct);
    }
    std::printf("golden code set: %zu/%zu cases as expected\n", as_expected, kGoldenCode.size());
}

TEST(CodeExtract, FencesAndBodies) {
    const auto blocks = fenced_blocks("a\n```python\nx = 1\n```\ntext\n~~~\ny\n~~~\n````py\nz\n````\n```\nopen");
    ASSERT_EQ(blocks.size(), 4u);
    EXPECT_EQ(blocks[0].lang, "python");
    EXPECT_EQ(blocks[0].body, "x = 1\n");
    EXPECT_EQ(blocks[1].lang, "");
    EXPECT_EQ(blocks[2].lang, "py");
    EXPECT_FALSE(blocks[3].closed);
    EXPECT_TRUE(defines_function("import x\n\ndef f (a):\n  pass\n", "f"));
    EXPECT_TRUE(defines_function("async def f(a): pass\n", "f"));
    EXPECT_FALSE(defines_function("    def f(a): pass\n", "f"));
    EXPECT_FALSE(defines_function("def ff(a): pass\n", "f"));
    EXPECT_EQ(indent_body("return x\nif y:\n    z\n"), "    return x\n    if y:\n        z\n");
    EXPECT_EQ(indent_body("    return x\n"), "    return x\n");
}

}  // namespace
}  // namespace retort::eval
