// Whether a read bandwidth belongs to the moment or to the buffer: N buffers on huge pages are
// read in turn with retort's own sustained probe (the one `retort bench --interleave-bw` runs on a
// model's weights), and each buffer's mean GB/s is printed every 2 s. On the shared VMs we measure
// on, every buffer moves with the machine's memory state, and each keeps its own rate within a
// state (docs/bench.md, "The roofline: two bandwidth probes").
//
//   buffer_rates [BUFFERS=4] [SECONDS=30] [THREADS=2]      (512 MiB per buffer)
#include "util/bandwidth.h"
#include "util/page_buffer.h"
#include "util/thread_pool.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
    using namespace retort;
    using Clock = std::chrono::steady_clock;
    const int n_buffers = argc > 1 ? std::atoi(argv[1]) : 4;
    const double seconds = argc > 2 ? std::atof(argv[2]) : 30;
    const int n_threads = argc > 3 ? std::atoi(argv[3]) : 2;
    if (n_buffers < 1 || n_buffers > 64 || seconds <= 0 || n_threads < 1 || n_threads > 1024) {
        std::fprintf(stderr, "usage: buffer_rates [BUFFERS 1..64] [SECONDS > 0] [THREADS 1..1024]\n");
        return 2;
    }
    constexpr size_t kBytes = size_t{512} << 20;
    std::vector<PageBuffer> buffers;
    for (int i = 0; i < n_buffers; ++i) {
        PageBuffer& b = buffers.emplace_back(kBytes);
        if (b.data() == nullptr) {
            std::fprintf(stderr, "buffer_rates: cannot map buffer %d (%zu bytes)\n", i, kBytes);
            return 1;
        }
        std::memset(b.data(), 1, kBytes);  // resident before the first read
    }
    ThreadPool pool(n_threads);
    std::vector<double> rate_sum(n_buffers), passes(n_buffers);
    const auto start = Clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
    for (double printed = 0; elapsed() < seconds;) {
        for (int i = 0; i < n_buffers; ++i) {
            const ByteRange range{buffers[i].data(), kBytes};
            rate_sum[i] += measure_sustained_read_bandwidth(pool, {&range, 1}, 0);  // one pass per way to read
            passes[i] += 1;
        }
        if (elapsed() - printed < 2.0) continue;
        printed = elapsed();
        std::printf("t=%5.1f s", printed);
        for (int i = 0; i < n_buffers; ++i) {
            std::printf("  buffer %d %5.1f GB/s", i, rate_sum[i] / passes[i] / 1e9);
            rate_sum[i] = passes[i] = 0;
        }
        std::printf("\n");
        std::fflush(stdout);
    }
}
