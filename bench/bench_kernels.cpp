// Micro-benchmarks of every KernelTable entry on every table this CPU runs (ref, avx2, avx512),
// one thread:
//   matvec/<isa>/<type>/<rows>x<cols>   y = W x over a realistic weight matrix, x already in
//                                       W's vec_dot_type; bytes = weight bytes read
//   packed/<isa>/<type>/<rows>x<cols>/m<M>  the same product on packed weights (kernels/packed.h)
//                                       for M activation rows at once; bytes = weight bytes read
//   stream/<isa>/<type>/{file,packed}   one activation row through 56 DRAM-resident matrices
//                                       (decoding's pattern), file layout vs packed
//   stream/<isa>/<type>/packed/<shape>/t<T>/vs_read  the same on T threads, each repetition
//                                       followed by a plain read pass over the same bytes:
//                                       of_read = the kernels' rate over the read's
//   from_float/<isa>/<type>             converting one activation row of 8960; bytes = f32 read
//   attn/<isa>/<op>                     q.k and out += p*v over 4096 F16 (or f32) rows of 128
//   peak/avx512/vpdpbusd                vpdpbusd alone, 8 chains: the ceiling of the packed kernels
//   pool/run/empty/t2                   ThreadPool::run of an empty job on 2 threads: one dispatch
//   pool/cacheline_round_trip           a cache line to another thread and back: what a dispatch is made of
// Shapes are R1-Distill-Qwen-1.5B's ffn_up/gate [8960, 1536] and ffn_down [1536, 8960] (they fit
// in a large L3, so they measure the kernels), and its output projection [151936, 1536] (DRAM).
// Run: ./build/bench/bench_kernels --benchmark_filter='matvec/avx512/Q4_K'

#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kernels/packed.h"
#include "tensor/tensor.h"
#include "tensor/dtype.h"
#include "util/bandwidth.h"
#include "util/page_buffer.h"

