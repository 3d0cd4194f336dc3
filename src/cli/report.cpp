// `retort report`: the comparison table and charts of several runs, as HTML or Markdown.
#include "cli/commands.h"
#include "eval/jsonl.h"
#include "eval/report.h"
#include "eval/summary.h"

#include <fmt/core.h>

namespace retort::cli {

namespace {

struct ReportArgs {
    std::vector<std::string> runs;
    std::string out;
    bool markdown = false;
};

int run_report(const ReportArgs& a) {
    auto runs = eval::load_runs(a.runs);
    if (!runs) {
        fmt::print(stderr, "retort report: {}\n", runs.error().message);
        return 1;
    }
    const std::string when = eval::utc_timestamp();
    const std::string text =
        a.markdown ? eval::render_report_markdown(*runs, when) : eval::render_report_html(*runs, when);
    if (a.out.empty() || a.out == "-") {
        fmt::print("{}", text);
        return 0;
    }
    if (auto st = eval::write_text_file(a.out, text); !st) {
        fmt::print(stderr, "retort report: {}\n", st.error().message);
        return 1;
    }
    fmt::print("wrote {} ({} runs)\n", a.out, runs->size());
    return 0;
}

}  // namespace

void register_report(CLI::App& app, CommandList& commands) {
    auto args = std::make_shared<ReportArgs>();
    CLI::App* sub = app.add_subcommand("report", "Compare runs: a table and charts in one offline HTML page");
    sub->add_option("runs", args->runs, "Run directories (or their summary.json)")->required();
    sub->add_option("-o,--output", args->out, "Output file (default: standard output)");
    sub->add_flag("--markdown", args->markdown, "Write a Markdown table instead of HTML");
    commands.push_back({sub, [args] { return run_report(*args); }});
}

}  // namespace retort::cli
