#pragma once
// Continuous batching (the server's engine). Requests enter a bounded queue; one engine thread loops:
//   1. drops cancelled requests (their pages return to the cache at once),
//   2. admits queued requests while sequence slots and KV pages allow (a request reserves pages for
//      prompt + max_tokens up front, so a running sequence can never run out of memory; least recently
//      used prefix-cache entries are evicted to make room),
//   3. builds ONE forward batch from the next token of every decoding sequence plus up to prefill_chunk
//      prompt tokens of sequences still prefilling (so running streams keep flowing while a long prompt
//      is read; prefill_chunk_idle while none is decoding),
//   4. samples each sequence's next token with its own Sampler (seeded per request) and hands it to the
//      request's stream (with its log-probabilities when the request asked for them); a sequence that hits a stop token, max_tokens or a cancel is finished and freed.
// With drafting (SchedulerOptions::draft) a decoding sequence also puts its drafted next tokens into the
// batch, after its own (while at most draft_max_sequences decode together): when the model agrees, the
// sequence gets more than one token from the step (runtime/drafter.h; greedy results are unchanged). MTP drafting
// runs the model's MTP module over every step's new rows in one more, small batch.
// The forward pass computes every token of a batch as it would alone, so batching does not change
// results. Submission never blocks: a full queue or a request that can never fit is refused with a reason.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/kv_cache.h"
#include "model/transformer.h"
#include "runtime/output_constraint.h"
#include "runtime/prefix_cache.h"
#include "runtime/prefix_cache_file.h"
#include "runtime/sampler.h"

namespace dsinfer {

enum class DraftMode { kNone, kLookup, kMtp };

struct SchedulerOptions {
  int64_t max_sequences = 4;     // sequences decoded together (--parallel)
  int64_t max_context = 4096;    // prompt + generated tokens of one request (--ctx)
  int64_t kv_pages = 0;          // KV budget in pages; 0 = max_sequences * ceil(max_context / page_tokens)
  int64_t page_tokens = 16;      // KV page size = prefix-reuse granularity
  DType kv_dtype = DType::F32;  // latent cache storage (model/kv_cache.h)
  int64_t prefill_chunk = 128;   // prompt tokens per engine step, over all prefilling sequences
  // The same while no sequence is decoding (0: prefill_chunk): nothing waits on such a step, and a larger
  // batch reads the expert weights once for more tokens (a burst of 16 short prompts in one step, not two).
  int64_t prefill_chunk_idle = 0;
  int64_t max_queue = 64;        // requests waiting for admission
  bool prefix_cache = true;
  // Loaded when the scheduler starts, written when it shuts down (runtime/prefix_cache_file.h); "" = none.
  std::string prefix_cache_file;
  uint64_t prefix_cache_fingerprint = 0;  // identifies the model and build the file's rows belong to
  // Also written while the engine is idle, at most this often, when the cache changed (a crash then loses
  // at most this much); 0 = only at shutdown.
  double prefix_cache_save_seconds = 300;
  DraftMode draft = DraftMode::kNone;  // kMtp: the model loaded with its MTP module (LoadOptions::mtp)
  int64_t draft_max_sequences = 4;     // draft only while at most this many sequences decode together
  double draft_min_acceptance = 0.0;   // and, per sequence, while its drafts come true this often (DraftGate)
  int64_t draft_max_tokens = 1;        // the longest draft verified in a step (lookup; MTP drafts one)
};

struct GenerationRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = 16;           // 0: the prompt is read (and scored), nothing generated
  std::vector<int32_t> stop_tokens;  // generation ends after emitting one of these (it is emitted)
  int top_logprobs = -1;             // >= 0: each token comes with its logprob and this many alternatives
  // With top_logprobs >= 0: the prompt's tokens too (from the second on, each under the logits of the one
  // before), streamed ahead of the answer; the whole prompt is computed (no prefix reuse). With
  // max_tokens 0 that scores a text without generating (max_tokens 0 alone only reads the prompt).
  bool prompt_logprobs = false;
  // Set: the answer is constrained (JSON mode, forced tool calls) and ends (kStop) when it is complete.
  ConstraintFactory constraint;
};

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct RequestStats {
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;       // prompt tokens whose KV came from the prefix cache
  int64_t completion_tokens = 0;
  double queue_seconds = 0;        // submit -> admitted
  double first_token_seconds = 0;  // submit -> first token (0 if none)
  double total_seconds = 0;        // submit -> finished
};

// The consumer side of one request: tokens as they are sampled, then one finish. Thread-safe.
class RequestStream {
 public:
  struct Event {
    bool finished = false;
    int32_t token = -1;  // when !finished
    std::optional<TokenLogprobs> logprobs;  // when !finished and the request asked for them
    int64_t prompt_pos = -1;  // >= 0: not a generated token but prompt token `token` at this position
    FinishReason reason = FinishReason::kNone;
    std::string error;   // kError
  };
  // Waits up to `timeout` for the next event; false on timeout. After the finish event it keeps
  // returning the finish event.
  bool next(Event& ev, std::chrono::milliseconds timeout);
  // Stops generation from any thread; the engine frees the request's pages within one step.
  void cancel();
  bool cancelled() const { return cancel_.load(); }
  bool finished() const;
  RequestStats stats() const;

