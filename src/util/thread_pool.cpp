#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <utility>

namespace dsinfer {

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(n_threads > 0 ? n_threads : physical_core_count()), shares_(new Share[n_threads_]) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

namespace {

// How long a thread spins on a flag before blocking: long enough to bridge the gap between two parallel
// loops of one forward pass, short enough not to steal a loaded machine's cores for long.
constexpr auto kSpinTime = std::chrono::microseconds(200);

inline void cpu_relax() { __builtin_ia32_pause(); }

// Spins until pred() holds or kSpinTime passes; returns pred().
template <class Pred>
bool spin_until(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (int i = 0;; ++i) {
    if (pred()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) return pred();
  }
}

}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    auto has_work = [&] { return stop_.load() || generation_.load() != seen; };
    if (!spin_until(has_work)) {
      std::unique_lock<std::mutex> lock(mutex_);
      // sleepers_ and generation_ are seq_cst on both sides: either this thread sees the new generation
      // or run_on_all sees the sleeper and notifies under the mutex.
      ++sleepers_;
      wake_.wait(lock, has_work);
      --sleepers_;
    }
    if (stop_) return;
    seen = generation_.load();
    (*job_)(index);
    if (pending_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

void ThreadPool::run_on_all(const std::function<void(int)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1);
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  fn(0);
  auto all_done = [&] { return pending_.load() == 0; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, all_done);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t blocks = (n + grain - 1) / grain;
  const int used = static_cast<int>(std::min<int64_t>(n_threads_, blocks));
  if (used <= 1) {
    fn(0, n, 0);
    return;
  }
  for (int t = 0; t < used; ++t) {
    shares_[t].next.store(blocks * t / used, std::memory_order_relaxed);
    shares_[t].end = blocks * (t + 1) / used;
  }
  // Claims half of what is left of share s (at least one grain): [b0, b1) in grains, or false.
  auto claim = [&](Share& s, int64_t& b0, int64_t& b1) {
    int64_t next = s.next.load(std::memory_order_relaxed);
    for (;;) {
      if (next >= s.end) return false;
      const int64_t take = std::max<int64_t>(1, (s.end - next) / 2);
      if (s.next.compare_exchange_weak(next, next + take, std::memory_order_relaxed)) {
        b0 = next;
        b1 = next + take;
        return true;
      }
    }
  };
  run_on_all([&](int t) {
    if (t >= used) return;
    for (int k = 0; k < used; ++k) {  // its own share first, then the others'
      Share& s = shares_[(t + k) % used];
      for (int64_t b0, b1; claim(s, b0, b1);) fn(b0 * grain, std::min(n, b1 * grain), t);
    }
  });
}

int physical_core_count() {
  // Count distinct (physical id, core id) pairs in /proc/cpuinfo; fall back to hardware_concurrency.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, phys = "0";
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "physical id") phys = value;
    if (key == "core id") cores.insert({phys, value});
  }
  int n = static_cast<int>(cores.size());
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, n);
}

}  // namespace dsinfer
