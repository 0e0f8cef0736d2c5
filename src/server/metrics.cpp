#include "server/metrics.h"

#include <sstream>

namespace dsinfer::server {

void ServerMetrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lk(mu_);
  ++requests_[{endpoint, status}];
}

void ServerMetrics::observe_ttft(double seconds) {
  std::lock_guard lk(mu_);
  for (size_t i = 0; i < kTtftBuckets.size(); ++i) {
    if (seconds <= kTtftBuckets[i]) {
      ++ttft_buckets_[i];
      break;
    }
  }
  ++ttft_count_;
  ttft_sum_ += seconds;
}

void ServerMetrics::count_rejection(SubmitStatus s) {
  std::lock_guard lk(mu_);
  if (s == SubmitStatus::kQueueFull) ++rejected_queue_full_;
  if (s == SubmitStatus::kShuttingDown) ++rejected_shutdown_;
}

std::string ServerMetrics::render(const SchedulerMetrics& s) const {
  std::ostringstream o;
  auto metric = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  auto line = [&](const char* name, auto value) { o << name << ' ' << value << '\n'; };
  std::lock_guard lk(mu_);

  metric("dsinfer_requests_total", "counter", "HTTP requests by endpoint and status code.");
  for (const auto& [key, n] : requests_)
    o << "dsinfer_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << '\n';
  metric("dsinfer_requests_rejected_total", "counter", "Generation requests refused before admission.");
  o << "dsinfer_requests_rejected_total{reason=\"queue_full\"} " << rejected_queue_full_ << '\n';
  o << "dsinfer_requests_rejected_total{reason=\"shutting_down\"} " << rejected_shutdown_ << '\n';
  metric("dsinfer_requests_finished_total", "counter", "Generations finished, by scheduler finish reason.");
  for (FinishReason r : {FinishReason::kStop, FinishReason::kLength, FinishReason::kCancelled, FinishReason::kError})
    o << "dsinfer_requests_finished_total{reason=\"" << finish_reason_name(r) << "\"} " << s.finished[static_cast<int>(r)] << '\n';

  metric("dsinfer_prompt_tokens_total", "counter", "Prompt tokens of admitted requests (cached ones included).");
  line("dsinfer_prompt_tokens_total", s.prompt_tokens);
  metric("dsinfer_prompt_tokens_computed_total", "counter", "Prompt tokens run through the model (not from the prefix cache).");
  line("dsinfer_prompt_tokens_computed_total", s.prompt_tokens_computed);
  metric("dsinfer_generated_tokens_total", "counter", "Generated tokens.");
  line("dsinfer_generated_tokens_total", s.generated_tokens);
  metric("dsinfer_generation_tokens_per_second", "gauge", "Generated tokens per second over the last 10 seconds.");
  line("dsinfer_generation_tokens_per_second", s.tokens_per_second);
  metric("dsinfer_engine_steps_total", "counter", "Forward batches run.");
  line("dsinfer_engine_steps_total", s.steps);
  metric("dsinfer_draft_tokens_total", "counter", "Drafted tokens verified (serve --draft).");
  line("dsinfer_draft_tokens_total", s.drafted);
  metric("dsinfer_draft_accepted_tokens_total", "counter", "Drafted tokens the model agreed with.");
  line("dsinfer_draft_accepted_tokens_total", s.draft_accepted);

  metric("dsinfer_queue_depth", "gauge", "Requests waiting for admission.");
  line("dsinfer_queue_depth", s.queue_depth);
  metric("dsinfer_running_sequences", "gauge", "Requests admitted and generating.");
  line("dsinfer_running_sequences", s.running);
  metric("dsinfer_batch_sequences", "gauge", "Sequences in the last forward batch.");
  line("dsinfer_batch_sequences", s.last_batch_sequences);
  metric("dsinfer_batch_tokens", "gauge", "Tokens in the last forward batch.");
  line("dsinfer_batch_tokens", s.last_batch_tokens);

  metric("dsinfer_kv_pages_total", "gauge", "KV cache pages in the budget.");
  line("dsinfer_kv_pages_total", s.kv_pages_total);
  metric("dsinfer_kv_pages_free", "gauge", "KV cache pages free.");
  line("dsinfer_kv_pages_free", s.kv_pages_free);
  metric("dsinfer_kv_pages_used", "gauge", "KV cache pages in use (running sequences and prefix cache).");
  line("dsinfer_kv_pages_used", s.kv_pages_total - s.kv_pages_free);
  metric("dsinfer_kv_sequences", "gauge", "Live KV cache sequences (running requests and prefix-cache entries).");
  line("dsinfer_kv_sequences", s.kv_sequences);

  metric("dsinfer_prefix_cache_hits_total", "counter", "Admitted requests that reused cached prefix pages.");
  line("dsinfer_prefix_cache_hits_total", s.prefix_hits);
  metric("dsinfer_prefix_cache_misses_total", "counter", "Admitted requests that found no cached prefix.");
  line("dsinfer_prefix_cache_misses_total", s.prefix_misses);
  metric("dsinfer_prefix_cache_hit_rate", "gauge", "Share of admitted requests that reused a cached prefix.");
  const int64_t lookups = s.prefix_hits + s.prefix_misses;
  line("dsinfer_prefix_cache_hit_rate", lookups ? static_cast<double>(s.prefix_hits) / lookups : 0.0);
  metric("dsinfer_prefix_cache_tokens_total", "counter", "Prompt tokens served from the prefix cache.");
  line("dsinfer_prefix_cache_tokens_total", s.prefix_cached_tokens);
  metric("dsinfer_prefix_cache_entries", "gauge", "Prefix-cache entries.");
  line("dsinfer_prefix_cache_entries", s.prefix_entries);
  metric("dsinfer_prefix_cache_pages", "gauge", "Pages referenced by prefix-cache entries (shared pages counted per entry).");
  line("dsinfer_prefix_cache_pages", s.prefix_pages);

  metric("dsinfer_time_to_first_token_seconds", "histogram", "Time from request arrival to its first token.");
  int64_t cum = 0;
  for (size_t i = 0; i < kTtftBuckets.size(); ++i) {
    cum += ttft_buckets_[i];
    o << "dsinfer_time_to_first_token_seconds_bucket{le=\"" << kTtftBuckets[i] << "\"} " << cum << '\n';
  }
  o << "dsinfer_time_to_first_token_seconds_bucket{le=\"+Inf\"} " << ttft_count_ << '\n';
  line("dsinfer_time_to_first_token_seconds_sum", ttft_sum_);
  line("dsinfer_time_to_first_token_seconds_count", ttft_count_);
  return o.str();
}

}  // namespace dsinfer::server
