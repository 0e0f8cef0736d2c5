#pragma once
// A fixed pool of worker threads, created once and reused for every parallel loop (no per-token thread
// creation). The calling thread takes part as worker 0, so a pool of n threads starts n-1 workers.
// A decoded token runs hundreds of parallel loops a few microseconds apart, so idle workers (and the
// caller waiting for them) spin briefly before sleeping on a condition variable.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace dsinfer {

class ThreadPool {
 public:
  // n_threads <= 0 means one per physical core.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread_index) once on every thread of the pool and waits for all of them.
  void run_on_all(const std::function<void(int)>& fn);

  // Runs fn(begin, end, thread_index) over ranges that cover [0, n) exactly once. Every range starts at a
  // multiple of `grain` and ends at one (or at n), so block-structured work never splits a block.
  // Each thread owns a contiguous share and claims it from the front in shrinking pieces (half of what
  // is left, down to one grain), so it streams its share in order with a few calls; a thread whose share
  // is done claims the rest of the others' shares the same way. Threads finish within about one grain
  // of each other even when one of them runs slower (memory contention, an interrupt), and fn may be
  // called several times per thread, with ranges that are not adjacent.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain = 1);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int)>* job_ = nullptr;  // published by the generation_ increment
  std::atomic<uint64_t> generation_{0};             // one per run_on_all
  std::atomic<int> pending_{0};                     // workers still running the current job
  std::atomic<int> sleepers_{0};                    // workers blocked on wake_
  std::atomic<bool> stop_{false};

  // parallel_for's shares: thread t's next unclaimed grain and the end of its share.
  struct alignas(64) Share {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };
  std::unique_ptr<Share[]> shares_;
};

// fn over [0, n): across the pool when `parallel` (as parallel_for), else once as fn(0, n, 0) on the
// calling thread — for work that only pays for a region's wake-up when it is large (a prefill's, not a
// decode step's).
inline void parallel_for_if(ThreadPool& pool, bool parallel, int64_t n,
                            const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain = 1) {
  if (parallel) {
    pool.parallel_for(n, fn, grain);
  } else if (n > 0) {
    fn(0, n, 0);
  }
}

// Calls f(segment, begin, end) for each piece of the unit range [u0, u1) that falls in a segment, with
// begin / end counted from the segment's first unit; segment s holds units [first[s], first[s + 1])
// (`first` ascending, first[0] = 0). A parallel_for over several matrices laid end to end finds the
// rows of each in its range this way.
template <class F>
void for_each_segment(const std::vector<int64_t>& first, int64_t u0, int64_t u1, F&& f) {
  size_t s = static_cast<size_t>(std::upper_bound(first.begin(), first.end(), u0) - first.begin()) - 1;
  for (; s + 1 < first.size() && first[s] < u1; ++s) {
    const int64_t b = std::max(u0, first[s]), e = std::min(u1, first[s + 1]);
    if (b < e) f(s, b - first[s], e - first[s]);
  }
}

// Physical cores of this machine (hyper-threads not counted); at least 1.
int physical_core_count();

}  // namespace dsinfer
