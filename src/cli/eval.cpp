// `retort eval`: generate answers for one or more suites — in-process on the runtime worker
// (continuous batching, the same worker `retort serve` uses) or through an OpenAI-compatible
// endpoint — appending each to DIR/outputs.jsonl as it completes (so --resume can continue an
// interrupted run), then grade them with the suite's grader and write items.jsonl and
// summary.json with the model, generation, perf and hardware figures. See docs/eval.md.
#include "cli/commands.h"
#include "cli/common.h"
#include "eval/endpoint.h"
#include "eval/grader.h"
#include "eval/jsonl.h"
#include "eval/local_generator.h"
#include "eval/runner.h"
#include "eval/suite.h"
#include "eval/text.h"
#include "model/config.h"
#include "util/memory.h"

#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace retort::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct EvalFlags {
    EngineFlags engine;
    std::string suites, endpoint, api_key, remote_model, out, data;
    int64_t limit = 0;
    int samples = 1;
    int parallel = 8;
    int64_t max_tokens = 32768;
    int64_t reasoning_budget = -1;
    bool resume = false;
    SamplingParams sampling;
    uint64_t seed = 0;
    float temperature = 0.6f;
    double rps = 0;
    int retries = 5;
    double request_timeout_s = 1800, connect_timeout_s = 10;
    int sandbox_parallel = 2;
    double sandbox_timeout_s = 10;
    CLI::App* sub = nullptr;
    CLI::Option* seed_opt = nullptr;
};

bool given(const CLI::App& sub, const char* name) {
    const CLI::Option* o = sub.get_option_no_throw(name);
    return o != nullptr && o->count() > 0;
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= s.size()) {
        size_t j = s.find(',', i);
        if (j == std::string::npos) j = s.size();
        std::string item(eval::trim(std::string_view(s).substr(i, j - i)));
        if (!item.empty()) out.push_back(item);
        i = j + 1;
    }
    return out;
}

// "runs/<suite>-<model>-<YYYYmmdd-HHMMSS>": the model slug keeps letters, digits and ._-.
std::string slug(const std::string& s) {
    std::string out;
    for (char c : s) out += (std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-') ? c : '_';
    return out.empty() ? "model" : out;
}

// Ctrl-C: the first stops new answers and lets those in flight finish (each is written as it
// completes, so --resume loses nothing); the handler then restores the default, so a second
// Ctrl-C ends the process at once.
std::atomic<bool> g_eval_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void on_eval_sigint(int) {
    g_eval_interrupted.store(true);
    signal(SIGINT, SIG_DFL);
    const char msg[] = "\nretort eval: interrupted: finishing the answers in flight (Ctrl-C again to stop now)\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
}

// What decides the outputs of a run, kept in DIR/run.json so that --resume can refuse to mix
// answers generated under other settings into one outputs.jsonl. --limit and --samples may grow
// on a resume (it generates what is missing), so they are not part of it.
// An endpoint's ModelInfo holds its URL as `file`.
nlohmann::json run_settings(const eval::ModelInfo& model, bool remote, const eval::GenerationInfo& g) {
    auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
    // The model by name and size, not path: the same file reached from another directory is the same run.
    return {{"model", model.name},
            {"model_bytes", opt(model.size_bytes)},
            {"endpoint", remote ? nlohmann::json(model.file) : nlohmann::json(nullptr)},
            {"max_tokens", opt(g.max_tokens)},
            {"reasoning_budget", opt(g.reasoning_budget)},
            {"temperature", opt(g.temperature)},
            {"top_p", opt(g.top_p)},
            {"seed", opt(g.seed)}};
}

// A fresh run writes DIR/run.json; a resumed one must match it (a run from before run.json
// existed gets one written now).
Status check_run_settings(const std::string& dir, const nlohmann::json& now, bool resume) {
    const std::string path = dir + "/run.json";
    std::error_code ec;
    if (resume && fs::exists(path, ec)) {
        auto text = eval::read_text_file(path);
        if (!text.ok()) return text.error();
        nlohmann::json first;
        try {
            first = nlohmann::json::parse(*text);
        } catch (const nlohmann::json::exception& e) {
            return Error::bad_argument("{}: not valid JSON ({}); remove it to resume anyway", path, e.what());
        }
        std::string diffs;
        for (const auto& [key, value] : now.items()) {
            const nlohmann::json was = first.contains(key) ? first[key] : nlohmann::json(nullptr);
            if (was != value) diffs += fmt::format("\n  {}: first run {}, now {}", key, was.dump(), value.dump());
        }
        if (!diffs.empty())
            return Error::bad_argument("--resume: {} was generated with other settings; resume with the first "
                                       "run's flags or use another --out:{}",
                                       dir, diffs);
        return ok_status();
    }
    return eval::write_text_file(path, eval::dump_json(now, 2) + "\n");
}

std::string timestamp() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    return buf;
}

