// Grading outputs and writing a run (see grader.h).
#include "eval/grader.h"

#include "eval/answer_extract.h"
#include "eval/code_extract.h"
#include "eval/jsonl.h"
#include "eval/text.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

namespace retort::eval {

namespace {

using json = nlohmann::json;

std::optional<double> optional_number(const json& row, const char* key) {
    const auto it = row.find(key);
    if (it == row.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
}

template <typename T>
json opt(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

// Mean of the values present, or nullopt when none is.
std::optional<double> mean_of(const std::vector<ItemRecord>& items, std::optional<double> ItemRecord::*field) {
    double sum = 0;
    size_t n = 0;
    for (const auto& r : items)
        if (r.*field) {
            sum += *(r.*field);
            ++n;
        }
    if (n == 0) return std::nullopt;
    return sum / static_cast<double>(n);
}

json limits_json(const SandboxLimits& l) {
    return {{"wall_time_s", l.wall_time_s},         {"cpu_time_s", l.cpu_time_s},
            {"memory_bytes", l.memory_bytes},       {"max_processes", l.max_processes},
            {"file_size_bytes", l.file_size_bytes}, {"tmp_size_bytes", l.tmp_size_bytes},
            {"max_open_files", l.max_open_files},   {"output_bytes", l.output_bytes},
            {"network", "none"},                    {"filesystem", "read-only /usr, private /tmp"}};
}

}  // namespace

Result<std::vector<ModelOutput>> read_outputs(const std::string& path) {
    auto rows = read_jsonl(path);
    if (!rows) return rows.error();
    std::vector<ModelOutput> outputs;
    for (const JsonRow& row : *rows) {
        const json& j = row.value;
        const auto id = j.find("id");
        ModelOutput o;
        if (id != j.end() && id->is_string()) o.id = id->get<std::string>();
        else if (id != j.end() && id->is_number_integer()) o.id = std::to_string(id->get<long long>());
        else return Error::bad_file(path, "line {}: field 'id' missing or not a string/integer", row.line + 1);
        auto out = string_field(j, "output", "line " + std::to_string(row.line + 1));
        if (!out) return Error::bad_file(path, "{}", out.error().message);
        o.output = std::move(*out);
        o.reasoning_tokens = optional_number(j, "reasoning_tokens");
        o.answer_tokens = optional_number(j, "answer_tokens");
        o.latency_ms = optional_number(j, "latency_ms");
        o.ttft_ms = optional_number(j, "ttft_ms");
        if (const auto fr = j.find("finish_reason"); fr != j.end() && fr->is_string()) o.finish_reason = fr->get<std::string>();
        outputs.push_back(std::move(o));
    }
    return outputs;
}

json to_json(const ItemRecord& r) {
    json j = {{"id", r.id},
              {"sample", r.sample},
              {"prompt", r.prompt},
              {"output", r.output},
              {"extracted", r.extracted},
              {"reference", r.reference},
              {"method", r.method},
              {"truncated", r.truncated},
              {"correct", r.correct},
              {"reasoning_chars", r.reasoning_chars},
              {"answer_chars", r.answer_chars},
              {"reasoning_tokens", opt(r.reasoning_tokens)},
              {"answer_tokens", opt(r.answer_tokens)},
              {"latency_ms", opt(r.latency_ms)},
              {"ttft_ms", opt(r.ttft_ms)}};
    if (r.run) {
        j["run"] = {{"status", run_status_name(r.run->status)},
                    {"exit_code", r.run->exit_code},
                    {"wall_ms", r.run->wall_ms},
                    {"stdout", r.run->stdout_head},
                    {"stderr", r.run->stderr_tail}};
    } else {
        j["run"] = nullptr;
    }
    return j;
}

Result<GradedRun> grade_outputs(const Suite& suite, const std::vector<EvalItem>& items,
                                const std::vector<ModelOutput>& outputs, const GradeOptions& options) {
    const auto t0 = std::chrono::steady_clock::now();
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < items.size(); ++i) index.emplace(items[i].id, i);

    // One record per output, samples numbered per id in file order.
    GradedRun run;
    std::map<std::string, int> samples_seen;
    std::vector<size_t> item_of;  // record -> item index
    std::vector<bool> cut_off;    // record -> stopped by the token limit inside the reasoning
    for (const ModelOutput& o : outputs) {
        const auto it = index.find(o.id);
        if (it == index.end())
            return Error::bad_argument("answer id '{}' is not in the {} data ({} items, file {}); ids are the "
                                       "dataset's own ids or 0-based line numbers",
                                       o.id, suite.name, items.size(), options.data_file);
        const EvalItem& item = items[it->second];
        ItemRecord r;
        r.id = o.id;
        r.sample = samples_seen[o.id]++;
        r.prompt = build_prompt(suite, item);
        r.output = o.output;
        r.reasoning_tokens = o.reasoning_tokens;
        r.answer_tokens = o.answer_tokens;
        r.latency_ms = o.latency_ms;
        r.ttft_ms = o.ttft_ms;
        const OutputParts parts = split_output(o.output);
        r.reasoning_chars = parts.reasoning.size();
        r.answer_chars = parts.answer.size();
        run.items.push_back(std::move(r));
        item_of.push_back(it->second);
        cut_off.push_back(o.finish_reason == "length" && o.output.find("</think>") == std::string::npos);
    }

    const size_t total = run.items.size();
    std::atomic<size_t> done{0}, n_correct{0};
    std::mutex progress_mutex;
    auto report_progress = [&](bool correct) {
        if (correct) ++n_correct;
        const size_t d = ++done;
        if (options.progress) {
            std::lock_guard<std::mutex> lock(progress_mutex);
            options.progress(d, total, n_correct.load());
        }
    };

    json sandbox_json = nullptr;
    if (suite.kind == SuiteKind::kMath) {
        for (size_t k = 0; k < total; ++k) {
            ItemRecord& r = run.items[k];
            const EvalItem& item = items[item_of[k]];
            MathAnswer a;
            a.truncated = true;
            if (!cut_off[k]) a = extract_math_answer(r.output);
            r.extracted = a.answer;
            r.truncated = a.truncated;
            r.method = extract_method_name(a.method);
            r.reference = item.reference;
            r.correct = !a.answer.empty() && suite.answers_equal(a.answer, item.reference);
            report_progress(r.correct);
        }
    } else {
        auto sandbox = Sandbox::create(options.sandbox);
        if (!sandbox) return sandbox.error();
        std::vector<std::string> programs(total);
        for (size_t k = 0; k < total; ++k) {
            ItemRecord& r = run.items[k];
            CodeAnswer a;
            a.truncated = true;
            if (!cut_off[k]) a = extract_code_answer(r.output);
            r.truncated = a.truncated;
            r.extracted = a.code;
            r.method = a.truncated ? "none" : (a.from_fence ? "fence" : "whole");
            if (!a.truncated && !trim(a.code).empty())
                programs[k] = suite.build_program(items[item_of[k]], a.code);
        }
        // Workers take the next output from a shared counter; worker w uses sandbox slot w.
        const int n_workers = std::max(1, std::min<int>(options.parallel, static_cast<int>(std::max<size_t>(total, 1))));
        std::atomic<size_t> next{0};
        const auto runs_t0 = std::chrono::steady_clock::now();
        auto worker = [&](int slot) {
            for (size_t k = next++; k < total; k = next++) {
                ItemRecord& r = run.items[k];
                if (!programs[k].empty()) {
                    r.run = sandbox->run_python(programs[k], slot);
                    r.correct = r.run->status == RunStatus::kPassed;
                }
                report_progress(r.correct);
            }
        };
        std::vector<std::thread> threads;
        for (int w = 1; w < n_workers; ++w) threads.emplace_back(worker, w);
        worker(0);
        for (auto& t : threads) t.join();
        const double runs_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - runs_t0).count();
        std::map<std::string, size_t> by_status;
        size_t n_runs = 0;
        for (const auto& r : run.items)
            if (r.run) {
                ++by_status[run_status_name(r.run->status)];
                ++n_runs;
            }
        for (const auto& r : run.items) {
            if (r.run && r.run->status == RunStatus::kSandboxError)
                return Error::make(ErrorKind::kUnsupported, "sandbox: item {} could not be run: {}", r.id,
                                   trim(r.run->stderr_tail));
        }
        sandbox_json = {{"runs", n_runs},
                        {"wall_s", runs_s},
                        {"items_per_s", runs_s > 0 ? static_cast<double>(n_runs) / runs_s : 0.0},
                        {"parallel", n_workers},
                        {"status", by_status},
                        {"limits", limits_json(sandbox->config().limits)}};
    }

