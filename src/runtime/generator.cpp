#include "runtime/generator.h"

#include <algorithm>

#include "util/error.h"
#include "util/timer.h"

namespace dsinfer {
namespace {

// The checks every generation makes before it takes a sequence: the prompt is not empty and prompt +
// max_new_tokens fits the model's context, the requested context and the cache.
void check_lengths(const ModelConfig& c, const LatentKvCache& cache, int64_t n_prompt, const GenerateOptions& o) {
  if (n_prompt == 0) fail("the prompt is empty");
  const int64_t capacity = cache.total_pages() * cache.page_tokens();
  const int64_t ctx = o.ctx > 0 ? std::min(o.ctx, capacity) : capacity;
  if (c.max_position_embeddings > 0 && n_prompt + o.max_new_tokens > c.max_position_embeddings)
    fail("the prompt (", n_prompt, " tokens) plus ", o.max_new_tokens,
         " new tokens exceeds the model's context length (max_position_embeddings = ", c.max_position_embeddings, ")");
  if (n_prompt + o.max_new_tokens > ctx)
    fail("the prompt (", n_prompt, " tokens) plus ", o.max_new_tokens, " new tokens exceeds the context of ", ctx,
         " tokens");
}

// Picks, records and reports tokens: the constraint's mask and state, the history the sampler reads,
// the stop conditions and the callback. emit() returns false once generation is over.
class Emitter {
 public:
  Emitter(const GenerateOptions& o, const std::vector<int32_t>& prompt, int64_t n_vocab,
          const std::function<bool(int32_t)>& on_token, GenerateStats& stats)
      : o_(o), sampler_(o.sampling), history_(prompt), n_vocab_(n_vocab), on_token_(on_token), stats_(stats) {}

  // Masks logits by the constraint; false when nothing is allowed (never: constraints have no dead ends).
  bool mask(float* logits) const { return !o_.constraint || o_.constraint->mask(logits, n_vocab_) != 0; }
  int32_t sample(const float* logits) { return sampler_.sample(logits, n_vocab_, history_); }
  int32_t sample_or_accept(const float* logits, int32_t draft) {
    return sampler_.sample_or_accept(logits, n_vocab_, history_, draft);
  }
  bool emit(int32_t token) {
    if (o_.constraint) o_.constraint->accept(token);
    history_.push_back(token);
    ++stats_.generated_tokens;
    const bool stop = std::find(o_.stop_tokens.begin(), o_.stop_tokens.end(), token) != o_.stop_tokens.end() ||
                      (o_.constraint && o_.constraint->complete());
    return on_token_(token) && !stop && stats_.generated_tokens < o_.max_new_tokens;
  }
  const std::vector<int32_t>& history() const { return history_; }  // prompt + emitted tokens
  int64_t position() const { return static_cast<int64_t>(history_.size()) - 1; }  // of the last token
  int64_t left() const { return o_.max_new_tokens - stats_.generated_tokens; }