namespace retort {
namespace {

std::vector<float> normal_floats(int64_t n, uint32_t seed, float sigma) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> x((size_t)n);
    for (float& v : x) v = dist(rng);
    return x;
}

// A [rows, cols] weight matrix of `type`. The reference k-quant quantizers are slow, so 16
// distinct rows are quantized and repeated: the bytes streamed are what is being measured.
std::vector<uint8_t> make_matrix(const TypeTraits& wt, int64_t rows, int64_t cols) {
    const size_t rb = row_bytes(wt, cols);
    constexpr int64_t kDistinct = 16;
    std::vector<uint8_t> distinct(rb * kDistinct);
    const std::vector<float> x = normal_floats(cols * kDistinct, 1, 0.02f);
    for (int64_t r = 0; r < kDistinct; ++r) wt.quantize_row(x.data() + r * cols, distinct.data() + r * rb, cols);
    std::vector<uint8_t> m(rb * (size_t)rows);
    for (int64_t r = 0; r < rows; ++r) std::memcpy(m.data() + r * rb, distinct.data() + (r % kDistinct) * rb, rb);
    return m;
}

void bench_matvec(benchmark::State& state, const KernelTable* table, DType type, int64_t rows, int64_t cols) {
    const TypeTraits& wt = traits(type);
    const TypeTraits& at = traits(wt.vec_dot_type);
    const std::vector<uint8_t> w = make_matrix(wt, rows, cols);
    std::vector<uint8_t> act(row_bytes(at, cols));
    const std::vector<float> x = normal_floats(cols, 2, 1.0f);
    ref_kernels().from_float[(int)at.type](x.data(), act.data(), cols);
    std::vector<float> y((size_t)rows);
    const VecDotFn dot = table->vec_dot[(int)type];
    const size_t rb = row_bytes(wt, cols);
    for (auto _ : state) {
        for (int64_t r = 0; r < rows; ++r) dot(cols, &y[(size_t)r], w.data() + r * rb, act.data());
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed((int64_t)state.iterations() * (int64_t)w.size());
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * (double)rows * (double)cols * (double)state.iterations(),
                                                   benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// tile: through the kernel for Q8_0 activation tiles (gemm_packed_tile), as matmul takes 2+ rows.
void bench_packed(benchmark::State& state, const KernelTable* table, DType type, int64_t rows, int64_t cols, int nm,
                  bool tile) {
    const TypeTraits& wt = traits(type);
    const TypeTraits& at = traits(wt.vec_dot_type);
    const std::vector<uint8_t> w = make_matrix(wt, rows, cols);
    Matrix m;
    m.traits = &wt;
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = row_bytes(wt, cols);
    m.data = w.data();
    const size_t group_bytes = packed_group_bytes(type, cols);
    std::vector<uint8_t> packed(group_bytes * (size_t)(rows / kPackRows));
    pack_groups(m, 0, rows / kPackRows, packed.data());
    // nm activation rows, converted (with their block sums) as matmul converts them.
    std::vector<float> x;
    for (int t = 0; t < nm; ++t) {
        const std::vector<float> xt = normal_floats(cols, 2 + t, 1.0f);
        x.insert(x.end(), xt.begin(), xt.end());
    }
    ThreadPool one(1);
    ActBuffer act;
    convert_acts(ref_kernels(), one, x.data(), nm, cols, at.type, act);
    ensure_block_sums(one, act);
    if (tile) ensure_q8_0_tiles(one, act);
    std::vector<float> y((size_t)(rows * nm));
    const GemmPackedFn gemm = table->gemm_packed[(int)type];
    const GemmPackedTileFn tile_gemm = table->gemm_packed_tile[(int)type];
    for (auto _ : state) {
        for (int64_t g = 0; g < rows / kPackRows; ++g)
            if (tile)
                tile_gemm(cols, nm, packed.data() + g * group_bytes, act.tile(0), y.data() + g * kPackRows, rows,
                          packed.data() + packed.size());
            else
                gemm(cols, nm, packed.data() + g * group_bytes, act.row(0), act.row_bytes, act.sums.data(),
                     act.sums_row(), y.data() + g * kPackRows, rows, packed.data() + packed.size());
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed((int64_t)state.iterations() * (int64_t)packed.size());
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * nm * (double)rows * (double)cols * (double)state.iterations(),
                                                   benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// Decoding's access pattern: one activation row against 56 distinct [rows, cols] matrices (8960x1536:
// the gate and up projections of 28 layers, ~430 MB in Q4_K; 1536x8960: ffn_down, in column
// slices where the type has them), far more than any cache, through the matmul driver on
// `threads` threads, in the file's layout or packed as Model::load packs them.
// With vs_read (packed only), each repetition is followed by one plain read pass over the same
// bytes on the same threads (measure_sustained_read_bandwidth, not timed): counters read_GB/s (the
// mean pass) and of_read (the kernels' rate over it). On a shared machine the bandwidth moves
// from second to second; passes taken in turn with the kernels' see the same machine.
void bench_stream(benchmark::State& state, const KernelTable* table, DType type, bool packed, int64_t rows,
                  int64_t cols, int threads, bool vs_read) {
    constexpr int64_t kMatrices = 56;
    const TypeTraits& wt = traits(type);
    const std::vector<uint8_t> file = make_matrix(wt, rows * kMatrices, cols);
    const size_t matrix_bytes = row_bytes(wt, cols) * (size_t)rows;
    const size_t packed_bytes = packed_matrix_bytes(type, rows, cols);
    // Packed weights live where Model::load puts them: anonymous pages, 2 MiB where possible.
    PageBuffer repacked(packed ? packed_bytes * kMatrices : 0);
    std::vector<Matrix> ms((size_t)kMatrices);
    for (int64_t i = 0; i < kMatrices; ++i) {
        Matrix& m = ms[(size_t)i];
        m.traits = &wt;
        m.rows = rows;
        m.cols = cols;
        m.row_bytes = row_bytes(wt, cols);
        m.data = file.data() + (size_t)i * matrix_bytes;
        if (!packed) continue;
        pack_matrix(m, repacked.data() + (size_t)i * packed_bytes);
        m.packed = repacked.data() + (size_t)i * packed_bytes;
    }
    ThreadPool pool(threads);
    ActBuffer act;
    const std::vector<float> x = normal_floats(cols, 2, 1.0f);
    convert_acts(*table, pool, x.data(), 1, cols, wt.vec_dot_type, act);
    std::vector<float> y((size_t)rows);
    const size_t bytes = kMatrices * (packed ? packed_bytes : matrix_bytes);
    const ByteRange weights{repacked.data(), packed ? packed_bytes * kMatrices : 0};
    double kernel_s = 0, read_rates = 0;
    for (auto _ : state) {
        const auto t0 = std::chrono::steady_clock::now();
        for (const Matrix& m : ms) matmul(*table, pool, m, act, y.data(), rows);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
        kernel_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!vs_read) continue;
        state.PauseTiming();
        read_rates += measure_sustained_read_bandwidth(pool, {&weights, 1}, 0.0);
        state.ResumeTiming();
    }
    state.SetBytesProcessed((int64_t)state.iterations() * (int64_t)bytes);
    if (vs_read && state.iterations() > 0) {
        const double read = read_rates / (double)state.iterations();
        state.counters["read_GB/s"] = read / 1e9;
        state.counters["of_read"] = (double)bytes * (double)state.iterations() / kernel_s / read;
    }
}

void bench_from_float(benchmark::State& state, const KernelTable* table, DType type) {
    constexpr int64_t n = 8960;
    const std::vector<float> x = normal_floats(n, 3, 1.0f);
    std::vector<uint8_t> out(row_bytes(traits(type), n));
    const FromFloatFn f = table->from_float[(int)type];
    for (auto _ : state) {
        f(x.data(), out.data(), n);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed((int64_t)state.iterations() * n * (int64_t)sizeof(float));
}

// The ceiling the VNNI kernels work under: vpdpbusd with its 4 activation bytes broadcast from
// memory, as the packed kernels issue it, in 8 independent chains of 8 (the 8-row tile kernel's
// shape, each chain reading its own row's bytes) and nothing else. GFLOP/s counts 128 per
// instruction (16 lanes x 4 multiply-adds), as the packed benchmarks count theirs.
__attribute__((target("avx512f,avx512vnni"))) void bench_vpdpbusd_peak(benchmark::State& state) {
    alignas(64) static const uint8_t act[8 * 32] = {1, 2, 3, 4};  // chain m reads row m's 32 bytes, as in a tile
    constexpr int64_t kPerPass = 64;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    const __m512i w = _mm512_set1_epi8(3);
#define RETORT_DPBUSD_STEP(off)                                                            \
    "vpdpbusd " #off "+0(%[p])%{1to16%}, %[w], %[a0]\n\t"                                   \
    "vpdpbusd " #off "+32(%[p])%{1to16%}, %[w], %[a1]\n\t"                                   \
    "vpdpbusd " #off "+64(%[p])%{1to16%}, %[w], %[a2]\n\t"                                   \
    "vpdpbusd " #off "+96(%[p])%{1to16%}, %[w], %[a3]\n\t"                                   \
    "vpdpbusd " #off "+128(%[p])%{1to16%}, %[w], %[a4]\n\t"                                   \
    "vpdpbusd " #off "+160(%[p])%{1to16%}, %[w], %[a5]\n\t"                                   \
    "vpdpbusd " #off "+192(%[p])%{1to16%}, %[w], %[a6]\n\t"                                   \
    "vpdpbusd " #off "+224(%[p])%{1to16%}, %[w], %[a7]\n\t"
    for (auto _ : state)
        for (int i = 0; i < 1024; ++i)
            asm volatile(RETORT_DPBUSD_STEP(0) RETORT_DPBUSD_STEP(4) RETORT_DPBUSD_STEP(8) RETORT_DPBUSD_STEP(12)
                             RETORT_DPBUSD_STEP(16) RETORT_DPBUSD_STEP(20) RETORT_DPBUSD_STEP(24)
                                 RETORT_DPBUSD_STEP(28)
                         : [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [a4] "+v"(a4),
                           [a5] "+v"(a5), [a6] "+v"(a6), [a7] "+v"(a7)
                         : [w] "v"(w), [p] "r"(act)
                         : "memory");
#undef RETORT_DPBUSD_STEP
    // One value escapes, after the loop: passing the accumulators themselves to DoNotOptimize
    // would keep them in memory across every pass.
    __m512i sum = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                                   _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
    benchmark::DoNotOptimize(sum);
    const double instructions = (double)state.iterations() * 1024 * kPerPass;
    state.counters["vpdpbusd/s"] = benchmark::Counter(instructions, benchmark::Counter::kIsRate);
    state.counters["GFLOP/s"] = benchmark::Counter(128 * instructions, benchmark::Counter::kIsRate,
                                                   benchmark::Counter::kIs1000);
}

// Attention over one head: 4096 cached positions of head_dim 128.
constexpr int64_t kPositions = 4096, kHeadDim = 128;

template <class Elem>
std::vector<Elem> kv_rows() {
    std::vector<Elem> kv((size_t)(kPositions * kHeadDim));
    const std::vector<float> x = normal_floats(kPositions * kHeadDim, 4, 1.0f);
    for (size_t i = 0; i < kv.size(); ++i) {
        if constexpr (sizeof(Elem) == 2)
            kv[i] = (Elem)(0x3c00 | (i & 0x1ff));  // f16 values in [1, 1.5)
        else
            kv[i] = x[i];
    }
    return kv;
}

template <class Elem, class Op>
void bench_attn(benchmark::State& state, Op op) {
    const std::vector<Elem> kv = kv_rows<Elem>();
    std::vector<float> q = normal_floats(kHeadDim, 5, 1.0f), out((size_t)kHeadDim), scores((size_t)kPositions);
    for (auto _ : state) {
        for (int64_t p = 0; p < kPositions; ++p) op(kv.data() + p * kHeadDim, q.data(), out.data(), &scores[(size_t)p]);
        benchmark::DoNotOptimize(out.data());
        benchmark::DoNotOptimize(scores.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed((int64_t)state.iterations() * (int64_t)(kv.size() * sizeof(Elem)));
}

// One ThreadPool::run of a job that does nothing: the wake, the caller's share and the wait.
void bench_pool_run(benchmark::State& state, int threads) {
    ThreadPool pool(threads);
    for (auto _ : state) pool.run([](int, int) {});
}

// What the pool's signalling is built from: one cache line handed to another thread and back (a
// store the other side spins on, answered by a store on a second line).
void bench_cacheline_round_trip(benchmark::State& state) {
    alignas(64) std::atomic<int64_t> ping{0};
    alignas(64) std::atomic<int64_t> pong{0};
    std::thread other([&] {
        for (int64_t i = 1;; ++i) {
            int64_t v;
            while ((v = ping.load(std::memory_order_acquire)) != i)
                if (v < 0) return;  // the benchmark is done
            pong.store(i, std::memory_order_release);
        }
    });
    int64_t i = 0;
    for (auto _ : state) {
        ping.store(++i, std::memory_order_release);
        while (pong.load(std::memory_order_acquire) != i) {}
    }
    ping.store(-1, std::memory_order_release);
    other.join();
}

void register_all() {
    // Two threads: more than the cores would time-slice the spinning workers instead.
    benchmark::RegisterBenchmark("pool/run/empty/t2", bench_pool_run, 2)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("pool/cacheline_round_trip", bench_cacheline_round_trip)
        ->Unit(benchmark::kNanosecond);
    std::vector<const KernelTable*> tables = {&ref_kernels()};
    if (const KernelTable* t = avx2_kernels()) tables.push_back(t);
    if (const KernelTable* t = avx512_kernels()) tables.push_back(t);

    const DType weight_types[] = {DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::Q4_0, DType::F16,
                                  DType::Q5_K, DType::Q3_K, DType::Q2_K, DType::Q4_1, DType::Q5_0,
                                  DType::Q5_1, DType::BF16, DType::F32};
    const int64_t shapes[][2] = {{8960, 1536}, {1536, 8960}};
    for (const KernelTable* t : tables) {
        const std::string isa = t->isa;
        for (DType type : weight_types)
            for (const auto& s : shapes) {
                const std::string name =
                    "matvec/" + isa + "/" + traits(type).name + "/" + std::to_string(s[0]) + "x" + std::to_string(s[1]);
                benchmark::RegisterBenchmark(name.c_str(), bench_matvec, t, type, s[0], s[1])
                    ->Unit(benchmark::kMicrosecond);
            }
        // The output projection [n_vocab, n_embd] = [151936, 1536], Q6_K in Q4_K_M files: far
        // larger than any cache, so this one streams from DRAM as decoding does.
        if (t != &ref_kernels())
            for (DType type : {DType::Q6_K, DType::Q4_K, DType::Q8_0, DType::Q4_0})
                benchmark::RegisterBenchmark(("matvec/" + isa + "/" + traits(type).name + "/151936x1536").c_str(),
                                             bench_matvec, t, type, 151936, 1536)
                    ->Unit(benchmark::kMillisecond);
        for (DType type : weight_types) {
            if (t->gemm_packed[(int)type] == nullptr) continue;
            const std::string prefix = "packed/" + isa + "/" + traits(type).name + "/";
            const bool has_tile = t->gemm_packed_tile[(int)type] != nullptr;
            // nm rows through gemm_packed and, for 2+ rows where the type has one, the tile kernel.
            const auto add = [&](int64_t rows, int64_t cols, int nm, benchmark::TimeUnit unit) {
                for (bool tile : {false, true}) {
                    if (tile && (!has_tile || nm == 1)) continue;
                    const std::string name = prefix + std::to_string(rows) + "x" + std::to_string(cols) + "/m" +
                                             std::to_string(nm) + (tile ? "/tile" : "");
                    benchmark::RegisterBenchmark(name.c_str(), bench_packed, t, type, rows, cols, nm, tile)->Unit(unit);
                }
            };
            for (const auto& s : shapes)
                for (int nm : {1, 4, 8}) add(s[0], s[1], nm, benchmark::kMicrosecond);
            // From DRAM: one row (decoding) and eight (eight sequences decoding together).
            for (int nm : {1, 8}) add(151936, 1536, nm, benchmark::kMillisecond);
            const std::string stream = "stream/" + isa + "/" + traits(type).name;
            for (bool packed : {false, true})
                benchmark::RegisterBenchmark((stream + (packed ? "/packed" : "/file")).c_str(), bench_stream, t, type,
                                             packed, 8960, 1536, 1, false)
                    ->Unit(benchmark::kMillisecond);
            for (int threads : {1, 2}) {
                const std::string tn = "/t" + std::to_string(threads);
                benchmark::RegisterBenchmark((stream + "/packed/1536x8960" + tn).c_str(), bench_stream, t, type, true,
                                             1536, 8960, threads, false)
                    ->Unit(benchmark::kMillisecond);
                benchmark::RegisterBenchmark((stream + "/packed/8960x1536" + tn + "/vs_read").c_str(), bench_stream, t,
                                             type, true, 8960, 1536, threads, true)
                    ->Unit(benchmark::kMillisecond);
            }
        }
        if (t == avx512_kernels())
            benchmark::RegisterBenchmark("peak/avx512/vpdpbusd", bench_vpdpbusd_peak)->Unit(benchmark::kMicrosecond);
        for (DType type : {DType::Q8_0, DType::Q8_1, DType::Q8_K, DType::F16, DType::BF16})
            benchmark::RegisterBenchmark(("from_float/" + isa + "/" + traits(type).name).c_str(), bench_from_float, t,
                                         type)
                ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("attn/" + isa + "/dot_f16_f32").c_str(), [t](benchmark::State& st) {
            bench_attn<uint16_t>(
                st, [t](const uint16_t* k, const float* q, float*, float* s) { *s = t->dot_f16_f32(kHeadDim, k, q); });
        })->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("attn/" + isa + "/axpy_f16_f32").c_str(), [t](benchmark::State& st) {
            bench_attn<uint16_t>(
                st, [t](const uint16_t* v, const float*, float* o, float*) { t->axpy_f16_f32(kHeadDim, 1e-3f, v, o); });
        })->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("attn/" + isa + "/dot_f32").c_str(), [t](benchmark::State& st) {
            bench_attn<float>(
                st, [t](const float* k, const float* q, float*, float* s) { *s = t->dot_f32(kHeadDim, k, q); });
        })->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("attn/" + isa + "/axpy_f32").c_str(), [t](benchmark::State& st) {
            bench_attn<float>(
                st, [t](const float* v, const float*, float* o, float*) { t->axpy_f32(kHeadDim, 1e-3f, v, o); });
        })->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace
}  // namespace retort

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    retort::register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
