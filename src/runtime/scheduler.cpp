#include "runtime/scheduler.h"

#include <algorithm>

#include "runtime/drafter.h"
#include "util/error.h"
#include "util/log.h"

namespace dsinfer {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return "none";
}

// ---- RequestStream ----

bool RequestStream::next(Event& ev, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return !tokens_.empty() || finished_; })) return false;
  ev = Event{};
  if (!tokens_.empty()) {
    ev = std::move(tokens_.front());
    tokens_.pop_front();
    return true;
  }
  ev.finished = true;
  ev.reason = reason_;
  ev.error = error_;
  return true;
}

void RequestStream::cancel() { cancel_.store(true); }

bool RequestStream::finished() const {
  std::lock_guard lk(mu_);
  return finished_;
}

RequestStats RequestStream::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void RequestStream::push(int32_t token, std::optional<TokenLogprobs> logprobs) {
  Event ev;
  ev.token = token;
  ev.logprobs = std::move(logprobs);
  push_event(std::move(ev));
}

void RequestStream::push_prompt(int64_t pos, int32_t token, TokenLogprobs logprobs) {
  Event ev;
  ev.token = token;
  ev.logprobs = std::move(logprobs);
  ev.prompt_pos = pos;
  push_event(std::move(ev));
}

void RequestStream::push_event(Event ev) {
  {
    std::lock_guard lk(mu_);
    tokens_.push_back(std::move(ev));
  }
  cv_.notify_all();
}

void RequestStream::finish(FinishReason reason, const RequestStats& stats, std::string error) {
  {
    std::lock_guard lk(mu_);
    if (finished_) return;
    finished_ = true;
    reason_ = reason;
    stats_ = stats;
    error_ = std::move(error);
  }
  cv_.notify_all();
}

// ---- Scheduler ----

struct Scheduler::Active {
  GenerationRequest req;
  std::shared_ptr<RequestStream> stream;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<OutputConstraint> constraint;
  std::vector<int32_t> history;  // prompt, then generated tokens
  int seq = -1;                  // in the KV cache, once admitted
  int64_t n_computed = 0;        // KV rows written: positions [0, n_computed)
  int64_t n_generated = 0;
  std::vector<int32_t> draft;    // the drafter's proposal for the next tokens (SchedulerOptions::draft)
  DraftGate gate;                // whether verifying this sequence's drafts pays
  Clock::time_point submitted;
  RequestStats stats;
};

namespace {

int64_t pages_for(int64_t tokens, int64_t page) { return (tokens + page - 1) / page; }

LatentKvCache make_cache(const ModelConfig& c, const SchedulerOptions& o) {
  if (o.max_sequences < 1) fail("scheduler: max_sequences must be >= 1, got ", o.max_sequences);
  if (o.max_context < 2) fail("scheduler: max_context must be >= 2, got ", o.max_context);
  if (o.page_tokens < 1 || o.prefill_chunk < 1 || o.prefill_chunk_idle < 0)
    fail("scheduler: page_tokens and prefill_chunk must be >= 1, prefill_chunk_idle >= 0");
  if (o.draft_max_sequences < 0) fail("scheduler: draft_max_sequences must be >= 0");
  const int64_t pages = o.kv_pages > 0 ? o.kv_pages : o.max_sequences * pages_for(o.max_context, o.page_tokens);
  // MTP drafting keeps the module's own latent row per position (one more layer).
  const int64_t layers = c.num_hidden_layers + (o.draft == DraftMode::kMtp ? c.num_nextn_predict_layers : 0);
  return LatentKvCache(layers, c.cache_row_dim(), o.page_tokens, pages, o.kv_dtype);
}

}  // namespace

Scheduler::Scheduler(Transformer& model, const SchedulerOptions& options)
    : model_(model), options_(options), cache_(make_cache(model.config(), options)), prefix_(cache_) {
  if (options.draft == DraftMode::kMtp && model.mtp_modules() == 0)
    fail("scheduler: MTP drafting needs the model loaded with its MTP module");
  if (options.prefix_cache && !options.prefix_cache_file.empty())
    prefix_loaded_ = load_prefix_cache(prefix_, cache_, options.prefix_cache_fingerprint, options.prefix_cache_file);
  saved_changes_ = prefix_.changes();  // what the file holds (or nothing to write yet)
  last_save_ = Clock::now();
  metrics_.kv_pages_total = cache_.total_pages();
  update_metrics_locked();  // no engine thread yet
  engine_ = std::thread([this] { engine_loop(); });
}

