#include "kernels/cpu/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace dsinfer {
namespace {

// Sums 64-bit words with 8 independent accumulators (vectorized by the compiler), so the loop is
// bound by the loads, not by a dependency chain.
uint64_t read_sum(const uint64_t* p, size_t n) {
  uint64_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) a[j] += p[i + j];
  for (; i < n; ++i) a[0] += p[i];
  return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

}  // namespace

double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int reps) {
  const size_t n = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
  const int nth = pool.size();
  // First touch by the thread that will read each part.
  pool.run_on_all([&](int t) {
    const size_t b = n * t / nth, e = n * (t + 1) / nth;
    for (size_t i = b; i < e; ++i) buf[i] = i;
  });
  std::vector<uint64_t> sink(static_cast<size_t>(nth));
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.run_on_all([&](int t) {
      const size_t b = n * t / nth, e = n * (t + 1) / nth;
      sink[t] += read_sum(buf.get() + b, e - b);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / s / 1e9);
  }
  volatile uint64_t keep = 0;
  for (uint64_t v : sink) keep = keep + v;
  return best;
}

}  // namespace dsinfer
