#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace dsinfer {
namespace {

TEST(ThreadPool, ParallelForCoversEveryIndexOnceInGrainedRanges) {
  ThreadPool pool(3);
  for (int64_t n : {1, 2, 31, 32, 33, 1000}) {
    std::vector<std::atomic<int>> hits(n);
    pool.parallel_for(n, [&](int64_t b, int64_t e, int) {
      EXPECT_EQ(b % 32, 0);
      for (int64_t i = b; i < e; ++i) hits[i]++;
    }, 32);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ThreadPool, RunOnAllReachesEveryThreadRepeatedly) {
  ThreadPool pool(4);
  for (int rep = 0; rep < 200; ++rep) {
    std::atomic<int> mask{0};
    pool.run_on_all([&](int t) { mask |= 1 << t; });
    ASSERT_EQ(mask.load(), 0xf);
  }
}

TEST(ThreadPool, PhysicalCoresAtLeastOne) { EXPECT_GE(physical_core_count(), 1); }

}  // namespace
}  // namespace dsinfer