 private:
  const GenerateOptions& o_;
  Sampler sampler_;
  std::vector<int32_t> history_;
  int64_t n_vocab_;
  const std::function<bool(int32_t)>& on_token_;
  GenerateStats& stats_;
};

GenerateStats generate_plain(Transformer& model, LatentKvCache& cache, int seq, int64_t n_cached,
                             const std::vector<int32_t>& prompt, const GenerateOptions& o,
                             const std::function<bool(int32_t)>& on_token) {
  GenerateStats stats;
  stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  Emitter out(o, prompt, model.config().vocab_size, on_token, stats);
  Timer timer;
  const std::vector<int32_t> rest(prompt.begin() + n_cached, prompt.end());
  std::vector<float> logits = prefill_sequence(model, cache, seq, rest, n_cached, o.prefill_chunk, false);
  stats.prefill_seconds = timer.seconds();
  timer.reset();
  while (out.left() > 0 && out.mask(logits.data())) {
    const int32_t next = out.sample(logits.data());
    if (!out.emit(next)) break;
    Batch batch;
    batch.add(next, out.position(), seq, true);
    logits = model.forward(batch, cache);
  }
  stats.decode_seconds = timer.seconds();
  return stats;
}

// Speculative decoding (spec 10.3). State between steps: token t (emitted, not yet in the main cache) at
// position m, and the drafter's proposal d_1..d_k for positions m + 1 .. m + k. A step runs the main model
// on [t, d_1, .., d_k]: row j's logits decide the token at m + j + 1 — d_{j+1} when accepted, and then row
// j + 1 goes on; the first token that is not the draft's (or row k's, after a whole accepted draft) ends
// the step: a + 1 tokens for one pass over the weights when a drafts were accepted. The rows of rejected
// drafts in the main cache are simply overwritten by later steps (attention reads positions 0..pos only).
GenerateStats generate_speculative(Transformer& model, LatentKvCache& cache, int seq, int64_t n_cached,
                                   const std::vector<int32_t>& prompt, const GenerateOptions& o,
                                   const std::function<bool(int32_t)>& on_token) {
  const int64_t D = model.config().hidden_size, V = model.config().vocab_size;
  const int64_t n = static_cast<int64_t>(prompt.size());
  Drafter& drafter = *o.drafter;
  drafter.start(seq);
  DraftGate gate(o.draft_min_acceptance);
  GenerateStats stats;
  stats.prompt_tokens = n;
  Emitter out(o, prompt, V, on_token, stats);
  const std::function<bool(float*)> mask = [&](float* l) { return out.mask(l); };
  Timer timer;

  std::vector<float> logits, hidden, last_hidden(static_cast<size_t>(D));
  for (int64_t b0 = std::max<int64_t>(0, n_cached - 1); b0 < n; b0 += o.prefill_chunk) {
    const int64_t b1 = std::min(n, b0 + o.prefill_chunk);
    Batch batch;
    for (int64_t i = b0; i < b1; ++i) batch.add(prompt[i], i, seq, i == n - 1);
    logits = model.forward(batch, cache, nullptr, &hidden);
    drafter.prompt_chunk(prompt, b0, b1, hidden.data());
    std::copy_n(hidden.data() + (b1 - b0 - 1) * D, D, last_hidden.data());
  }
  stats.prefill_seconds = timer.seconds();
  timer.reset();
  auto finish = [&] {
    stats.decode_seconds = timer.seconds();
    return stats;
  };

  if (!out.mask(logits.data())) return finish();
  int32_t t = out.sample(logits.data());
  if (!out.emit(t)) return finish();
  int64_t m = n;
  std::vector<int32_t> d = drafter.draft(out.history(), 1, last_hidden.data(), mask, o.draft_max_tokens);
  for (;;) {
    // Verified: at most left - 1 drafts (the step's tokens and rows stay within max_new_tokens).
    const int64_t k = gate.open() ? std::min<int64_t>(static_cast<int64_t>(d.size()), out.left() - 1) : 0;
    Batch b;
    b.add(t, m, seq, true);
    for (int64_t j = 0; j < k; ++j) b.add(d[j], m + 1 + j, seq, true);
    logits = model.forward(b, cache, nullptr, &hidden);  // [k + 1, V], hidden [k + 1, D]
    stats.drafted += k;
    int64_t accepted = 0;
    bool more = true;
    for (int64_t j = 0; j <= k && more; ++j) {
      float* row = logits.data() + j * V;
      if (!out.mask(row)) {
        more = false;
        break;
      }
      const int32_t token = j < k ? out.sample_or_accept(row, d[j]) : out.sample(row);
      const bool hit = j < static_cast<int64_t>(d.size()) && token == d[j];
      if (j < static_cast<int64_t>(d.size()) && (j < k || k == 0)) gate.record(hit);  // (unverified: free check)
      more = out.emit(token);
      if (j < k && hit) {
        ++accepted;
        continue;
      }
      break;  // the model's own token ends the step
    }
    stats.accepted += accepted;
    if (!more) break;
    // Rows m .. m + accepted hold the step's tokens but the last; it is t for the next step.
    d = drafter.draft(out.history(), accepted + 1, hidden.data(), mask, o.draft_max_tokens);
    t = out.history().back();
    m += accepted + 1;
  }
  return finish();
}

}  // namespace

GenerateStats generate(Transformer& model, LatentKvCache& cache, const std::vector<int32_t>& prompt,
                       const GenerateOptions& options, const std::function<bool(int32_t)>& on_token) {
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  check_lengths(model.config(), cache, n_prompt, options);
  const ScopedSequence scoped(cache);
  const int seq = scoped.id();
  if (!cache.reserve(seq, n_prompt + options.max_new_tokens)) fail("KV cache: out of pages");
  return continue_sequence(model, cache, seq, 0, prompt, options, on_token);
}

GenerateStats continue_sequence(Transformer& model, LatentKvCache& cache, int seq, int64_t n_cached,
                                const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                const std::function<bool(int32_t)>& on_token) {
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  check_lengths(model.config(), cache, n_prompt, options);
  if (n_cached < 0 || n_cached >= n_prompt) fail("continue_sequence: ", n_cached, " cached of a ", n_prompt, "-token prompt");
  if (cache.capacity(seq) < n_prompt + options.max_new_tokens) fail("KV cache: the sequence has too little room");
  if (options.max_new_tokens <= 0) {
    GenerateStats none;
    none.prompt_tokens = n_prompt;
    return none;
  }
  return options.drafter ? generate_speculative(model, cache, seq, n_cached, prompt, options, on_token)
                         : generate_plain(model, cache, seq, n_cached, prompt, options, on_token);
}

}  // namespace dsinfer
