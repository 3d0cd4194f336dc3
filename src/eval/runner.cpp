#include "eval/runner.h"

#include "eval/answer_extract.h"
#include "eval/jsonl.h"
#include "eval/text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace retort::eval {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// Grades a math output on the way, for the progress line (the real grading comes after).
bool quick_math_correct(const Suite& suite, const EvalItem& item, const Generated& g) {
    if (g.finish_reason == "length" && g.output.find("</think>") == std::string::npos) return false;
    const MathAnswer a = extract_math_answer(g.output);
    return !a.truncated && !a.answer.empty() && suite.answers_equal(a.answer, item.reference);
}

}  // namespace

uint64_t item_seed(uint64_t seed, std::string_view id, int sample) {
    // FNV-1a over the id, mixed with the run seed and the sample index (splitmix64 finalizer).
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
    uint64_t z = seed + h * 0x9e3779b97f4a7c15ull + (uint64_t)sample * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (z ^ (z >> 31)) & 0x7fffffffffffffffull;  // JSON-safe as a signed integer too
}

Result<std::vector<ModelOutput>> read_outputs_for_resume(const std::string& path, size_t& dropped) {
    dropped = 0;
    auto text = read_text_file(path);
    if (!text) return text.error();
    std::string good;
    size_t start = 0;
    while (start < text->size()) {
        size_t nl = text->find('\n', start);
        const bool complete = nl != std::string::npos;
        if (!complete) nl = text->size();
        const std::string_view line(text->data() + start, nl - start);
        start = nl + 1;
        if (trim(line).empty()) continue;
        auto j = json::parse(line, nullptr, false);
        if (!complete || j.is_discarded() || !j.is_object() || !j.contains("id") || !j.contains("output")) {
            ++dropped;
            continue;
        }
        good.append(line);
        good += '\n';
    }
    if (dropped > 0) RETORT_TRY(write_text_file(path, good));
    return read_outputs(path);
}

Result<GenerationRun> run_generation(const Suite& suite, const std::vector<EvalItem>& items, const GenerateFn& gen,
                                     const RunnerOptions& opt) {
    GenerationRun run;
    const int samples = std::max(1, opt.samples);
    std::map<std::string, size_t> index;  // id -> item position
    for (size_t i = 0; i < items.size(); ++i) index[items[i].id] = i;

    // What the file already holds (resume) per item, at most `samples` each.
    std::vector<std::vector<ModelOutput>> per_item(items.size());
    std::error_code ec;
    if (opt.resume && std::filesystem::exists(opt.outputs_path, ec)) {
        auto old = read_outputs_for_resume(opt.outputs_path, run.dropped_lines);
        if (!old) return old.error();
        for (auto& o : *old) {
            auto it = index.find(o.id);
            if (it == index.end() || per_item[it->second].size() >= (size_t)samples) continue;
            per_item[it->second].push_back(std::move(o));
            ++run.resumed;
        }
    }
    std::vector<GenerationJob> jobs;
    for (size_t i = 0; i < items.size(); ++i)
        for (int s = (int)per_item[i].size(); s < samples; ++s)
            jobs.push_back({&items[i], s, suite.build_prompt(items[i]), item_seed(opt.seed, items[i].id, s)});

    std::FILE* f = std::fopen(opt.outputs_path.c_str(), opt.resume ? "a" : "w");
    if (f == nullptr) return Error::make(ErrorKind::kIo, "cannot write {}", opt.outputs_path);

    std::mutex mu;  // guards everything below, the file and the progress callback
    std::vector<std::vector<std::pair<int, ModelOutput>>> fresh(items.size());
    size_t next = 0;
    std::optional<Error> failure;
    GenerationProgress progress;
    progress.total = items.size() * (size_t)samples;
    progress.resumed = run.resumed;
    progress.done = run.resumed;
    const bool math = suite.kind == SuiteKind::kMath;
    if (math)
        for (size_t i = 0; i < items.size(); ++i)
            for (const auto& o : per_item[i]) {
                Generated g;
                g.output = o.output;
                g.finish_reason = o.finish_reason;
                ++progress.checked;
                progress.correct += quick_math_correct(suite, items[i], g) ? 1 : 0;
            }
    const auto t0 = Clock::now();
    if (opt.progress) opt.progress(progress);

    auto worker = [&] {
        while (true) {
            const GenerationJob* job;
            {
                std::lock_guard<std::mutex> lock(mu);
                if (failure || next >= jobs.size()) return;
                if (opt.stop != nullptr && opt.stop->load()) {
                    run.stopped = true;
                    return;
                }
                job = &jobs[next++];
            }
            Result<Generated> g = gen(*job);
            std::lock_guard<std::mutex> lock(mu);
            if (!g.ok()) {
                if (!failure) failure = Error{g.error().kind, "item " + job->item->id + ": " + g.error().message};
                return;
            }
            ModelOutput o{job->item->id, g->output, g->reasoning_tokens, g->answer_tokens, g->latency_ms, g->ttft_ms,
                          g->finish_reason};
            const json line = {{"id", o.id},
                               {"sample", job->sample},
                               {"seed", job->seed},
                               {"output", o.output},
                               {"finish_reason", o.finish_reason},
                               {"reasoning_tokens", optional_json(o.reasoning_tokens)},
                               {"answer_tokens", optional_json(o.answer_tokens)},
                               {"latency_ms", o.latency_ms ? json(*o.latency_ms) : json(nullptr)},
                               {"ttft_ms", optional_json(o.ttft_ms)},
                               {"attempts", g->attempts}};
            const std::string text = dump_json(line) + "\n";
            if (std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fflush(f) != 0) {
                if (!failure) failure = Error::make(ErrorKind::kIo, "cannot write {}", opt.outputs_path);
                return;
            }
            ++run.generated;
            run.tokens += g->n_tokens;
            ++progress.done;
            progress.tokens += g->n_tokens;
            if (math) {
                ++progress.checked;
                progress.correct += quick_math_correct(suite, *job->item, g.value()) ? 1 : 0;
            }
            progress.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
            const size_t at = index[job->item->id];
            fresh[at].emplace_back(job->sample, std::move(o));
            if (opt.progress) opt.progress(progress);
        }
    };
    const int n_threads = (int)std::min<size_t>((size_t)std::max(1, opt.parallel), std::max<size_t>(jobs.size(), 1));
    std::vector<std::thread> threads;
    for (int t = 0; t < n_threads; ++t) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    std::fclose(f);
    run.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (failure) return *failure;

    for (size_t i = 0; i < items.size(); ++i) {
        for (auto& o : per_item[i]) run.outputs.push_back(std::move(o));
        std::sort(fresh[i].begin(), fresh[i].end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (auto& [_, o] : fresh[i]) run.outputs.push_back(std::move(o));
    }
    return run;
}

}  // namespace retort::eval
