// Grading a run: model outputs in, per-item records and a RunSummary out. Math answers are
// extracted and compared here; code answers become programs that run in the sandbox, several
// at once. Writes items.jsonl and summary.json. `retort grade` and `retort eval` (after
// generating the outputs) both call grade_outputs().
#pragma once

#include "eval/sandbox.h"
#include "eval/suite.h"
#include "eval/summary.h"
#include "util/error.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace retort::eval {

// One model output to grade: a line of ANSWERS.jsonl, or what the engine produced.
// Several outputs with the same id are samples of that item (pass@k).
struct ModelOutput {
    std::string id;
    std::string output;  // the full text, <think> block included
    // Optional figures from whoever generated it (the engine, an endpoint's usage field).
    std::optional<double> reasoning_tokens, answer_tokens, latency_ms, ttft_ms;
    // "length" when generation hit its token limit: with no </think> in the output it was
    // cut off while reasoning (the distills' template opens <think> in the prompt, so such an
    // output may carry no tag at all) and has no answer.
    std::string finish_reason;
};

// ANSWERS.jsonl: {"id": "...", "output": "..."} per line (id may be a number); optional
// "reasoning_tokens", "answer_tokens", "latency_ms", "ttft_ms", "finish_reason".
Result<std::vector<ModelOutput>> read_outputs(const std::string& path);

struct ItemRecord {
    std::string id;
    int sample = 0;  // 0-based sample index within the item
    std::string prompt, output;
    std::string extracted;  // math: the answer compared; code: the program's code part
    std::string reference;  // math: the reference answer; code: empty (tests are in the data)
    std::string method;     // boxed | last_number | fence | whole | none
    bool truncated = false;
    bool correct = false;
    // Code suites: the sandbox run.
    std::optional<RunResult> run;
    size_t reasoning_chars = 0, answer_chars = 0;
    std::optional<double> reasoning_tokens, answer_tokens, latency_ms, ttft_ms;
};
nlohmann::json to_json(const ItemRecord& r);

struct GradeOptions {
    int parallel = 2;  // sandbox runs in flight (code suites)
    SandboxConfig sandbox;
    std::string data_file;  // recorded in the summary
    std::string source = "grade";
    std::optional<ModelInfo> model;
    std::optional<GenerationInfo> generation;
    std::optional<HardwareInfo> hardware;
    std::optional<uint64_t> peak_memory_bytes;
    // Called after each graded output from the grading threads (one at a time).
    std::function<void(size_t done, size_t total, size_t correct)> progress;
};

struct GradedRun {
    std::vector<ItemRecord> items;
    RunSummary summary;
};

// Grades `outputs` against `items`. Every output id must be an item id (else an Error naming
// it); items without outputs are left out (summary.n counts those graded). Code suites need
// the sandbox: without bubblewrap this returns its Error rather than run anything.
Result<GradedRun> grade_outputs(const Suite& suite, const std::vector<EvalItem>& items,
                                const std::vector<ModelOutput>& outputs, const GradeOptions& options);

// Writes DIR/items.jsonl and DIR/summary.json (DIR is created).
Status write_run(const std::string& dir, const GradedRun& run);

}  // namespace retort::eval
