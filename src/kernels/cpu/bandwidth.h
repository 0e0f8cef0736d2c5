#pragma once
// The machine's sustained memory read bandwidth, measured the way decode reads weights: every thread
// of the pool streams its own contiguous half (third, ...) of a buffer much larger than the caches.

#include <cstddef>

#include "util/thread_pool.h"

namespace dsinfer {

// Best of `reps` timed passes over a `bytes` buffer (touched once before timing), in GB/s (1e9 B/s).
double measure_read_bandwidth(ThreadPool& pool, size_t bytes = size_t{1} << 30, int reps = 5);

}  // namespace dsinfer
