// `retort report`: reads the summary.json of several runs and renders the comparison people
// look for — one row per model (and quant), accuracy per suite, memory and speed — as a
// self-contained HTML page with inline SVG charts (no JavaScript), or as a Markdown table.
#pragma once

#include "eval/summary.h"
#include "util/error.h"

#include <string>
#include <vector>

namespace retort::eval {

struct RunEntry {
    std::string dir;  // as given on the command line
    RunSummary summary;
};

// Each path is a run directory (holding summary.json) or a summary.json itself.
Result<std::vector<RunEntry>> load_runs(const std::vector<std::string>& paths);

// One table row: the runs of one model (name + quant + file); runs without a model are
// grouped by their directory name.
struct ReportRow {
    std::string label, params, quant;
    std::optional<uint64_t> size_bytes, peak_memory_bytes;
    std::optional<double> ms_per_token, tokens_per_s;
    std::optional<double> mean_reasoning_tokens, mean_answer_tokens;
    std::vector<const RunEntry*> runs;  // at most one per suite: the last one given wins
    const RunEntry* run_for(const std::string& suite) const;
};
std::vector<ReportRow> build_rows(const std::vector<RunEntry>& runs);
// Suites in the order they first appear.
std::vector<std::string> report_suites(const std::vector<RunEntry>& runs);

std::string render_report_html(const std::vector<RunEntry>& runs, const std::string& generated_at);
std::string render_report_markdown(const std::vector<RunEntry>& runs, const std::string& generated_at);

// Table cell formats; a missing value is "—".
std::string format_bytes(std::optional<uint64_t> bytes);
std::string format_percent(double fraction);

}  // namespace retort::eval