void Scheduler::save_prefix_file() {
  std::lock_guard lk(save_mu_);
  try {
    prefix_saved_ = save_prefix_cache(prefix_, cache_, options_.prefix_cache_fingerprint, options_.prefix_cache_file);
  } catch (const Error& e) {
    prefix_saved_ = {};
    prefix_saved_.skipped = e.what();
  }
  saved_changes_ = prefix_.changes();
  last_save_ = Clock::now();
}

PrefixFileReport Scheduler::prefix_file_saved() const {
  std::lock_guard lk(save_mu_);
  return prefix_saved_;
}

Scheduler::~Scheduler() { shutdown(true); }

SubmitResult Scheduler::submit(GenerationRequest request) {
  SubmitResult r;
  const int64_t n_prompt = static_cast<int64_t>(request.prompt.size());
  const int64_t vocab = model_.config().vocab_size;
  auto refuse = [&](SubmitStatus s, std::string msg) {
    r.status = s;
    r.message = std::move(msg);
    return r;
  };
  if (n_prompt == 0) return refuse(SubmitStatus::kInvalid, "the prompt is empty");
  for (int32_t id : request.prompt)
    if (id < 0 || id >= vocab) return refuse(SubmitStatus::kInvalid, cat("token id ", id, " is outside the vocabulary [0, ", vocab, ")"));
  if (request.prompt_logprobs && request.top_logprobs < 0)
    return refuse(SubmitStatus::kInvalid, "prompt logprobs need top_logprobs >= 0");
  if (request.max_tokens < 0) return refuse(SubmitStatus::kInvalid, cat("max_tokens must be >= 0, got ", request.max_tokens));
  if (request.top_logprobs > kMaxTopLogprobs)
    return refuse(SubmitStatus::kInvalid, cat("top_logprobs must be <= ", kMaxTopLogprobs, ", got ", request.top_logprobs));
  for (const auto& [id, bias] : request.sampling.logit_bias)
    if (id < 0 || id >= vocab) return refuse(SubmitStatus::kInvalid, cat("logit_bias: token id ", id, " is outside the vocabulary [0, ", vocab, ")"));
  try {
    request.sampling.validate();
  } catch (const Error& e) {
    return refuse(SubmitStatus::kInvalid, e.what());
  }
  const int64_t total = n_prompt + request.max_tokens;
  if (total > options_.max_context)
    return refuse(SubmitStatus::kTooLong, cat("the prompt (", n_prompt, " tokens) plus max_tokens (", request.max_tokens,
                                              ") exceeds the context of ", options_.max_context, " tokens"));
  if (pages_for(total, cache_.page_tokens()) > cache_.total_pages())
    return refuse(SubmitStatus::kTooLong, cat("the prompt plus max_tokens (", total, " tokens) exceeds the KV cache (",
                                              cache_.total_pages() * cache_.page_tokens(), " tokens)"));
  auto a = std::make_unique<Active>();
  a->stream = std::make_shared<RequestStream>();
  a->history = request.prompt;
  a->req = std::move(request);
  a->submitted = Clock::now();
  a->stats.prompt_tokens = n_prompt;
  {
    std::lock_guard lk(mu_);
    if (stopping_) return refuse(SubmitStatus::kShuttingDown, "the server is shutting down");
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queue)
      return refuse(SubmitStatus::kQueueFull, cat("the request queue is full (", options_.max_queue, " waiting)"));
    r.stream = a->stream;
    queue_.push_back(std::move(a));
    metrics_.queue_depth = static_cast<int64_t>(queue_.size());
  }
  cv_.notify_all();
  return r;
}

SchedulerMetrics Scheduler::metrics() const {
  std::lock_guard lk(mu_);
  return metrics_;
}

void Scheduler::shutdown(bool cancel_running) {
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      stopping_ = true;
      cancel_on_stop_ = cancel_running;
    }
  }
  cv_.notify_all();
  if (engine_.joinable() && std::this_thread::get_id() != engine_.get_id()) engine_.join();
}

void Scheduler::clear_prefix_cache() {
  std::unique_lock lk(mu_);
  if (!engine_.joinable() || stopping_) return;
  clear_prefix_requested_ = true;
  cv_.notify_all();
  cleared_cv_.wait(lk, [&] { return !clear_prefix_requested_ || stopping_; });
}

