// How close decoding comes to the fastest way to read its weights, and how much of the gap the
// shape of a decode step alone explains. Per round, one after another on the model's own packed
// weights (docs/bench.md, "The roofline: two bandwidth probes"):
//   probe    the bytes a token reads, read back to back by every thread as `retort bench
//            --interleave-bw` does, with plain 512-bit loads and with prefetching ones (GB/s of
//            each; the faster is the bound);
//   shaped   the same bytes read product by product, one pass per decoding dispatch (q/k/v, o,
//            gate/up, down per layer, then the output), the faster way: a decoder that did
//            nothing but read, with decoding's dependencies between products;
//   decode   decode steps of one sequence (tokens/s, and the packed bytes a step reads per second).
//
//   decode_reads MODEL.gguf [ROUNDS=10] [THREADS=2]
#include "engine/engine.h"
#include "model/weights.h"
#include "util/bandwidth.h"
#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace retort;
using Clock = std::chrono::steady_clock;

namespace {
constexpr double kSeconds = 0.25;  // per measurement and method

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Bytes/s of f() (which returns the bytes it read), run back to back for kSeconds.
template <class F>
double rate(F&& f) {
    double bytes = 0;
    const auto t0 = Clock::now();
    do bytes += f();
    while (seconds_since(t0) < kSeconds);
    return bytes / seconds_since(t0);
}
}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 10;
    const int n_threads = argc > 3 ? std::atoi(argv[3]) : 2;
    if (argc < 2 || rounds < 1 || n_threads < 1 || n_threads > 1024) {
        std::fprintf(stderr, "usage: decode_reads MODEL.gguf [ROUNDS >= 1] [THREADS 1..1024]\n");
        return 2;
    }
    EngineOptions opt;
    opt.n_threads = n_threads;
    opt.n_ctx = 512;
    auto loaded = Engine::load(argv[1], opt);
    if (!loaded.ok()) {
        std::fprintf(stderr, "decode_reads: %s\n", loaded.error().message.c_str());
        return 1;
    }
    Engine& engine = **loaded;
    const ModelWeights& w = engine.model().weights();
    if (w.layers.empty()) {
        std::fprintf(stderr, "decode_reads: the model has no layers\n");
        return 1;
    }

    // The matrices a step reads, in its order, grouped as the decoder dispatches them.
    const std::vector<ByteRange> all = streamed_byte_ranges(w);
    std::vector<std::vector<ByteRange>> products;
    for (size_t i = 0; i + 1 < all.size(); i += 7) {  // wq wk wv wo gate up down (streamed_byte_ranges)
        products.push_back({all[i], all[i + 1], all[i + 2]});
        products.push_back({all[i + 3]});
        products.push_back({all[i + 4], all[i + 5]});
        products.push_back({all[i + 6]});
    }
    products.push_back({all.back()});
    double step_bytes = 0;
    for (const ByteRange& r : all) step_bytes += (double)r.size;

    ThreadPool pool(n_threads);
    Batch batch;
    std::vector<float> logits;
    std::printf("%5s %9s %9s %9s %9s %9s %9s %9s\n", "round", "plain", "prefetch", "shaped", "tok/s", "decode",
                "shaped/", "decode/");
    std::printf("%5s %9s %9s %9s %9s %9s %9s %9s\n", "", "GB/s", "GB/s", "GB/s", "", "GB/s", "probe", "probe");
    for (int r = 0; r < rounds; ++r) {
        auto whole = [&](ReadMethod m) { return rate([&] { return (double)read_pass(pool, all, m).bytes; }); };
        auto shaped = [&](ReadMethod m) {
            return rate([&] {
                double bytes = 0;
                for (const auto& p : products) bytes += (double)read_pass(pool, p, m).bytes;
                return bytes;
            });
        };
        const double plain = whole(ReadMethod::kWide), prefetch = whole(ReadMethod::kWidePrefetch);
        const double shape = std::max(shaped(ReadMethod::kWide), shaped(ReadMethod::kWidePrefetch));
        engine.truncate(0, 0);
        int steps = 0;
        const auto t0 = Clock::now();
        do {
            batch.clear();
            batch.add((int32_t)((1 + steps) % engine.n_vocab()), steps, 0, true);
            if (Status st = engine.step(batch, logits); !st.ok()) {
                std::fprintf(stderr, "decode_reads: %s\n", st.error().message.c_str());
                return 1;
            }
            ++steps;
        } while (seconds_since(t0) < 2 * kSeconds && steps < 500);
        const double tps = steps / seconds_since(t0), probe = std::max(plain, prefetch);
        std::printf("%5d %9.1f %9.1f %9.1f %9.2f %9.1f %9.3f %9.3f\n", r, plain / 1e9, prefetch / 1e9, shape / 1e9,
                    tps, tps * step_bytes / 1e9, shape / probe, tps * step_bytes / probe);
        std::fflush(stdout);
    }
}
