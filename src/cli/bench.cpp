// `retort bench`: prompt-processing (pp) and generation (tg) speed, generation at a context
// depth, and aggregate generation with N sequences decoding together, each with a warm-up
// run then mean/min/max over repetitions. Beside every tg figure: the machine's measured read
// bandwidth and the roofline it implies (bytes read per token / bandwidth); with --interleave-bw
// also the roofline at the bandwidth of streaming the model's own weights between repetitions.
#include "cli/commands.h"
#include "cli/common.h"
#include "util/bandwidth.h"
#include "util/fp16.h"
#include "util/memory.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <sys/utsname.h>

namespace retort::cli {

namespace {

struct BenchFlags {
    EngineFlags engine;
    std::vector<int64_t> pp{512};
    std::vector<int64_t> tg{128};
    std::vector<int> threads;
    std::vector<int64_t> depths{0};
    std::vector<int64_t> parallel{1};
    int reps = 5;
    std::string depth_fill = "compute";  // how -d fills the KV cache: "compute" or "random"
    double interleave_bw = 0;            // seconds of bandwidth probe around each tg repetition
    bool json = false, md = false;
};

struct Result1 {
    std::string test;
    int threads = 0;
    int reps = 0;
    double mean = 0, min = 0, max = 0;  // tokens/s
    double bytes_per_token = 0;         // for tg: weights + KV read per generated token
    double roofline = 0;                // tokens/s the bandwidth allows
    double sustained_bw = 0;            // --interleave-bw: mean bytes/s of the probes around the repetitions
    double sustained_roofline = 0;      // tokens/s that bandwidth allows
};

using Clock = std::chrono::steady_clock;

// Times `body` once as warm-up, then `reps` times; returns tokens/s stats.
template <typename F>
Result<Result1> measure(int reps, int64_t tokens, F&& body) {
    Result1 r;
    r.reps = reps;
    std::vector<double> tps;
    for (int i = 0; i <= reps; ++i) {
        auto s = body();  // returns seconds, or an Error
        if (!s.ok()) return s.error();
        if (i > 0) tps.push_back(tokens / s.value());
    }
    r.min = *std::min_element(tps.begin(), tps.end());
    r.max = *std::max_element(tps.begin(), tps.end());
    double sum = 0;
    for (double v : tps) sum += v;
    r.mean = sum / tps.size();
    return r;
}

// --depth-fill random: the first d positions of a sequence get random K/V rows (N(0, 1) in
// the cache's type) instead of running d prompt tokens. Generation reads them exactly as it
// reads computed ones, so tg@dN measures the same work without minutes of prefill at 16K.
Status fill_random(KvCache& kv, int32_t seq, int64_t d, std::mt19937& rng) {
    if (Status st = kv.reserve(seq, d); !st.ok()) return st;
    const bool f16 = kv.options().type == DType::F16;
    const int64_t n = kv.options().n_embd_kv;
    constexpr int64_t kPool = 257;  // distinct rows, reused cyclically
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> pool_f32((size_t)(kPool * n));
    for (float& x : pool_f32) x = normal(rng);
    std::vector<uint16_t> pool_f16(pool_f32.size());
    for (size_t i = 0; i < pool_f32.size(); ++i) pool_f16[i] = f32_to_fp16(pool_f32[i]);
    const uint8_t* src = f16 ? (const uint8_t*)pool_f16.data() : (const uint8_t*)pool_f32.data();
    const size_t row = kv.row_bytes();
    for (int64_t il = 0; il < kv.options().n_layer; ++il)
        for (int64_t pos = 0; pos < d; ++pos) {
            std::memcpy(kv.k_row(il, seq, pos), src + (size_t)((pos + il) % kPool) * row, row);
            std::memcpy(kv.v_row(il, seq, pos), src + (size_t)((pos + 7 * il + 3) % kPool) * row, row);
        }
    kv.set_len(seq, d);
    return ok_status();
}

std::string cpu_name() {
    FILE* f = std::fopen("/proc/cpuinfo", "r");
    if (f == nullptr) return "unknown";
    char line[512];
    std::string name = "unknown";
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "model name", 10) == 0) {
            const char* c = std::strchr(line, ':');
            if (c != nullptr) name = std::string(c + 2);
            if (!name.empty() && name.back() == '\n') name.pop_back();
            break;
        }
    std::fclose(f);
    return name;
}

