#include "util/bandwidth.h"

#include "util/page_buffer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

namespace retort {

namespace {
// Sums 64-bit words with eight independent accumulators, so the loop is limited by loads,
// not by the add latency chain.
uint64_t sum_words(const uint64_t* p, size_t n) {
    uint64_t a[8] = {};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) a[k] += p[i + k];
    for (; i < n; ++i) a[0] += p[i];
    uint64_t s = 0;
    for (uint64_t v : a) s += v;
    return s;
}

// The same with 512-bit loads, where the CPU has them: one core keeps more cache-line misses in
// flight with a quarter of the load instructions (on the AVX-512 VMs we measure on, 35-37 GB/s
// on one core against 19-20 for 64-bit loads; the same at two cores). With kAhead > 0 each line
// is also asked for kAhead words ahead (never past the piece). On the shared VMs we measure on
// that reads faster than the hardware prefetcher alone when the memory is in its slow state
// (median +8%) and slower in its fast one (median -12%). Decoding's kernels prefetch too, and
// without this way the slow state's decoding out-read "the bound" (median +6%; docs/bench.md,
// "The roofline").
template <size_t kAhead>
__attribute__((target("avx512f"))) uint64_t sum_words_wide(const uint64_t* p, size_t n) {
    using V = uint64_t __attribute__((vector_size(64), aligned(8)));
    V a = {}, b = {}, c = {}, d = {};
    size_t i = 0;
    for (; i + 32 + kAhead <= n; i += 32) {
        if constexpr (kAhead > 0)
            for (size_t line = 0; line < 32; line += 8) __builtin_prefetch(p + i + kAhead + line, 0, 3);
        a += *reinterpret_cast<const V*>(p + i);
        b += *reinterpret_cast<const V*>(p + i + 8);
        c += *reinterpret_cast<const V*>(p + i + 16);
        d += *reinterpret_cast<const V*>(p + i + 24);
    }
    a += b + c + d;
    uint64_t s = 0;
    if constexpr (kAhead > 0) s = sum_words_wide<0>(p + i, n - i);  // the piece's last kAhead words
    else s = sum_words(p + i, n - i);
    for (int k = 0; k < 8; ++k) s += a[k];
    return s;
}
constexpr size_t kPrefetchWords = 4096 / 8;  // how far ahead the prefetching way asks: 4 KiB

bool have_wide_loads() { return __builtin_cpu_supports("avx512f"); }

uint64_t sum_words_by(ReadMethod method, const uint64_t* p, size_t n) {
    switch (method) {
    case ReadMethod::kWide: return sum_words_wide<0>(p, n);
    case ReadMethod::kWidePrefetch: return sum_words_wide<kPrefetchWords>(p, n);
    case ReadMethod::kNarrow: break;
    }
    return sum_words(p, n);
}

// The widest ways, with and without prefetching: what the sustained probe alternates.
std::vector<ReadMethod> widest_read_methods() {
    if (!have_wide_loads()) return {ReadMethod::kNarrow};
    return {ReadMethod::kWide, ReadMethod::kWidePrefetch};
}

// The ways to read this CPU has: plain 64-bit loads, then the widest ways.
std::vector<ReadMethod> read_methods() {
    std::vector<ReadMethod> methods = widest_read_methods();
    if (methods.front() != ReadMethod::kNarrow) methods.insert(methods.begin(), ReadMethod::kNarrow);
    return methods;
}

// The 64-bit words of the ranges (taken one after another) that start in bytes [begin, end),
// summed; returns the bytes read. Words are counted from each range's start and a range's last
// size % 8 bytes are skipped, so pieces that split a range anywhere read each of its words once
// between them, and never a word across the grid (a misaligned load where ranges have odd sizes).
uint64_t sum_span(std::span<const ByteRange> ranges, size_t begin, size_t end, ReadMethod method, uint64_t* sink) {
    uint64_t read = 0;
    size_t at = 0;  // where the current range starts
    for (const ByteRange& r : ranges) {
        const size_t lo = std::max(begin, at), hi = std::min(end, at + r.size);
        if (lo < hi) {
            // Words [w0, w1) of the range: those that start in [lo, hi) and end inside it.
            const size_t w0 = (lo - at + 7) / 8, w1 = std::min((hi - at + 7) / 8, r.size / 8);
            if (w0 < w1) {
                const auto* p = reinterpret_cast<const uint64_t*>(r.data) + w0;
                *sink += sum_words_by(method, p, w1 - w0);
                read += (w1 - w0) * 8;
            }
        }
        at += r.size;
    }
    return read;
}

// Passes of every thread of a pool over the ranges (taken one after another, split at cache
// lines). Each thread reads its share, then what the others have not (ShareCursor claims, at
// least kMinClaimLines each), as the decoding dispatches do: on the 2-vCPU VMs we measure on one
// core streams up to 20% slower than the other at times, and with fixed halves the faster one
// sat idle at the end, so the probe read less than decoding could. The start probe alternating
// the two ways, 2 threads, 8 runs of 10 pairs in the fast memory state: fixed halves 73.8-77.7
// GB/s per run, claims 76.5-80.4 (mean +3.4%); in the slow state 42.7 against 43.0
// (docs/bench.md). The sums go to one cache line per thread and are read at the end, so the
// loads are not optimized away.
class ReadPasses {
public:
    ReadPasses(std::span<const ByteRange> ranges, int n_threads)
        : ranges_(ranges), sink_((size_t)n_threads * 8), cursors_((size_t)n_threads) {
        for (const ByteRange& r : ranges) total_ += r.size;
    }
    ~ReadPasses() {
        volatile uint64_t keep = sum();
        (void)keep;
    }
    bool empty() const { return total_ < 64; }
    // One pass; returns the bytes read.
    uint64_t run(ThreadPool& pool, ReadMethod method) {
        if (!have_wide_loads()) method = ReadMethod::kNarrow;
        const int64_t n_lines = (int64_t)(total_ / 64);
        for (ShareCursor& c : cursors_) c.next.store(0, std::memory_order_relaxed);
        std::atomic<uint64_t> bytes{0};
        pool.run([&](int ith, int nth) {
            uint64_t read = 0;
            for (int k = 0; k < nth; ++k) {
                const int s = (ith + k) % nth;
                int64_t l0, l1;
                split_range(n_lines, s, nth, &l0, &l1);
                // Claims are in lines of share s, from l0.
                for (int64_t b, e; cursors_[(size_t)s].claim(l1 - l0, kMinClaimLines, &b, &e);) {
                    const size_t end = l0 + e == n_lines ? total_ : (size_t)(l0 + e) * 64;
                    read += sum_span(ranges_, (size_t)(l0 + b) * 64, end, method, &sink_[(size_t)ith * 8]);
                }
            }
            bytes.fetch_add(read, std::memory_order_relaxed);
        });
        return bytes.load();
    }
    // The sum of every word read so far.
    uint64_t sum() const {
        uint64_t s = 0;
        for (uint64_t v : sink_) s += v;
        return s;
    }

private:
    // Claims of 1 MiB or more: each claim starts a new stream, which the prefetchers take a while
    // to ramp up (a scratch program claiming fixed pieces, fast state: 70-72 GB/s with 256 KiB
    // pieces, 77-79 with 1 MiB; docs/bench.md).
    static constexpr int64_t kMinClaimLines = (1 << 20) / 64;
    std::span<const ByteRange> ranges_;
    size_t total_ = 0;
    std::vector<uint64_t> sink_;
    std::vector<ShareCursor> cursors_;  // lines of each share claimed so far
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

ReadPassResult read_pass(ThreadPool& pool, std::span<const ByteRange> ranges, ReadMethod method) {
    ReadPasses passes(ranges, pool.size());
    if (passes.empty()) return {};
    const uint64_t bytes = passes.run(pool, method);
    return {bytes, passes.sum()};
}

double measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes, int reps) {
    PageBuffer buf(buffer_bytes);
    if (buf.data() == nullptr) return 0;
    std::memset(buf.data(), 1, buffer_bytes);  // back every page with memory
    const ByteRange whole{buf.data(), buffer_bytes};
    ReadPasses passes({&whole, 1}, pool.size());
    // The bound is the fastest way found to read: the best pass of any method.
    double best = 0;
    for (ReadMethod method : read_methods()) {
        for (int r = 0; r < reps; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            const uint64_t bytes = passes.run(pool, method);
            const double s = seconds_since(t0);
            if (s > 0) best = std::max(best, bytes / s);
        }
    }
    return best;
}

double measure_sustained_read_bandwidth(ThreadPool& pool, std::span<const ByteRange> ranges, double seconds) {
    ReadPasses passes(ranges, pool.size());
    if (passes.empty()) return 0;
    // The widest loads, with and without prefetching, pass by pass, so both meet the same moments
    // of the machine's memory state; the faster one's mean is the bound.
    const std::vector<ReadMethod> methods = widest_read_methods();
    std::vector<double> bytes(methods.size()), time(methods.size());
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t pass = 0; pass < methods.size() || seconds_since(t0) < seconds; ++pass) {
        const size_t m = pass % methods.size();
        const auto p0 = std::chrono::steady_clock::now();
        bytes[m] += (double)passes.run(pool, methods[m]);
        time[m] += seconds_since(p0);
    }
    double best = 0;
    for (size_t m = 0; m < methods.size(); ++m)
        if (time[m] > 0) best = std::max(best, bytes[m] / time[m]);
    return best;
}

}  // namespace retort