bool Scheduler::admit(std::unique_ptr<Active>& a) {
  const int64_t page = cache_.page_tokens();
  const int64_t n_prompt = static_cast<int64_t>(a->req.prompt.size());
  const int64_t total = n_prompt + a->req.max_tokens;
  // At least the last prompt token is computed here: its logits give the first generated token, and a
  // shared page must never be written.
  PrefixCache::Match m;
  if (options_.prefix_cache && !a->req.prompt_logprobs) m = prefix_.lookup(a->req.prompt, n_prompt - 1);
  const int seq = m.seq >= 0 ? cache_.fork_prefix(m.seq, m.tokens) : cache_.create_sequence();
  const int64_t need = pages_for(total, page) - m.tokens / page;
  // Evict cached prefixes only when that can make enough room (the forked sequence keeps its own pages).
  if (cache_.free_pages() < need && cache_.free_pages() + prefix_.referenced_pages() >= need) {
    while (cache_.free_pages() < need && prefix_.evict_one()) {
    }
  }
  if (!cache_.reserve(seq, total)) {
    cache_.free_sequence(seq);
    return false;
  }
  a->seq = seq;
  a->n_computed = cache_.shared_tokens(seq);
  a->sampler = std::make_unique<Sampler>(a->req.sampling);
  a->gate = DraftGate(options_.draft_min_acceptance);
  if (a->req.constraint) a->constraint = a->req.constraint();
  a->stats.cached_tokens = a->n_computed;
  a->stats.queue_seconds = std::chrono::duration<double>(Clock::now() - a->submitted).count();
  std::lock_guard lk(mu_);
  metrics_.prompt_tokens += n_prompt;
  metrics_.prompt_tokens_computed += n_prompt - a->n_computed;
  if (options_.prefix_cache) {
    (a->n_computed > 0 ? metrics_.prefix_hits : metrics_.prefix_misses) += 1;
    metrics_.prefix_cached_tokens += a->n_computed;
  }
  return true;
}

void Scheduler::finish(Active& a, FinishReason reason, const std::string& error) {
  if (a.seq >= 0) {
    if (options_.prefix_cache && reason != FinishReason::kError) prefix_.insert(a.seq, a.history, a.n_computed);
    cache_.free_sequence(a.seq);
    a.seq = -1;
  }
  a.stats.completion_tokens = a.n_generated;
  a.stats.total_seconds = std::chrono::duration<double>(Clock::now() - a.submitted).count();
  {
    std::lock_guard lk(mu_);
    metrics_.finished[static_cast<int>(reason)] += 1;
  }
  a.stream->finish(reason, a.stats, error);
}

// Where a sequence's rows start in a step's batch: position pos0 at batch row b0, the next positions (its
// draft's included) in the rows after it.
struct Scheduler::Span {
  Active* a;
  int64_t b0, pos0;
};

