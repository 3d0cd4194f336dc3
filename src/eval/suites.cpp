// THE table of evaluation suites: data loader, prompt and grader per suite, side by side.
// Dataset formats and checking rules: data/eval/README.md; prompts and rules: docs/eval.md.
#include "eval/suite.h"

#include "eval/code_extract.h"
#include "eval/jsonl.h"
#include "eval/math_compare.h"
#include "eval/text.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <set>

namespace retort::eval {

namespace {

// DeepSeek's usage recommendation for the R1 models: no system prompt, and for math "include
// a directive in your prompt such as: Please reason step by step, and put your final answer
// within \boxed{}."
constexpr std::string_view kMathDirective = "Please reason step by step, and put your final answer within \\boxed{}.";

std::string where(size_t line) { return fmt::format("line {}", line + 1); }

std::string math_prompt(const EvalItem& item) { return item.question + "\n" + std::string(kMathDirective); }

EvalItem math_item(std::string id, std::string question, std::string reference) {
    EvalItem item;
    item.id = std::move(id);
    item.question = std::move(question);
    item.reference = std::move(reference);
    return item;
}

std::string boxed_reference(const EvalItem& item) {
    return "<think>\nLet me work through this.\n</think>\n\nThe final answer is $\\boxed{" + item.reference + "}$.";
}

// ---- GSM8K: {"question", "answer": worked solution ending "#### N"}; id = line number.
Result<EvalItem> parse_gsm8k(const nlohmann::json& row, size_t line) {
    auto q = string_field(row, "question", where(line));
    if (!q) return q.error();
    auto a = string_field(row, "answer", where(line));
    if (!a) return a.error();
    return math_item(std::to_string(line), std::move(*q), gsm8k_reference(*a));
}

// ---- CMATH: {"input", "golden", "grade", ...}; id = line number.
Result<EvalItem> parse_cmath(const nlohmann::json& row, size_t line) {
    auto q = string_field(row, "input", where(line));
    if (!q) return q.error();
    auto a = string_field(row, "golden", where(line));
    if (!a) return a.error();
    return math_item(std::to_string(line), std::move(*q), std::move(*a));
}

// ---- MATH-500: {"problem", "answer", "unique_id", ...}.
Result<EvalItem> parse_math500(const nlohmann::json& row, size_t line) {
    auto id = string_field(row, "unique_id", where(line));
    if (!id) return id.error();
    auto q = string_field(row, "problem", where(line));
    if (!q) return q.error();
    auto a = string_field(row, "answer", where(line));
    if (!a) return a.error();
    return math_item(std::move(*id), std::move(*q), std::move(*a));
}

// ---- AIME 2024: {"id": int, "problem", "answer"}.
Result<EvalItem> parse_aime(const nlohmann::json& row, size_t line) {
    const auto it = row.find("id");
    if (it == row.end() || !(it->is_number_integer() || it->is_string()))
        return Error::make(ErrorKind::kBadFile, "{}: field 'id' missing or not an integer", where(line));
    auto q = string_field(row, "problem", where(line));
    if (!q) return q.error();
    auto a = string_field(row, "answer", where(line));
    if (!a) return a.error();
    std::string id = it->is_string() ? it->get<std::string>() : std::to_string(it->get<long long>());
    return math_item(std::move(id), std::move(*q), std::move(*a));
}

// ---- HumanEval: {"task_id", "prompt", "canonical_solution", "test", "entry_point"}.
Result<EvalItem> parse_humaneval(const nlohmann::json& row, size_t line) {
    EvalItem item;
    for (auto [key, dst] : {std::pair{"task_id", &item.id}, {"prompt", &item.code_prompt},
                            {"canonical_solution", &item.reference}, {"test", &item.test_code},
                            {"entry_point", &item.entry_point}}) {
        auto v = string_field(row, key, where(line));
        if (!v) return v.error();
        *dst = std::move(*v);
    }
    item.question = item.code_prompt;
    return item;
}

std::string humaneval_prompt(const EvalItem& item) {
    return "Complete the following Python function. Reply with the complete function, including its `def` line "
           "and the imports it needs, in a single ```python code block.\n\n```python\n" +
           item.code_prompt + (ends_with(item.code_prompt, "\n") ? "" : "\n") + "```";
}

// A whole function replaces the prompt's stub (defined later, it wins; the prompt still
// supplies imports and helpers); anything else is the body that continues the prompt.
std::string complete_function(const EvalItem& item, std::string_view code) {
    if (defines_function(code, item.entry_point)) return item.code_prompt + "\n" + std::string(code);
    return item.code_prompt + indent_body(code);
}

std::string humaneval_program(const EvalItem& item, std::string_view code) {
    return complete_function(item, code) + "\n\n" + item.test_code + "\n\ncheck(" + item.entry_point + ")\n";
}

// Even items answer with the bare body (HumanEval's completion form), odd ones with the
// whole function in a fence (the chat form): the tests cover both paths.
std::string humaneval_reference(const EvalItem& item) {
    const std::string think = "<think>\nThe docstring gives the examples; implement it directly.\n</think>\n\n";
    const int n = std::atoi(item.id.c_str() + item.id.rfind('/') + 1);  // "HumanEval/12" -> 12
    if (n % 2 == 0) return think + item.reference;
    return think + "```python\n" + item.code_prompt + item.reference + "```\n";
}

// ---- MBPP: {"task_id": int, "text", "code", "test_list", "test_setup_code"}.
Result<EvalItem> parse_mbpp(const nlohmann::json& row, size_t line) {
    EvalItem item;
    const auto it = row.find("task_id");
    if (it == row.end() || !it->is_number_integer())
        return Error::make(ErrorKind::kBadFile, "{}: field 'task_id' missing or not an integer", where(line));
    item.id = std::to_string(it->get<long long>());
    for (auto [key, dst] : {std::pair{"text", &item.question}, {"code", &item.reference},
                            {"test_setup_code", &item.setup_code}}) {
        auto v = string_field(row, key, where(line));
        if (!v) return v.error();
        *dst = std::move(*v);
    }
    const auto tests = row.find("test_list");
    if (tests == row.end() || !tests->is_array() || tests->empty())
        return Error::make(ErrorKind::kBadFile, "{}: field 'test_list' missing or not a non-empty array", where(line));
    for (const auto& t : *tests) {
        if (!t.is_string()) return Error::make(ErrorKind::kBadFile, "{}: 'test_list' holds a non-string", where(line));
        item.test_list.push_back(t.get<std::string>());
    }
    return item;
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

std::string mbpp_prompt(const EvalItem& item) {
    std::string p = item.question + "\nYour code should pass these tests:\n\n```python\n" + join_lines(item.test_list) + "```\n";
    if (!trim(item.setup_code).empty())
        p += "\nThe tests run after this setup code:\n\n```python\n" + item.setup_code + "\n```\n";
    return p + "\nWrite the Python code in a single ```python code block.";
}

std::string mbpp_program(const EvalItem& item, std::string_view code) {
    return std::string(code) + "\n\n" + item.setup_code + "\n\n" + join_lines(item.test_list);
}

std::string mbpp_reference(const EvalItem& item) {
    return "<think>\nStraightforward.\n</think>\n\n```python\n" + item.reference + "\n```\n";
}

// ---- HumanEvalFix (HumanEvalPack, Python): fix the buggy function, tests shown.
Result<EvalItem> parse_humanevalfix(const nlohmann::json& row, size_t line) {
    EvalItem item;
    std::string declaration, buggy;
    for (auto [key, dst] : {std::pair{"task_id", &item.id}, {"prompt", &item.code_prompt},
                            {"declaration", &declaration}, {"buggy_solution", &buggy},
                            {"canonical_solution", &item.reference}, {"test", &item.test_code},
                            {"entry_point", &item.entry_point}}) {
        auto v = string_field(row, key, where(line));
        if (!v) return v.error();
        *dst = std::move(*v);
    }
    item.buggy_code = declaration + buggy;
    item.question = item.buggy_code;
    // The fixed function for reference_output: declaration (with imports) + correct body.
    item.reference = declaration + item.reference;
    return item;
}

// OctoPack's "fix with tests" setting: "Fix bugs in <entry_point>." + buggy code + tests.
std::string humanevalfix_prompt(const EvalItem& item) {
    return "Fix bugs in " + item.entry_point + ".\n\n```python\n" + item.buggy_code + "```\n\nThese tests must pass:\n\n```python\n" +
           std::string(trim(item.test_code)) + "\n```\n\nReply with the whole corrected function `" + item.entry_point +
           "`, including its imports, in a single ```python code block.";
}

std::string humanevalfix_program(const EvalItem& item, std::string_view code) {
    return complete_function(item, code) + "\n\n" + item.test_code + "\n";
}

std::string humanevalfix_reference(const EvalItem& item) {
    return "<think>\nThe loop bound is off; fix it.\n</think>\n\n```python\n" + item.reference + "```\n";
}

constexpr Suite kSuites[] = {
    {"gsm8k", SuiteKind::kMath, "gsm8k_test.jsonl", "GSM8K grade-school math word problems (integer answers)",
     parse_gsm8k, math_prompt, gsm8k_equal, nullptr, boxed_reference},
    {"math500", SuiteKind::kMath, "math500_test.jsonl", "MATH-500 competition math (LaTeX answers)",
     parse_math500, math_prompt, math500_equal, nullptr, boxed_reference},
    {"cmath", SuiteKind::kMath, "cmath_dev.jsonl", "CMATH Chinese elementary-school math (numeric answers)",
     parse_cmath, math_prompt, cmath_equal, nullptr, boxed_reference},
    {"aime2024", SuiteKind::kMath, "aime2024.jsonl", "AIME 2024 I and II (integer answers 0-999)", parse_aime,
     math_prompt, aime_equal, nullptr, boxed_reference},
    {"humaneval", SuiteKind::kCode, "humaneval.jsonl", "HumanEval Python function completion (unit tests)",
     parse_humaneval, humaneval_prompt, nullptr, humaneval_program, humaneval_reference},
    {"mbpp", SuiteKind::kCode, "mbpp_test.jsonl", "MBPP basic Python programming (asserts)", parse_mbpp, mbpp_prompt,
     nullptr, mbpp_program, mbpp_reference},
    {"humanevalfix", SuiteKind::kCode, "humanevalfix_python.jsonl", "HumanEvalFix Python bug fixing (unit tests)",
     parse_humanevalfix, humanevalfix_prompt, nullptr, humanevalfix_program, humanevalfix_reference},
};

}  // namespace

const char* suite_kind_name(SuiteKind kind) { return kind == SuiteKind::kMath ? "math" : "code"; }

std::span<const Suite> all_suites() { return kSuites; }

const Suite* find_suite(std::string_view name) {
    for (const Suite& s : kSuites)
        if (s.name == name) return &s;
    return nullptr;
}

std::string suite_names() {
    std::string out;
    for (const Suite& s : kSuites) out += (out.empty() ? "" : ", ") + std::string(s.name);
    return out;
}

Result<std::vector<EvalItem>> load_items(const Suite& suite, const std::string& path) {
    auto rows = read_jsonl(path);
    if (!rows) return rows.error();
    std::vector<EvalItem> items;
    items.reserve(rows->size());
    std::set<std::string> seen;
    for (const JsonRow& row : *rows) {
        auto item = suite.parse_item(row.value, row.line);
        if (!item) return Error::bad_file(path, "{} (expected the {} format, see data/eval/README.md)",
                                          item.error().message, suite.name);
        if (!seen.insert(item->id).second)
            return Error::bad_file(path, "line {}: duplicate id '{}'", row.line + 1, item->id);
        items.push_back(std::move(*item));
    }
    if (items.empty()) return Error::bad_file(path, "no items");
    return items;
}

}  // namespace retort::eval