int run_bench(BenchFlags& fl) {
    if (fl.threads.empty()) fl.threads.push_back(ThreadPool::hardware_threads());
    int64_t max_ctx = 1, max_par = 1;
    for (int64_t p : fl.pp) max_ctx = std::max(max_ctx, p);
    for (int64_t n : fl.tg)
        for (int64_t d : fl.depths) max_ctx = std::max(max_ctx, d + n + 1);
    for (int64_t p : fl.parallel) max_par = std::max(max_par, p);
    std::mt19937 rng(1234);

    std::vector<Result1> results;
    std::string model_name;
    uint64_t model_bytes = 0;
    std::vector<std::pair<int, double>> bandwidths;
    for (int nt : fl.threads) {
        EngineFlags ef = fl.engine;
        ef.threads = nt;
        ef.ctx = max_ctx;
        auto loaded = load_engine(ef, max_par);
        if (!loaded.ok()) return fail("bench", loaded.error().message);
        Engine& e = *loaded.value();
        const ModelConfig& c = e.config();
        const ModelWeights& w = e.model().weights();
        model_name = e.model().file().path();
        model_bytes = e.model().file().file_size();
        std::uniform_int_distribution<int32_t> tok(0, (int32_t)e.n_vocab() - 1);
        std::vector<float> logits;
        Batch batch;

        ThreadPool pool(nt);
        const double bw = measure_read_bandwidth(pool);
        bandwidths.push_back({nt, bw});
        reset_peak_rss();  // the probe's 1 GiB buffer is not the model's memory
        // Every matrix is read once per step except the embedding table (one row per token).
        const double weight_bytes =
            (double)w.matrix_bytes - (w.output_tied ? 0.0 : (double)w.token_embd.size_bytes());
        const std::vector<ByteRange> read_set = streamed_byte_ranges(w);
        const double kv_bytes_per_pos = (double)c.n_layer * 2 * c.n_embd_kv() * (e.kv().options().type == DType::F16 ? 2 : 4);

        for (int64_t p : fl.pp) {
            auto r = measure(fl.reps, p, [&]() -> Result<double> {
                e.truncate(0, 0);
                batch.clear();
                for (int64_t i = 0; i < p; ++i) batch.add(tok(rng), (int32_t)i, 0, i + 1 == p);
                const auto t0 = Clock::now();
                if (Status st = e.step(batch, logits); !st.ok()) return st.error();
                return std::chrono::duration<double>(Clock::now() - t0).count();
            });
            if (!r.ok()) return fail("bench", r.error().message);
            r->test = fmt::format("pp{}", p);
            r->threads = nt;
            results.push_back(r.value());
        }
        for (int64_t d : fl.depths) {
            for (int64_t par : fl.parallel) {
                // Fill every sequence to depth d once; each repetition rewinds to d.
                for (int64_t s = 0; s < par; ++s) {
                    e.truncate((int32_t)s, 0);
                    if (fl.depth_fill == "random") {
                        if (Status st = fill_random(e.kv(), (int32_t)s, d, rng); !st.ok())
                            return fail("bench", st.error().message);
                        continue;
                    }
                    for (int64_t done = 0; done < d;) {
                        const int64_t chunk = std::min<int64_t>(512, d - done);
                        batch.clear();
                        for (int64_t i = 0; i < chunk; ++i) batch.add(tok(rng), (int32_t)(done + i), (int32_t)s, false);
                        if (Status st = e.step(batch, logits); !st.ok()) return fail("bench", st.error().message);
                        done += chunk;
                    }
                }
                for (int64_t n : fl.tg) {
                    // --interleave-bw: probes before every run (warm-up included) and after the last.
                    std::vector<double> probes;
                    auto probe = [&] {
                        if (fl.interleave_bw > 0)
                            probes.push_back(measure_sustained_read_bandwidth(pool, read_set, fl.interleave_bw));
                    };
                    auto r = measure(fl.reps, n * par, [&]() -> Result<double> {
                        probe();
                        for (int64_t s = 0; s < par; ++s) e.truncate((int32_t)s, d);
                        const auto t0 = Clock::now();
                        for (int64_t i = 0; i < n; ++i) {
                            batch.clear();
                            for (int64_t s = 0; s < par; ++s) batch.add(tok(rng), (int32_t)(d + i), (int32_t)s, true);
                            if (Status st = e.step(batch, logits); !st.ok()) return st.error();
                        }
                        return std::chrono::duration<double>(Clock::now() - t0).count();
                    });
                    if (!r.ok()) return fail("bench", r.error().message);
                    probe();
                    r->test = fmt::format("tg{}", n) + (d > 0 ? fmt::format("@d{}", d) : "") +
                              (par > 1 ? fmt::format("x{}", par) : "");
                    r->threads = nt;
                    // Per step: the weights once plus each sequence's KV (average depth d + n/2).
                    const double step_bytes = weight_bytes + par * kv_bytes_per_pos * (d + n / 2.0);
                    r->bytes_per_token = step_bytes / par;
                    r->roofline = bw > 0 ? bw / r->bytes_per_token : 0;
                    if (!probes.empty()) {
                        double sum = 0;
                        for (double b : probes) sum += b;
                        r->sustained_bw = sum / (double)probes.size();
                        r->sustained_roofline = r->sustained_bw / r->bytes_per_token;
                    }
                    results.push_back(r.value());
                }
            }
        }
    }

    struct utsname u {};
    uname(&u);
    if (fl.json) {
        nlohmann::ordered_json j;
        j["model"] = model_name;
        j["model_bytes"] = model_bytes;
        j["cpu"] = cpu_name();
        j["kernels"] = fl.engine.kernels.empty() ? "auto" : fl.engine.kernels;
        j["repack"] = !fl.engine.no_repack;
        j["peak_rss_bytes"] = peak_rss_bytes();
        nlohmann::ordered_json bws = nlohmann::json::array();
        for (auto [nt, bw] : bandwidths) bws.push_back({{"threads", nt}, {"read_gb_per_s", bw / 1e9}});
        j["bandwidth"] = bws;
        j["results"] = nlohmann::json::array();
        for (const auto& r : results) {
            nlohmann::ordered_json o{{"test", r.test}, {"threads", r.threads}, {"reps", r.reps},
                                     {"tokens_per_s", {{"mean", r.mean}, {"min", r.min}, {"max", r.max}}}};
            if (r.roofline > 0) {
                o["bytes_per_token"] = r.bytes_per_token;
                o["roofline_tokens_per_s"] = r.roofline;
                o["roofline_fraction"] = r.mean / r.roofline;
            }
            if (r.sustained_roofline > 0) {
                o["sustained_read_gb_per_s"] = r.sustained_bw / 1e9;
                o["sustained_roofline_tokens_per_s"] = r.sustained_roofline;
                o["sustained_roofline_fraction"] = r.mean / r.sustained_roofline;
            }
            j["results"].push_back(o);
        }
        fmt::print("{}\n", j.dump(2));
        return 0;
    }
    fmt::print("model: {} ({:.2f} GiB)\ncpu: {} | {}\n", model_name, model_bytes / 1073741824.0, cpu_name(), u.machine);
    for (auto [nt, bw] : bandwidths) fmt::print("read bandwidth, {} threads: {:.1f} GB/s\n", nt, bw / 1e9);
    // With --interleave-bw, two more columns: the probes' mean bandwidth and the fraction of the
    // roofline at that bandwidth.
    const bool sustained = fl.interleave_bw > 0;
    std::vector<std::string> head{"test", "threads", "tok/s mean", "min", "max", "roofline tok/s", "of roofline"};
    if (sustained) head.insert(head.end(), {"sustained GB/s", "of sustained"});
    auto print_row = [&](const std::vector<std::string>& cells) {
        if (fl.md) {
            for (const std::string& c : cells) fmt::print("| {} ", c);
            fmt::print("|\n");
            return;
        }
        fmt::print("{:<16}", cells[0]);
        for (size_t i = 1; i < cells.size(); ++i) fmt::print(" {:>{}}", cells[i], std::max<size_t>(head[i].size(), 9));
        fmt::print("\n");
    };
    fmt::print("\n");
    print_row(head);
    if (fl.md) print_row(std::vector<std::string>(head.size(), "---"));
    for (const auto& r : results) {
        const bool roof = r.roofline > 0, sus = r.sustained_roofline > 0;
        std::vector<std::string> cells{r.test,
                                       std::to_string(r.threads),
                                       fmt::format("{:.2f}", r.mean),
                                       fmt::format("{:.2f}", r.min),
                                       fmt::format("{:.2f}", r.max),
                                       roof ? fmt::format("{:.2f}", r.roofline) : "—",
                                       roof ? fmt::format("{:.0f}%", 100 * r.mean / r.roofline) : "—"};
        if (sustained) {
            cells.push_back(sus ? fmt::format("{:.1f}", r.sustained_bw / 1e9) : "—");
            cells.push_back(sus ? fmt::format("{:.0f}%", 100 * r.mean / r.sustained_roofline) : "—");
        }
        print_row(cells);
    }
    fmt::print("\npeak memory {:.1f} MiB\n", peak_rss_bytes() / 1048576.0);
    return 0;
}

}  // namespace