void Scheduler::step() {
  const int64_t vocab = model_.config().vocab_size;
  Batch batch;
  // The logits rows of the batch, in order: a sequence's last token (its next token is sampled; none
  // when max_tokens is 0) or, for prompt logprobs, a prompt token whose row scores the one after it. A
  // sampled row that verifies a draft has the draft's rows right after it.
  struct Row {
    Active* a;
    int64_t pos;
    int64_t logit;                  // its row in the logits
    bool sample;
    int64_t verify = 0;             // drafted tokens verified: proposed[0, verify), logits at logit + 1 ..
    std::vector<int32_t> proposed;  // the drafter's proposal (verified or not)
  };
  std::vector<Row> rows;
  std::vector<Span> spans;
  int64_t n_decoding = 0;
  for (auto& a : running_) n_decoding += a->n_generated > 0;
  const bool drafting = options_.draft != DraftMode::kNone && n_decoding <= options_.draft_max_sequences;
  int64_t budget = n_decoding == 0 && options_.prefill_chunk_idle > 0 ? options_.prefill_chunk_idle
                                                                       : options_.prefill_chunk;
  int64_t n_logits = 0;
  // Decoding sequences first (one token each, and a draft), then prompt chunks in admission order.
  for (int pass = 0; pass < 2; ++pass) {
    for (auto& a : running_) {
      const int64_t n_hist = static_cast<int64_t>(a->history.size());
      const bool decoding = a->n_generated > 0;
      if (decoding != (pass == 0)) continue;
      int64_t n = n_hist - a->n_computed;
      if (!decoding) n = std::min(n, budget);
      if (n <= 0) continue;
      spans.push_back({a.get(), batch.size(), a->n_computed});
      for (int64_t i = 0; i < n; ++i) {
        const int64_t pos = a->n_computed + i;
        const bool last = pos == n_hist - 1;
        const bool scores_next = !decoding && !last && a->req.prompt_logprobs;
        const bool sample = last && a->req.max_tokens > 0;
        batch.add(a->history[pos], pos, a->seq, sample || scores_next);
        if (sample || scores_next) rows.push_back({a.get(), pos, n_logits++, sample, 0, {}});
      }
      if (decoding) {
        // (at most max_tokens - generated - 1 drafts: their rows stay below prompt + max_tokens)
        Row& row = rows.back();
        row.proposed = std::move(a->draft);
        if (drafting && a->gate.open())
          row.verify = std::min<int64_t>(static_cast<int64_t>(row.proposed.size()),
                                         a->req.max_tokens - a->n_generated - 1);
        for (int64_t j = 0; j < row.verify; ++j) batch.add(row.proposed[j], n_hist + j, a->seq, true);
        n_logits += row.verify;
      }
      a->draft.clear();
      a->n_computed += n;
      if (!decoding) budget -= n;
    }
  }
  if (batch.size() == 0) return;
  const bool mtp = options_.draft == DraftMode::kMtp;
  std::vector<float> logits, hidden;
  try {
    logits = model_.forward(batch, cache_, nullptr, mtp ? &hidden : nullptr);
  } catch (const std::exception& e) {
    log_at(LogLevel::kError, "scheduler: forward failed: ", e.what());
    for (auto& a : running_) finish(*a, FinishReason::kError, e.what());
    running_.clear();
    return;
  }
  // Each sequence samples with its own Sampler, so they can run side by side (a temperature draw sorts
  // the whole vocabulary: ~10 ms for 129k tokens, too long to do 16 of them one after another).
  struct Picked {
    std::vector<int32_t> tokens;  // 1, or 1 + the drafts accepted; -1: nothing could continue
    std::vector<std::optional<TokenLogprobs>> logprobs;
    std::vector<uint8_t> hits;    // per proposed token checked: the token that came was it
    int64_t accepted = 0;
    bool ok = true;               // false: the last token is not accepted by the constraint
  };
  std::vector<Picked> picked(rows.size());
  model_.pool().parallel_for(static_cast<int64_t>(rows.size()), [&](int64_t r0, int64_t r1, int) {
    thread_local std::vector<float> masked;
    for (int64_t r = r0; r < r1; ++r) {
      const Row& row = rows[r];
      Active& a = *row.a;
      Picked& out = picked[r];
      auto record = [&](int32_t token, const float* from) {
        out.tokens.push_back(token);
        out.logprobs.push_back(token >= 0 && a.req.top_logprobs >= 0
                                   ? std::optional(token_logprobs(from, vocab, token, a.req.top_logprobs))
                                   : std::nullopt);
        if (row.sample && (token < 0 || (a.constraint && !a.constraint->accept(token)))) out.ok = false;
        return out.ok;
      };
      const float* l = logits.data() + row.logit * vocab;
      if (!row.sample) {
        record(a.history[row.pos + 1], l);
        continue;
      }
      // Sampled among the tokens that can continue the answer (with a constraint); a draft: verified.
      auto pick = [&](const float* from, const std::vector<int32_t>& hist, int32_t draft) -> int32_t {
        if (a.constraint) {
          masked.assign(from, from + vocab);
          if (a.constraint->mask(masked.data(), vocab) == 0) return -1;
          from = masked.data();
        }
        return draft >= 0 ? a.sampler->sample_or_accept(from, vocab, hist, draft) : a.sampler->sample(from, vocab, hist);
      };
      // Row j decides the token after the j accepted drafts; the first that is not the draft's (or row
      // `verify`'s, after a whole accepted draft) ends the sequence's step, as does the end of the answer.
      // Proposed tokens are checked against what came, verified or not (DraftGate's free check).
      std::vector<int32_t> hist = a.history;
      const auto& stops = a.req.stop_tokens;
      const int64_t n_proposed = static_cast<int64_t>(row.proposed.size());
      for (int64_t j = 0; j <= row.verify; ++j) {
        const float* from = l + j * vocab;
        const int32_t token = pick(from, hist, j < row.verify ? row.proposed[j] : -1);
        const bool hit = j < n_proposed && token == row.proposed[j];
        if (j < n_proposed && (j < row.verify || row.verify == 0)) out.hits.push_back(hit);
        if (!record(token, from) || j == row.verify || !hit) break;
        ++out.accepted;
        if (std::find(stops.begin(), stops.end(), token) != stops.end() ||
            (a.constraint && a.constraint->complete()) || a.n_generated + j + 1 >= a.req.max_tokens)
          break;
        hist.push_back(token);
      }
    }
  });
  const auto now = Clock::now();
  int64_t n_sampled = 0, n_drafted = 0, n_accepted = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    Active& a = *rows[r].a;
    Picked& p = picked[r];
    if (!rows[r].sample) {
      a.stream->push_prompt(rows[r].pos + 1, p.tokens[0], std::move(*p.logprobs[0]));
      continue;
    }
    n_drafted += rows[r].verify;
    n_accepted += p.accepted;
    for (uint8_t hit : p.hits) a.gate.record(hit != 0);
    a.n_computed += p.accepted;  // (rows of the accepted drafts hold their tokens)
    for (size_t k = 0; k < p.tokens.size(); ++k) {
      if (!p.ok && k + 1 == p.tokens.size()) {  // (cannot happen with a byte-level vocabulary)
        finish(a, FinishReason::kError, "no token can continue the constrained answer");
        break;
      }
      a.history.push_back(p.tokens[k]);
      if (a.n_generated++ == 0) a.stats.first_token_seconds = std::chrono::duration<double>(now - a.submitted).count();
      a.stream->push(p.tokens[k], std::move(p.logprobs[k]));
      ++n_sampled;
    }
  }
  if (options_.draft != DraftMode::kNone) draft_next(spans, hidden);
  std::lock_guard lk(mu_);
  metrics_.generated_tokens += n_sampled;
  metrics_.drafted += n_drafted;
  metrics_.draft_accepted += n_accepted;
  metrics_.last_batch_tokens = batch.size();
  metrics_.last_batch_sequences = static_cast<int64_t>(running_.size());
  metrics_.steps += 1;
}