  // The producer side: the scheduler's engine thread (and tests that script a stream).
  void push(int32_t token, std::optional<TokenLogprobs> logprobs = std::nullopt);
  void push_prompt(int64_t pos, int32_t token, TokenLogprobs logprobs);
  void finish(FinishReason reason, const RequestStats& stats, std::string error = {});

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> tokens_;  // not yet taken (never finish events)

  void push_event(Event ev);
  bool finished_ = false;
  FinishReason reason_ = FinishReason::kNone;
  std::string error_;
  RequestStats stats_;
  std::atomic<bool> cancel_{false};
};

enum class SubmitStatus {
  kOk,
  kInvalid,       // empty prompt, bad sampling parameters
  kTooLong,       // prompt + max_tokens exceeds max_context or the whole KV budget
  kQueueFull,     // try again later (HTTP 429)
  kShuttingDown,  // HTTP 503
};

struct SubmitResult {
  SubmitStatus status = SubmitStatus::kOk;
  std::string message;
  std::shared_ptr<RequestStream> stream;  // set when kOk
};

// A snapshot for /metrics.
struct SchedulerMetrics {
  int64_t queue_depth = 0;
  int64_t running = 0;            // admitted sequences
  int64_t last_batch_tokens = 0;  // tokens in the last forward batch
  int64_t last_batch_sequences = 0;
  int64_t prompt_tokens = 0;      // prompt tokens admitted (cached ones included)
  int64_t prompt_tokens_computed = 0;
  int64_t generated_tokens = 0;
  int64_t steps = 0;
  int64_t drafted = 0;            // drafted tokens verified
  int64_t draft_accepted = 0;     // of which the model agreed with
  double tokens_per_second = 0;   // generated tokens per second over the last few seconds
  int64_t prefix_hits = 0;        // admitted requests that reused cached pages
  int64_t prefix_misses = 0;
  int64_t prefix_cached_tokens = 0;
  int64_t prefix_entries = 0;
  int64_t prefix_pages = 0;       // pages referenced by prefix-cache entries (upper bound of pages held)
  int64_t kv_pages_total = 0;
  int64_t kv_pages_free = 0;
  int64_t kv_sequences = 0;       // live sequences in the KV cache (running + prefix-cache entries)
  int64_t finished[5] = {};       // by FinishReason
};

class Scheduler {
 public:
  Scheduler(Transformer& model, const SchedulerOptions& options);
  ~Scheduler();  // shutdown(true)
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  SubmitResult submit(GenerationRequest request);
  SchedulerMetrics metrics() const;
  const SchedulerOptions& options() const { return options_; }
  // Stops admitting (submit gives kShuttingDown), then cancels (or, with cancel_running = false, finishes)
  // everything queued and running and joins the engine thread. Idempotent.
  void shutdown(bool cancel_running = true);
  // Drops every prefix-cache entry (on the engine thread, before its next step); for tests and memory
  // checks. Returns once done.
  void clear_prefix_cache();
  // SchedulerOptions::prefix_cache_file: what was read at start, and what the engine wrote as it stopped
  // (after shutdown() returns; `skipped` holds a write error).
  const PrefixFileReport& prefix_file_loaded() const { return prefix_loaded_; }
  PrefixFileReport prefix_file_saved() const;

 private:
  struct Active;
  using Clock = std::chrono::steady_clock;

  Transformer& model_;
  SchedulerOptions options_;
  LatentKvCache cache_;
  PrefixCache prefix_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Active>> queue_;
  bool stopping_ = false;
  bool cancel_on_stop_ = true;
  bool clear_prefix_requested_ = false;
  std::condition_variable cleared_cv_;
  SchedulerMetrics metrics_;
  std::deque<std::pair<Clock::time_point, int64_t>> rate_window_;  // (time, generated_tokens)
  std::thread engine_;
  PrefixFileReport prefix_loaded_;
  mutable std::mutex save_mu_;  // prefix_saved_: written by the engine thread as it stops
  PrefixFileReport prefix_saved_;

  std::vector<std::unique_ptr<Active>> running_;  // engine thread only

  void engine_loop();
  void save_prefix_file();  // engine thread
  uint64_t saved_changes_ = 0;       // prefix_.changes() when the file was last written (engine thread)
  Clock::time_point last_save_{};
  bool admit(std::unique_ptr<Active>& a);  // engine thread, mu_ not held
  void step();
  struct Span;
  void draft_next(const std::vector<Span>& spans, const std::vector<float>& hidden);
  void finish(Active& a, FinishReason reason, const std::string& error = {});
  void update_metrics_locked();
};

}  // namespace dsinfer
