#pragma once
// Counters the HTTP layer keeps (requests by endpoint and status, time to first token) and the
// Prometheus text exposition of them together with the scheduler's snapshot.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "runtime/scheduler.h"

namespace dsinfer::server {

class ServerMetrics {
 public:
  void count_request(const std::string& endpoint, int status);
  void observe_ttft(double seconds);
  void count_rejection(SubmitStatus s);

  // Prometheus text format (version 0.0.4).
  std::string render(const SchedulerMetrics& s) const;

  static constexpr std::array<double, 12> kTtftBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                         0.5,   1.0,  2.5,   5.0,  10.0, 30.0};

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::array<int64_t, kTtftBuckets.size()> ttft_buckets_{};  // cumulative counts are formed on render
  int64_t ttft_count_ = 0;
  double ttft_sum_ = 0;
  int64_t rejected_queue_full_ = 0, rejected_shutdown_ = 0;
};

}  // namespace dsinfer::server