// Proposals for the next step. MTP: the module runs over every main row of this step whose next token is
// now known (all sequences in one batch), so its cache keeps a row for every position — also while too
// many sequences decode to draft — and the row before each decoding sequence's last token gives its
// draft. Lookup: from the history alone.
void Scheduler::draft_next(const std::vector<Span>& spans, const std::vector<float>& hidden) {
  if (options_.draft == DraftMode::kLookup) {
    LookupDrafter lookup;
    for (const Span& s : spans)
      if (s.a->seq >= 0 && s.a->n_generated > 0)
        s.a->draft = lookup.draft(s.a->history, 1, nullptr, {}, options_.draft_max_tokens);
    return;
  }
  const int64_t D = model_.config().hidden_size, vocab = model_.config().vocab_size;
  Batch b;
  std::vector<float> h;
  std::vector<Active*> wants;  // in the order of their logits rows
  for (const Span& s : spans) {
    Active& a = *s.a;
    if (a.seq < 0) continue;
    const int64_t len = static_cast<int64_t>(a.history.size());
    for (int64_t p = s.pos0; p < a.n_computed && p + 1 < len; ++p) {  // (n_computed: the draft's row if accepted)
      const bool last = p + 2 == len && a.n_generated > 0;
      b.add(a.history[p + 1], p, a.seq, last);
      const float* row = hidden.data() + (s.b0 + p - s.pos0) * D;
      h.insert(h.end(), row, row + D);
      if (last) wants.push_back(&a);
    }
  }
  if (b.size() == 0) return;
  std::vector<float> logits;
  try {
    logits = model_.mtp_forward(b, h.data(), cache_);
  } catch (const std::exception& e) {  // drafts are an optimization: go on without them
    log_at(LogLevel::kError, "scheduler: MTP draft pass failed: ", e.what());
    return;
  }
  for (size_t i = 0; i < wants.size(); ++i) {
    Active& a = *wants[i];
    float* l = logits.data() + static_cast<int64_t>(i) * vocab;
    if (a.constraint && a.constraint->mask(l, vocab) == 0) continue;
    a.draft = {static_cast<int32_t>(std::max_element(l, l + vocab) - l)};
  }
}

