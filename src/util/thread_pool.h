#pragma once
// A fixed pool of worker threads, created once and reused for every parallel loop (no per-token thread
// creation). The calling thread takes part as worker 0, so a pool of n threads starts n-1 workers.
// A decoded token runs hundreds of parallel loops a few microseconds apart, so idle workers (and the
// caller waiting for them) spin briefly before sleeping on a condition variable.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
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

  // Splits [0, n) into contiguous static ranges, one per thread: fn(begin, end, thread_index).
  // Ranges are multiples of `grain` (except the last), so block-structured work never splits a block.
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
};

// Physical cores of this machine (hyper-threads not counted); at least 1.
int physical_core_count();

}  // namespace dsinfer