// The newest runs/<suite>-<model>-* that holds outputs.jsonl (what --resume without --out continues).
std::string latest_run_dir(const std::string& prefix) {
    std::error_code ec;
    std::string best;
    if (!fs::is_directory("runs", ec)) return best;
    for (const auto& e : fs::directory_iterator("runs", ec)) {
        const std::string name = e.path().filename().string();
        if (eval::starts_with(name, prefix + "-") && fs::exists(e.path() / "outputs.jsonl", ec) &&
            (best.empty() || e.path().string() > best))
            best = e.path().string();
    }
    return best;
}

std::string format_params(int64_t n) {
    if (n >= 1'000'000'000) return fmt::format("{:.1f}B", n / 1e9);
    if (n >= 1'000'000) return fmt::format("{:.1f}M", n / 1e6);
    return fmt::format("{:.0f}K", n / 1e3);
}

// "Q4_K - Medium" -> "Q4_K_M" (the name the files carry).
std::string short_quant(std::string q) {
    q = eval::replace_all(std::move(q), " - Medium", "_M");
    q = eval::replace_all(std::move(q), " - Small", "_S");
    q = eval::replace_all(std::move(q), " - Large", "_L");
    q = eval::replace_all(std::move(q), "all ", "");
    return q;
}

std::string cpu_model_name() {
    std::FILE* f = std::fopen("/proc/cpuinfo", "r");
    if (f == nullptr) return "";
    char line[512];
    std::string name;
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "model name", 10) == 0) {
            if (const char* c = std::strchr(line, ':')) name = std::string(eval::trim(c + 1));
            break;
        }
    std::fclose(f);
    return name;
}

std::string duration_text(double s) {
    if (!(s >= 0) || s > 1e7) return "?";
    const int64_t t = (int64_t)(s + 0.5);
    if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
    if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
    return fmt::format("{}s", t);
}

// The progress display: a redrawn bar on a terminal, a plain line per ~10% (or 30 s) otherwise.
class Progress {
public:
    Progress(std::string suite, bool tty) : suite_(std::move(suite)), tty_(tty) {}
    void update(const eval::GenerationProgress& p) {
        const size_t fresh = p.done - p.resumed;
        const double tok_s = p.elapsed_s > 0 ? p.tokens / p.elapsed_s : 0;
        const double eta = fresh > 0 ? p.elapsed_s / fresh * (double)(p.total - p.done) : -1;
        const std::string acc = p.checked > 0 ? fmt::format("{:.1f}%", 100.0 * p.correct / p.checked) : "-";
        if (tty_) {
            constexpr int kWidth = 24;
            const int fill = p.total ? (int)(kWidth * p.done / p.total) : kWidth;
            fmt::print(stderr, "\r\033[K{} [{}{}] {}/{}  acc {}  {:.1f} tok/s  ETA {}", suite_, std::string(fill, '#'),
                       std::string(kWidth - fill, '.'), p.done, p.total, acc, tok_s,
                       p.done == p.total ? "0s" : duration_text(eta));
            std::fflush(stderr);
            drew_ = true;
            return;
        }
        const size_t decile = p.total ? 10 * p.done / p.total : 10;
        const auto now = Clock::now();
        if (p.done != p.total && decile == last_decile_ && now - last_ < std::chrono::seconds(30)) return;
        last_decile_ = decile;
        last_ = now;
        fmt::print(stderr, "{}: {}/{} done ({} resumed), acc so far {}, {:.1f} tok/s, ETA {}\n", suite_, p.done,
                   p.total, p.resumed, acc, tok_s, p.done == p.total ? "0s" : duration_text(eta));
    }
    void end() {
        if (drew_) fmt::print(stderr, "\n");
        drew_ = false;
    }

private:
    std::string suite_;
    bool tty_;
    bool drew_ = false;
    size_t last_decile_ = SIZE_MAX;
    Clock::time_point last_ = Clock::now();
};

struct SuiteRun {
    const eval::Suite* suite;
    std::string data, dir;
    std::vector<eval::EvalItem> items;
    size_t n_dataset = 0;
};