void register_bench(CLI::App& app, CommandList& commands) {
    CLI::App* sub = app.add_subcommand("bench", "Measure prompt and generation speed (tokens/s)");
    auto fl = std::make_shared<BenchFlags>();
    fl->engine.add_to(sub, /*model_required=*/false);
    sub->remove_option(sub->get_option("--threads"));
    sub->remove_option(sub->get_option("--ctx"));
    sub->add_option("-p,--n-prompt", fl->pp, "Prompt lengths (comma-separated)")->delimiter(',')->check(CLI::Range((int64_t)1, (int64_t)1 << 20));
    sub->add_option("-n,--n-gen", fl->tg, "Generation lengths")->delimiter(',')->check(CLI::Range((int64_t)1, (int64_t)1 << 20));
    sub->add_option("-t,--threads", fl->threads, "Thread counts (default: all cores)")->delimiter(',')->check(CLI::Range(1, 1024));
    sub->add_option("-d,--depth", fl->depths, "Context depths for tg tests")->delimiter(',')->check(CLI::Range((int64_t)0, (int64_t)1 << 22));
    sub->add_option("--parallel", fl->parallel, "Sequences decoding together")->delimiter(',')->check(CLI::Range((int64_t)1, (int64_t)256));
    sub->add_option("--depth-fill", fl->depth_fill,
                    "How -d fills the KV cache: compute (run d prompt tokens) or random (random K/V rows: the same "
                    "generation work without the prefill)")
        ->check(CLI::IsMember({"compute", "random"}));
    sub->add_option("-r,--reps", fl->reps, "Repetitions after one warm-up")->check(CLI::Range(1, 1000));
    sub->add_option("--interleave-bw", fl->interleave_bw,
                    "Before every run of a tg test and after the last, stream the weights a token reads for this "
                    "many seconds; each tg figure then also shows its fraction of the roofline at the mean of "
                    "those probes (on a shared machine the bandwidth moves from second to second)")
        ->check(CLI::Range(0.0, 60.0));
    auto* j = sub->add_flag("--json", fl->json, "Print JSON");
    sub->add_flag("--md", fl->md, "Print a markdown table")->excludes(j);
    commands.push_back({sub, [fl] { return run_bench(*fl); }});
}

}  // namespace retort::cli
