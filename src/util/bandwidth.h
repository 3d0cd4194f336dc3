// Measures the machine's memory read bandwidth, the bound decode speed is compared with.
#pragma once

#include "util/thread_pool.h"

namespace retort {

// Read bandwidth in bytes/s with every thread of `pool` streaming through its share of a
// buffer much larger than the caches (best of `reps` passes).
double measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes = (size_t)1 << 30, int reps = 5);

}  // namespace retort
