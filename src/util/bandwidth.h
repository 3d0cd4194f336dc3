// Measures the machine's memory read bandwidth, the bound decode speed is compared with.
#pragma once

#include "util/thread_pool.h"

#include <cstddef>
#include <cstdint>
#include <span>

namespace retort {

// Read bandwidth in bytes/s with every thread of `pool` streaming through a buffer much larger
// than the caches, each its share and then what is left of the others': the best of `reps`
// passes of each ReadMethod the CPU has (one core reads much faster with 512-bit loads).
double measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes = (size_t)1 << 30, int reps = 5);

struct ByteRange {
    const uint8_t* data;
    size_t size;
};

// How a probe reads: 64-bit loads, 512-bit loads, or 512-bit loads with each line also asked for a
// few KiB ahead (which of the last two is faster depends on the state of a shared machine's
// memory). The 512-bit ways fall back to 64-bit loads where the CPU has no AVX-512.
enum class ReadMethod { kNarrow, kWide, kWidePrefetch };

// One pass of the probes below over `ranges`, taken one after another: the bytes read and the sum
// of the 64-bit words read, mod 2^64, for tests. Each range is read as whole words from its start
// (its last size % 8 bytes are skipped), whichever threads claim its pieces.
struct ReadPassResult {
    uint64_t bytes = 0;
    uint64_t sum = 0;
};
ReadPassResult read_pass(ThreadPool& pool, std::span<const ByteRange> ranges,
                         ReadMethod method = ReadMethod::kWide);

// Mean read bandwidth in bytes/s of back-to-back passes through memory that is already resident
// (a model's weights), for at least `seconds` and at least one pass per method, every thread
// streaming its share of the ranges and then what is left of the others', with the widest loads
// the CPU has, passes with and without prefetching in turn: the faster method's mean.
// Run between benchmark repetitions: on a shared machine the bandwidth moves from second to
// second, and a decoding run meets the mean of it, not the best pass.
double measure_sustained_read_bandwidth(ThreadPool& pool, std::span<const ByteRange> ranges, double seconds);

}  // namespace retort