int run_eval(EvalFlags& fl) {
    const bool remote = !fl.endpoint.empty();
    // --- flags that only make sense together
    if (remote && !fl.engine.model.empty()) return fail("eval", "give -m MODEL or --endpoint URL, not both");
    if (!remote)
        for (const char* f : {"--api-key", "--remote-model", "--rps", "--retries", "--request-timeout"})
            if (given(*fl.sub, f)) return fail("eval", fmt::format("{} needs --endpoint", f));
    if (remote && fl.reasoning_budget >= 0)
        return fail("eval", "--reasoning-budget works in-process only (an endpoint cannot be told to close <think>)");
    std::vector<const eval::Suite*> suites;
    for (const auto& name : split_list(fl.suites)) {
        const eval::Suite* s = eval::find_suite(name);
        if (s == nullptr) return fail("eval", fmt::format("unknown suite '{}' (suites: {})", name, eval::suite_names()));
        for (const auto* t : suites)
            if (t == s) return fail("eval", fmt::format("suite '{}' is given twice", name));
        suites.push_back(s);
    }
    if (suites.empty()) return fail("eval", "--suite names no suite (suites: " + eval::suite_names() + ")");
    if (!fl.data.empty() && suites.size() > 1) return fail("eval", "--data works with one suite only");

    // --- sampling: DeepSeek's R1 settings unless overridden
    SamplingParams sp = fl.sampling;
    sp.temperature = given(*fl.sub, "--temp") ? fl.sampling.temperature : fl.temperature;
    if (!given(*fl.sub, "--top-p")) sp.top_p = 0.95f;
    if (!given(*fl.sub, "--top-k")) sp.top_k = 0;
    if (!given(*fl.sub, "--min-p")) sp.min_p = 0.0f;
    sp.seed = fl.seed;
    if (Status st = sp.validate(); !st.ok()) return fail("eval", st.error().message);

    // --- datasets
    std::vector<SuiteRun> runs;
    for (const auto* s : suites) {
        SuiteRun r{s, fl.data, "", {}, 0};
        if (r.data.empty()) r.data = find_default_data(s->data_file);
        if (r.data.empty())
            return fail("eval", fmt::format("data/eval/{} not found here or above the executable; pass --data FILE",
                                            s->data_file));
        auto items = eval::load_items(*s, r.data);
        if (!items.ok()) return fail("eval", items.error().message);
        r.n_dataset = items->size();
        r.items = std::move(items.value());
        if (fl.limit > 0 && (size_t)fl.limit < r.items.size()) r.items.resize((size_t)fl.limit);
        runs.push_back(std::move(r));
    }

    // --- the generator
    std::unique_ptr<eval::EndpointClient> client;
    std::unique_ptr<eval::LocalGenerator> local;
    eval::ModelInfo model;
    std::optional<eval::HardwareInfo> hardware;
    if (remote) {
        eval::EndpointOptions eo;
        eo.url = fl.endpoint;
        eo.api_key = fl.api_key;
        eo.model = fl.remote_model;
        eo.rps = fl.rps;
        eo.retry.max_attempts = fl.retries + 1;
        eo.request_timeout_s = fl.request_timeout_s;
        eo.connect_timeout_s = fl.connect_timeout_s;
        auto c = eval::EndpointClient::create(eo);
        if (!c.ok()) return fail("eval", c.error().message);
        client = std::move(c.value());
        auto models = client->list_models();
        if (!models.ok()) return fail("eval", models.error().message);
        if (fl.remote_model.empty()) {
            if (models->empty())
                return fail("eval", fmt::format("{} lists no models; name one with --remote-model", client->base_url()));
            eo.model = models->front();
            auto c2 = eval::EndpointClient::create(eo);
            client = std::move(c2.value());
        }
        model = eval::ModelInfo{eo.model, client->base_url(), "", "", std::nullopt};
        fmt::print(stderr, "retort eval: endpoint {} model '{}', {} requests in flight{}\n", client->base_url(),
                   eo.model, fl.parallel, fl.rps > 0 ? fmt::format(", at most {} per second", fl.rps) : "");
    } else {
        auto engine = load_engine(fl.engine, fl.parallel);
        if (!engine.ok()) return fail("eval", engine.error().message);
        Engine& e = *engine.value();
        for (const auto& note : e.notes()) fmt::print(stderr, "retort eval: {}\n", note);
        std::optional<ChatTemplate> tmpl;
        if (auto t = ChatTemplate::from_gguf(e.model().file(), e.tokenizer()); t.ok()) {
            tmpl = std::move(t.value());
        } else {
            const int32_t bos = e.tokenizer().bos();
            tmpl = ChatTemplate(ChatFormat::kR1, bos >= 0 ? e.tokenizer().token_to_piece(bos, true) : "");
            fmt::print(stderr, "retort eval: {}; prompting in the r1 format\n", t.error().message);
        }
        int64_t n_params = 0;
        for (const auto& t : e.model().file().tensors()) n_params += t.n_elements();
        const bool embedded = fl.engine.model.empty();
        std::error_code ec;
        std::optional<uint64_t> size;
        if (!embedded) size = (uint64_t)fs::file_size(fl.engine.model, ec);
        if (ec) size.reset();
        model.name = embedded ? "stories260K" : fs::path(fl.engine.model).stem().string();
        model.file = embedded ? "<embedded stories260K.gguf>" : fl.engine.model;
        model.params = format_params(n_params);
        const bool has_ftype = e.config().file_type != 0 || e.model().file().find("general.file_type") != nullptr;
        model.quant = has_ftype ? short_quant(file_type_name(e.config().file_type)) : "";
        model.size_bytes = size;
        hardware = eval::HardwareInfo{cpu_model_name(), "", std::string("cpu-") + e.kernels().isa, e.n_threads(),
                                      total_ram_bytes()};
        fmt::print(stderr, "retort eval: model {} ({} params{}), {} sequences batched, context {} tokens each\n",
                   model.name, model.params, model.quant.empty() ? "" : ", " + model.quant, fl.parallel, e.n_ctx());
        WorkerOptions wo;
        wo.max_queue = fl.parallel;
        auto g = eval::LocalGenerator::start(std::move(engine.value()), *tmpl, wo);
        if (!g.ok()) return fail("eval", g.error().message);
        local = std::move(g.value());
    }

    eval::GenerationInfo ginfo;
    // The floats as written on the command line (0.6, not 0.6000000238).
    ginfo.temperature = std::round(sp.temperature * 1e6) / 1e6;
    ginfo.top_p = std::round(sp.top_p * 1e6) / 1e6;
    ginfo.max_tokens = fl.max_tokens;
    if (fl.reasoning_budget >= 0) ginfo.reasoning_budget = fl.reasoning_budget;
    ginfo.seed = (int64_t)fl.seed;
    ginfo.samples = fl.samples;

    // --- run directories
    const nlohmann::json settings = run_settings(model, remote, ginfo);
    const std::string stem = slug(model.name);
    for (auto& r : runs) {
        const std::string name(r.suite->name);
        if (!fl.out.empty()) {
            r.dir = runs.size() > 1 ? (fs::path(fl.out) / name).string() : fl.out;
        } else if (fl.resume) {
            r.dir = latest_run_dir(name + "-" + stem);
            if (r.dir.empty())
                return fail("eval", fmt::format("--resume: no runs/{}-{}-* with an outputs.jsonl here; pass --out DIR",
                                                name, stem));
        } else {
            r.dir = "runs/" + name + "-" + stem + "-" + timestamp();
        }
        std::error_code ec;
        if (!fl.resume && fs::exists(fs::path(r.dir) / "outputs.jsonl", ec))
            return fail("eval", fmt::format("{}/outputs.jsonl exists: pass --resume to continue that run, or another --out",
                                            r.dir));
        if (auto st = eval::make_directories(r.dir); !st.ok()) return fail("eval", st.error().message);
        if (auto st = check_run_settings(r.dir, settings, fl.resume); !st.ok()) return fail("eval", st.error().message);
    }

    eval::GenerateFn generate;
    std::atomic<int64_t> n_too_long{0};
    if (remote) {
        generate = [&](const eval::GenerationJob& job) -> Result<eval::Generated> {
            eval::ChatRequest req;
            req.user = job.prompt;
            req.temperature = sp.temperature;
            req.top_p = sp.top_p;
            req.max_tokens = fl.max_tokens;
            req.seed = job.seed;
            auto r = client->chat(req);
            if (!r.ok()) return r.error();
            eval::Generated g;
            g.output = eval::assemble_output(*r);
            g.finish_reason = r->finish_reason;
            g.latency_ms = r->latency_ms;
            g.ttft_ms = r->ttft_ms;
            g.attempts = r->attempts;
            g.n_tokens = r->completion_tokens.value_or(0);
            if (r->completion_tokens && r->reasoning_tokens) {
                g.reasoning_tokens = (double)*r->reasoning_tokens;
                g.answer_tokens = (double)(*r->completion_tokens - *r->reasoning_tokens);
            } else if (r->completion_tokens && r->reasoning.empty()) {
                g.answer_tokens = (double)*r->completion_tokens;
            }
            return g;
        };
    } else {
        generate = [&](const eval::GenerationJob& job) -> Result<eval::Generated> {
            eval::LocalRequest req;
            req.user = job.prompt;
            req.generation.sampling = sp;
            req.generation.sampling.seed = job.seed;
            req.generation.max_tokens = fl.max_tokens;
            req.reasoning_budget = fl.reasoning_budget;
            auto g = local->generate(req);
            if (g.ok() || g.error().kind != ErrorKind::kContextFull) return g;
            // A prompt the context cannot hold: no answer (graded as cut off), and the run goes on.
            n_too_long.fetch_add(1);
            eval::Generated none;
            none.finish_reason = "length";
            none.reasoning_tokens = 0;
            none.answer_tokens = 0;
            return none;
        };
    }

    // --- per suite: generate, grade, write
    const bool tty = isatty(STDERR_FILENO) != 0;
    struct sigaction sa {};
    sa.sa_handler = on_eval_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    for (auto& r : runs) {
        const std::string name(r.suite->name);
        eval::RunnerOptions ro;
        ro.parallel = fl.parallel;
        ro.samples = fl.samples;
        ro.seed = fl.seed;
        ro.outputs_path = r.dir + "/outputs.jsonl";
        ro.resume = fl.resume;
        ro.stop = &g_eval_interrupted;
        Progress progress(name, tty);
        ro.progress = [&](const eval::GenerationProgress& p) { progress.update(p); };
        const int64_t retries_before = client ? client->retries() : 0;
        auto gen = eval::run_generation(*r.suite, r.items, generate, ro);
        progress.end();
        if (!gen.ok()) {
            fmt::print(stderr, "retort eval: {}: {}\nretort eval: the outputs so far are in {}; "
                               "rerun with --resume --out {} to continue\n",
                       name, gen.error().message, ro.outputs_path, r.dir);
            return 1;
        }
        if (gen->stopped) {
            fmt::print(stderr, "retort eval: {}: stopped by Ctrl-C after {} new outputs ({} resumed); they are in {}; "
                               "rerun with --resume --out {} to continue\n",
                       name, gen->generated, gen->resumed, ro.outputs_path, r.dir);
            return 130;
        }
        if (const int64_t n = n_too_long.exchange(0); n > 0)
            fmt::print(stderr, "retort eval: {}: {} prompt(s) did not fit the context of {} tokens and have no answer "
                               "(raise --ctx)\n",
                       name, n, local->worker().n_ctx());
        if (gen->dropped_lines > 0)
            fmt::print(stderr, "retort eval: {}: dropped {} cut-off line(s) from outputs.jsonl\n", name,
                       gen->dropped_lines);
        const double items_per_s = gen->wall_s > 0 ? gen->generated / gen->wall_s : 0;
        const double tok_per_s = gen->wall_s > 0 ? gen->tokens / gen->wall_s : 0;
        fmt::print(stderr, "retort eval: {}: generated {} outputs ({} resumed) in {:.1f} s: {:.2f} outputs/s, "
                           "{:.1f} tokens/s\n",
                   name, gen->generated, gen->resumed, gen->wall_s, items_per_s, tok_per_s);

        eval::GradeOptions go;
        go.parallel = fl.sandbox_parallel;
        go.sandbox.limits.wall_time_s = fl.sandbox_timeout_s;
        go.sandbox.limits.cpu_time_s = std::max(1, (int)fl.sandbox_timeout_s);
        go.data_file = r.data;
        go.source = "eval";
        go.model = model;
        go.generation = ginfo;
        go.hardware = hardware;
        if (local) go.peak_memory_bytes = peak_rss_bytes();
        auto graded = eval::grade_outputs(*r.suite, r.items, gen->outputs, go);
        if (!graded.ok()) {
            fmt::print(stderr, "retort eval: {}: {}\n", name, graded.error().message);
            return 1;
        }
        graded->summary.retort_version = RETORT_VERSION;
        graded->summary.n_dataset = r.n_dataset;
        if (auto st = eval::write_run(r.dir, *graded); !st.ok()) {
            fmt::print(stderr, "retort eval: {}\n", st.error().message);
            return 1;
        }
        // summary.json plus what only eval knows: how the outputs were generated.
        nlohmann::json sj = eval::to_json(graded->summary);
        sj["eval"] = {{"backend", remote ? "endpoint" : "engine"},
                      {"endpoint", remote ? nlohmann::json(client->base_url()) : nlohmann::json(nullptr)},
                      {"parallel", fl.parallel},
                      {"generated", gen->generated},
                      {"resumed", gen->resumed},
                      {"tokens", gen->tokens},
                      {"wall_s", gen->wall_s},
                      {"items_per_s", items_per_s},
                      {"tokens_per_s", tok_per_s},
                      {"retries", client ? client->retries() - retries_before : 0}};
        if (auto st = eval::write_text_file(r.dir + "/summary.json", eval::dump_json(sj, 2) + "\n"); !st.ok()) {
            fmt::print(stderr, "retort eval: {}\n", st.error().message);
            return 1;
        }
        const auto& s = graded->summary;
        fmt::print("{}: {}/{} correct, accuracy {:.4f} (95% CI {:.4f}-{:.4f}), {} items", s.suite, s.correct,
                   s.n_samples, s.accuracy, s.ci_low, s.ci_high, s.n);
        if (s.n_truncated) fmt::print(", {} cut off while reasoning", s.n_truncated);
        fmt::print("\nwrote {}/items.jsonl and {}/summary.json\n", r.dir, r.dir);
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

void register_eval(CLI::App& app, CommandList& commands) {
    auto fl = std::make_shared<EvalFlags>();
    CLI::App* sub = app.add_subcommand("eval", "Generate answers for eval suites (in-process or an endpoint) and grade them");
    fl->sub = sub;
    sub->add_option("--suite", fl->suites, "Suite or comma-separated suites: " + eval::suite_names())->required();
    fl->engine.add_to(sub, /*model_required=*/false);
    sub->add_option("--endpoint", fl->endpoint, "OpenAI-compatible server (http(s)://HOST[:PORT][/PATH]) instead of -m");
    sub->add_option("--api-key", fl->api_key, "Bearer key for --endpoint");
    sub->add_option("--remote-model", fl->remote_model, "Model name sent to --endpoint (default: its first listed)");
    sub->add_option("--limit", fl->limit, "First N items of each suite (0: all)")->check(CLI::Range((int64_t)0, (int64_t)1 << 30));
    sub->add_option("--samples", fl->samples, "Answers per item (pass@k, mean accuracy)")->check(CLI::Range(1, 1024));
    add_sampling_flags(sub, fl->sampling, fl->seed, fl->seed_opt);
    sub->add_option("--temperature", fl->temperature, "Same as --temp (default 0.6 here)")->check(CLI::Range(0.0, 100.0));
    sub->add_option("--parallel,--max-concurrency", fl->parallel,
                    "Requests in flight: sequences batched in-process, or concurrent requests to --endpoint")
        ->check(CLI::Range(1, 256));
    sub->add_option("--max-tokens", fl->max_tokens, "Most tokens generated per answer (capped to the context)")
        ->check(CLI::Range((int64_t)1, (int64_t)1 << 24));
    sub->add_option("--reasoning-budget", fl->reasoning_budget,
                    "In-process: after N reasoning tokens force </think> and let the model answer")
        ->check(CLI::Range((int64_t)0, (int64_t)1 << 24));
    sub->add_option("--out", fl->out, "Run directory (several suites: DIR/<suite>; default runs/<suite>-<model>-<time>)");
    sub->add_option("--data", fl->data, "Dataset file in the suite's format (one suite only)");
    sub->add_flag("--resume", fl->resume, "Continue an interrupted run: keep DIR/outputs.jsonl, generate what is missing");
    sub->add_option("--rps", fl->rps, "Endpoint: most request starts per second (0: no limit)")->check(CLI::Range(0.0, 1e6));
    sub->add_option("--retries", fl->retries, "Endpoint: retries of a failed request (429, 5xx, connection)")
        ->check(CLI::Range(0, 100));
    sub->add_option("--request-timeout", fl->request_timeout_s, "Endpoint: seconds one request may take")
        ->check(CLI::Range(1.0, 86400.0));
    sub->add_option("--sandbox-parallel", fl->sandbox_parallel, "Code suites: sandbox runs in flight")->check(CLI::Range(1, 64));
    sub->add_option("--timeout", fl->sandbox_timeout_s, "Code suites: wall-clock and CPU limit per program, seconds")
        ->check(CLI::Range(0.5, 600.0));
    commands.push_back({sub, [fl] { return run_eval(*fl); }});
}

}  // namespace retort::cli