    // Summary.
    RunSummary& s = run.summary;
    s.suite = std::string(suite.name);
    s.kind = suite_kind_name(suite.kind);
    s.source = options.source;
    s.data_file = options.data_file;
    s.created = utc_timestamp();
    s.n_dataset = items.size();
    s.n_samples = total;
    std::map<size_t, std::pair<int, int>> per_item;  // item -> (samples, correct)
    for (size_t k = 0; k < total; ++k) {
        auto& [n, c] = per_item[item_of[k]];
        ++n;
        c += run.items[k].correct ? 1 : 0;
    }
    s.n = per_item.size();
    s.correct = n_correct.load();
    s.accuracy = total ? static_cast<double>(s.correct) / static_cast<double>(total) : 0.0;
    std::tie(s.ci_low, s.ci_high) = wilson_interval(s.correct, total);
    int min_samples = per_item.empty() ? 0 : INT32_MAX, max_samples = 0;
    for (const auto& [_, nc] : per_item) {
        min_samples = std::min(min_samples, nc.first);
        max_samples = std::max(max_samples, nc.first);
    }
    s.samples_per_item = static_cast<size_t>(max_samples);
    // pass@k for k = 1, 2, 4, ... up to the smallest sample count (every item must have k).
    for (int k = 1; k <= min_samples; k *= 2) {
        double sum = 0;
        for (const auto& [_, nc] : per_item) sum += pass_at_k(nc.first, nc.second, k);
        s.pass_at_k[k] = sum / static_cast<double>(per_item.size());
    }
    if (min_samples > 1 && (min_samples & (min_samples - 1)) != 0) {
        double sum = 0;
        for (const auto& [_, nc] : per_item) sum += pass_at_k(nc.first, nc.second, min_samples);
        s.pass_at_k[min_samples] = sum / static_cast<double>(per_item.size());
    }
    double rc = 0, ac = 0;
    for (const auto& r : run.items) {
        s.n_truncated += r.truncated ? 1 : 0;
        s.n_no_answer += (!r.truncated && trim(r.extracted).empty()) ? 1 : 0;
        rc += static_cast<double>(r.reasoning_chars);
        ac += static_cast<double>(r.answer_chars);
    }
    if (total) {
        s.mean_reasoning_chars = rc / static_cast<double>(total);
        s.mean_answer_chars = ac / static_cast<double>(total);
    }
    s.model = options.model;
    s.generation = options.generation;
    s.hardware = options.hardware;
    s.perf.peak_memory_bytes = options.peak_memory_bytes;
    s.perf.mean_reasoning_tokens = mean_of(run.items, &ItemRecord::reasoning_tokens);
    s.perf.mean_answer_tokens = mean_of(run.items, &ItemRecord::answer_tokens);
    s.perf.mean_latency_ms = mean_of(run.items, &ItemRecord::latency_ms);
    s.perf.mean_ttft_ms = mean_of(run.items, &ItemRecord::ttft_ms);
    // ms per generated token over the outputs that report both latency and token counts.
    double lat = 0, toks = 0;
    for (const auto& r : run.items)
        if (r.latency_ms && (r.reasoning_tokens || r.answer_tokens)) {
            lat += *r.latency_ms;
            toks += r.reasoning_tokens.value_or(0) + r.answer_tokens.value_or(0);
        }
    if (toks > 0 && lat > 0) {
        s.perf.ms_per_token = lat / toks;
        s.perf.tokens_per_s = 1000.0 * toks / lat;
    }
    s.sandbox = sandbox_json;
    s.grading_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return run;
}

Status write_run(const std::string& dir, const GradedRun& run) {
    RETORT_TRY(make_directories(dir));
    std::string lines;
    for (const auto& r : run.items) lines += dump_json(to_json(r)) + "\n";
    RETORT_TRY(write_text_file(dir + "/items.jsonl", lines));
    RETORT_TRY(write_text_file(dir + "/summary.json", dump_json(to_json(run.summary), 2) + "\n"));
    return ok_status();
}

}  // namespace retort::eval
