// The evaluation suites: each is one row of the table in suites.cpp — how to read the
// dataset, what to ask the model, and how to grade what it answered. Adding a suite is
// adding a row (and its data under data/eval/).
#pragma once

#include "util/error.h"

#include <nlohmann/json_fwd.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace retort::eval {

enum class SuiteKind { kMath, kCode };
const char* suite_kind_name(SuiteKind kind);

// One problem, parsed into the fields the prompt and grader use. Math suites fill id,
// question and reference; code suites also fill the code fields.
struct EvalItem {
    std::string id;         // the dataset's own id, or the 0-based line number (GSM8K, CMATH)
    std::string question;   // problem text or task description
    std::string reference;  // math: the reference answer; code: the reference solution
    // Code suites only.
    std::string code_prompt;  // HumanEval(Fix): imports + signature + docstring
    std::string buggy_code;   // HumanEvalFix: declaration + buggy body (shown to the model)
    std::string test_code;    // appended after the program (HumanEval: check() is defined there)
    std::string setup_code;   // MBPP test_setup_code, run before the asserts
    std::string entry_point;  // the function under test
    std::vector<std::string> test_list;  // MBPP asserts (shown in the prompt)
};

struct Suite {
    std::string_view name;
    SuiteKind kind;
    std::string_view data_file;    // default dataset, a file name under data/eval/
    std::string_view description;  // one line for --help and docs
    // Parses one dataset row; `line` is the 0-based line number (the id where there is none).
    Result<EvalItem> (*parse_item)(const nlohmann::json& row, size_t line);
    // The user message (no system prompt, per DeepSeek's R1 guidance).
    std::string (*build_prompt)(const EvalItem& item);
    // Math suites: does an extracted answer match item.reference?
    bool (*answers_equal)(std::string_view predicted, std::string_view reference);
    // Code suites: the whole program to run for the code extracted from an answer.
    std::string (*build_program)(const EvalItem& item, std::string_view code);
    // A model output that must grade as correct (the dataset's reference answer written as
    // an R1 output would be): `retort grade --reference` and the tests use it.
    std::string (*reference_output)(const EvalItem& item);
};

std::span<const Suite> all_suites();
const Suite* find_suite(std::string_view name);
// "gsm8k, math500, ..." for messages.
std::string suite_names();

// The user message for an item.
inline std::string build_prompt(const Suite& suite, const EvalItem& item) { return suite.build_prompt(item); }

// Reads a dataset in the suite's format (JSON Lines). Errors name the file and line; ids
// must be unique.
Result<std::vector<EvalItem>> load_items(const Suite& suite, const std::string& path);

}  // namespace retort::eval