void Scheduler::update_metrics_locked() {
  metrics_.queue_depth = static_cast<int64_t>(queue_.size());
  metrics_.running = static_cast<int64_t>(running_.size());
  metrics_.kv_pages_free = cache_.free_pages();
  metrics_.kv_sequences = cache_.live_sequences();
  metrics_.prefix_entries = prefix_.entries();
  metrics_.prefix_pages = prefix_.referenced_pages();
  const auto now = Clock::now();
  rate_window_.emplace_back(now, metrics_.generated_tokens);
  while (rate_window_.size() > 2 && now - rate_window_.front().first > std::chrono::seconds(10)) rate_window_.pop_front();
  const double dt = std::chrono::duration<double>(now - rate_window_.front().first).count();
  metrics_.tokens_per_second =
      dt > 0.05 ? static_cast<double>(metrics_.generated_tokens - rate_window_.front().second) / dt : 0.0;
  if (running_.empty() && queue_.empty()) metrics_.last_batch_sequences = metrics_.last_batch_tokens = 0;
}

void Scheduler::engine_loop() {
  for (;;) {
    std::vector<std::unique_ptr<Active>> dropped;  // cancelled while queued
    bool stop_now = false, idle = false;
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, std::chrono::seconds(1), [&] {
        return stopping_ || !queue_.empty() || !running_.empty() || clear_prefix_requested_;
      });
      if (clear_prefix_requested_) {
        prefix_.clear();
        update_metrics_locked();
        clear_prefix_requested_ = false;
        cleared_cv_.notify_all();
      }
      if (stopping_ && cancel_on_stop_) {
        for (auto& a : queue_) a->stream->cancel();
        for (auto& a : running_) a->stream->cancel();
      }
      for (auto it = queue_.begin(); it != queue_.end();) {
        if ((*it)->stream->cancelled()) {
          dropped.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      stop_now = stopping_ && queue_.empty() && running_.empty();
      idle = !stopping_ && queue_.empty() && running_.empty();
    }
    for (auto& a : dropped) finish(*a, FinishReason::kCancelled);
    if (stop_now) break;
    // Nothing to compute: a changed prefix cache goes to its file (--prefix-cache-file), at most every
    // prefix_cache_save_seconds; a request that arrives meanwhile waits for the write.
    if (idle && options_.prefix_cache && !options_.prefix_cache_file.empty() && options_.prefix_cache_save_seconds > 0 &&
        prefix_.changes() != saved_changes_ &&
        std::chrono::duration<double>(Clock::now() - last_save_).count() >= options_.prefix_cache_save_seconds)
      save_prefix_file();

    // Cancelled and finished sequences leave before the next batch, so their pages are free at once.
    for (auto& a : running_)
      if (a->stream->cancelled()) finish(*a, FinishReason::kCancelled);
    for (auto& a : running_) {
      if (a->seq >= 0 && a->req.max_tokens == 0 && a->n_computed == static_cast<int64_t>(a->history.size()))
        finish(*a, FinishReason::kLength);  // a scored prompt, nothing to generate
      if (a->seq < 0 || a->n_generated == 0) continue;
      const int32_t last = a->history.back();
      const auto& stops = a->req.stop_tokens;
      if (std::find(stops.begin(), stops.end(), last) != stops.end() || (a->constraint && a->constraint->complete())) {
        finish(*a, FinishReason::kStop);
      } else if (a->n_generated >= a->req.max_tokens) {
        finish(*a, FinishReason::kLength);
      }
    }
    std::erase_if(running_, [](const auto& a) { return a->seq < 0; });

    while (static_cast<int64_t>(running_.size()) < options_.max_sequences) {
      std::unique_ptr<Active> a;
      {
        std::lock_guard lk(mu_);
        if (queue_.empty()) break;
        a = std::move(queue_.front());
        queue_.pop_front();
      }
      if (admit(a)) {
        running_.push_back(std::move(a));
        continue;
      }
      if (running_.empty()) {  // cannot happen for a request submit() accepted; never spin on it
        finish(*a, FinishReason::kError, "the request does not fit into the KV cache");
        continue;
      }
      std::lock_guard lk(mu_);
      queue_.push_front(std::move(a));
      break;
    }
    {
      std::lock_guard lk(mu_);
      update_metrics_locked();
    }
    if (!running_.empty()) step();
  }
  if (options_.prefix_cache && !options_.prefix_cache_file.empty()) save_prefix_file();  // before the entries go
  std::lock_guard lk(mu_);
  prefix_.clear();
  update_metrics_locked();
  cleared_cv_.notify_all();
}

}  // namespace dsinfer
