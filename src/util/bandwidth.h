// Measures the machine's memory read bandwidth, the bound decode speed is compared with.
#pragma once

#include "util/thread_pool.h"

namespace retort {

// Read bandwidth in bytes/s with every thread of `pool` streaming through its share of a
// buffer much larger than the caches: the best of `reps` passes with 64-bit loads and, where the
// CPU has AVX-512, `reps` more with 512-bit loads (one core reads much faster with those).
double measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes = (size_t)1 << 30, int reps = 5);

}  // namespace retort
