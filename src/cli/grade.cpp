// `retort grade`: grades model outputs produced elsewhere (ANSWERS.jsonl) with a suite's
// extraction and sandbox, writes items.jsonl + summary.json, prints the accuracy.
#include "cli/commands.h"
#include "cli/common.h"
#include "eval/grader.h"
#include "eval/suite.h"

#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>

namespace retort::cli {

namespace {

namespace fs = std::filesystem;

struct GradeArgs {
    std::string suite, data, answers, out, model_name;
    int parallel = 2;
    double timeout_s = 10.0;
    bool reference = false;
};

std::string default_out_dir(const std::string& suite) {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    return "runs/grade-" + suite + "-" + buf;
}

int run_grade(const GradeArgs& a) {
    const eval::Suite* suite = eval::find_suite(a.suite);
    if (suite == nullptr) {
        fmt::print(stderr, "retort grade: unknown suite '{}' (suites: {})\n", a.suite, eval::suite_names());
        return 2;
    }
    if (a.answers.empty() == !a.reference) {
        fmt::print(stderr, "retort grade: give exactly one of --answers FILE or --reference\n");
        return 2;
    }
    std::string data = a.data;
    if (data.empty()) {
        data = find_default_data(suite->data_file);
        if (data.empty()) {
            fmt::print(stderr, "retort grade: data/eval/{} not found here or above the executable; pass --data FILE\n",
                       suite->data_file);
            return 2;
        }
    }
    auto items = eval::load_items(*suite, data);
    if (!items) {
        fmt::print(stderr, "retort grade: {}\n", items.error().message);
        return 1;
    }
    std::vector<eval::ModelOutput> outputs;
    if (a.reference) {
        for (const auto& item : *items) outputs.push_back({item.id, suite->reference_output(item), {}, {}, {}, {}, {}});
    } else {
        auto read = eval::read_outputs(a.answers);
        if (!read) {
            fmt::print(stderr, "retort grade: {}\n", read.error().message);
            return 1;
        }
        outputs = std::move(*read);
    }

    eval::GradeOptions options;
    options.parallel = a.parallel;
    options.sandbox.limits.wall_time_s = a.timeout_s;
    options.sandbox.limits.cpu_time_s = std::max(1, static_cast<int>(a.timeout_s));
    options.data_file = data;
    options.source = "grade";
    if (!a.model_name.empty()) options.model = eval::ModelInfo{a.model_name, "", "", "", std::nullopt};
    const bool tty = isatty(STDERR_FILENO) != 0;
    if (tty) {
        options.progress = [](size_t done, size_t total, size_t correct) {
            fmt::print(stderr, "\r  graded {}/{}  correct {}  ({:.1f}%)   ", done, total, correct,
                       100.0 * static_cast<double>(correct) / static_cast<double>(std::max<size_t>(done, 1)));
        };
    }
    auto run = eval::grade_outputs(*suite, *items, outputs, options);
    if (tty) fmt::print(stderr, "\n");
    if (!run) {
        fmt::print(stderr, "retort grade: {}\n", run.error().message);
        return 1;
    }
    run->summary.retort_version = RETORT_VERSION;
    const std::string out = a.out.empty() ? default_out_dir(a.suite) : a.out;
    if (auto st = eval::write_run(out, *run); !st) {
        fmt::print(stderr, "retort grade: {}\n", st.error().message);
        return 1;
    }
    const auto& s = run->summary;
    fmt::print("{}: {}/{} correct, accuracy {:.4f} (95% CI {:.4f}-{:.4f}), {} items", s.suite, s.correct, s.n_samples,
               s.accuracy, s.ci_low, s.ci_high, s.n);
    if (s.n_truncated) fmt::print(", {} cut off while reasoning", s.n_truncated);
    fmt::print("\n");
    if (!s.sandbox.is_null())
        fmt::print("sandbox: {} runs in {:.1f} s ({:.1f} items/s, {} parallel)\n", s.sandbox["runs"].get<size_t>(),
                   s.sandbox["wall_s"].get<double>(), s.sandbox["items_per_s"].get<double>(),
                   s.sandbox["parallel"].get<int>());
    fmt::print("wrote {}/items.jsonl and {}/summary.json\n", out, out);
    return 0;
}

}  // namespace

void register_grade(CLI::App& app, CommandList& commands) {
    auto args = std::make_shared<GradeArgs>();
    CLI::App* sub = app.add_subcommand("grade", "Grade model outputs produced elsewhere against a suite");
    sub->add_option("--suite", args->suite, "Suite: " + eval::suite_names())->required();
    sub->add_option("--data", args->data, "Dataset file in the suite's format (default: data/eval/<suite file>)");
    sub->add_option("--answers", args->answers, "JSONL of {\"id\": ..., \"output\": \"<full model output>\"}");
    sub->add_flag("--reference", args->reference,
                  "Grade the dataset's own reference answers instead (checks the grader and sandbox)");
    sub->add_option("--out", args->out, "Run directory for items.jsonl and summary.json (default: runs/grade-...)");
    sub->add_option("--parallel", args->parallel, "Sandbox runs in flight (code suites)")->check(CLI::Range(1, 64));
    sub->add_option("--timeout", args->timeout_s, "Wall-clock and CPU limit per program, seconds")
        ->check(CLI::Range(0.5, 600.0));
    sub->add_option("--model-name", args->model_name, "Name of the model that wrote the answers (for the report)");
    commands.push_back({sub, [args] { return run_grade(*args); }});
}

}  // namespace retort::cli
