// The bandwidth probe returns a positive, finite figure with any pool size (its value is a benchmark,
// not a test: no bound on it).

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/cpu/bandwidth.h"

namespace dsinfer {
namespace {

TEST(Bandwidth, ProbeGivesAPositiveFiniteFigure) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    const double gbs = measure_read_bandwidth(pool, size_t{8} << 20, 2);
    EXPECT_GT(gbs, 0.0) << threads;
    EXPECT_TRUE(std::isfinite(gbs)) << threads;
  }
}

}  // namespace
}  // namespace dsinfer
