#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <tuple>
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

TEST(ThreadPool, ParallelForRangesAreGrainAlignedAndDisjoint) {
  ThreadPool pool(2);
  for (int64_t n : {5, 64, 65, 1000, 4099}) {
    std::mutex mu;
    std::vector<std::pair<int64_t, int64_t>> ranges;
    pool.parallel_for(n, [&](int64_t b, int64_t e, int) {
      std::lock_guard lk(mu);
      ranges.emplace_back(b, e);
    }, 16);
    std::sort(ranges.begin(), ranges.end());
    int64_t at = 0;
    for (auto [b, e] : ranges) {
      EXPECT_EQ(b, at) << "n=" << n;
      EXPECT_EQ(b % 16, 0);
      EXPECT_TRUE(e == n || e % 16 == 0);
      EXPECT_LT(b, e);
      at = e;
    }
    EXPECT_EQ(at, n);
  }
}

// A thread held up at its first range (here: sleeping) leaves the rest of its share to the others.
TEST(ThreadPool, ParallelForHandsASlowThreadsShareToTheOthers) {
  ThreadPool pool(2);
  constexpr int64_t n = 64;
  std::vector<int> owner(n, -1);
  pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
    for (int64_t i = b; i < e; ++i) owner[i] = t;
    if (t == 0 && b == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  });
  const int64_t by_1 = std::count(owner.begin(), owner.end(), 1);
  EXPECT_EQ(std::count(owner.begin(), owner.end(), -1), 0);
  // Thread 0 claimed half of its 32-index share before sleeping; thread 1 took its own 32 and the 16 left.
  EXPECT_EQ(by_1, 48);
}

TEST(ThreadPool, ParallelForIfRunsInlineOnceOrAcrossThePool) {
  ThreadPool pool(3);
  std::vector<std::tuple<int64_t, int64_t, int>> calls;
  parallel_for_if(pool, false, 40, [&](int64_t b, int64_t e, int t) { calls.emplace_back(b, e, t); }, 8);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::make_tuple(int64_t{0}, int64_t{40}, 0));
  parallel_for_if(pool, false, 0, [&](int64_t, int64_t, int) { calls.emplace_back(-1, -1, -1); });
  EXPECT_EQ(calls.size(), 1u);  // nothing to do: not called
  std::vector<std::atomic<int>> hits(40);
  std::atomic<int> n_calls{0};
  parallel_for_if(pool, true, 40, [&](int64_t b, int64_t e, int) {
    ++n_calls;
    EXPECT_EQ(b % 8, 0);
    for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
  }, 8);
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_GE(n_calls.load(), 2);  // (split: 5 grains over 3 threads)
}

TEST(ThreadPool, ForEachSegmentCutsAUnitRangeAtSegmentBorders) {
  const std::vector<int64_t> first{0, 3, 3, 7, 10};  // segments of 3, 0, 4 and 3 units
  auto pieces = [&](int64_t u0, int64_t u1) {
    std::vector<std::tuple<size_t, int64_t, int64_t>> out;
    for_each_segment(first, u0, u1, [&](size_t s, int64_t b, int64_t e) { out.emplace_back(s, b, e); });
    return out;
  };
  using P = std::vector<std::tuple<size_t, int64_t, int64_t>>;
  EXPECT_EQ(pieces(0, 10), (P{{0, 0, 3}, {2, 0, 4}, {3, 0, 3}}));
  EXPECT_EQ(pieces(2, 8), (P{{0, 2, 3}, {2, 0, 4}, {3, 0, 1}}));
  EXPECT_EQ(pieces(3, 7), (P{{2, 0, 4}}));
  EXPECT_EQ(pieces(9, 10), (P{{3, 2, 3}}));
  EXPECT_EQ(pieces(5, 5), P{});
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
