#pragma once
// Drafters propose the tokens after the last one emitted, so that generate() can verify the proposal in
// the same forward pass as the step's own token (speculative decoding): when the model agrees, a step
// yields two tokens (or more, for a longer draft) for one pass over the weights. Exactness never depends
// on a drafter — a wrong draft costs only the extra rows it added to the pass.
//
// MtpDrafter: DeepSeek-V3/R1's multi-token-prediction module (spec 10), trained for this; it needs the
// main model's final-normed hidden states and keeps its own row per position in the KV cache.
// LookupDrafter: prompt lookup — the token that followed the latest earlier occurrence of the last few
// tokens and the ones after it (code edits, quoting, repetitive text); works with every model, costs
// nothing to run.

#include <cstdint>
#include <functional>
#include <vector>

#include "model/kv_cache.h"
#include "model/transformer.h"

namespace dsinfer {

class Drafter {
 public:
  virtual ~Drafter() = default;
  // A generation begins on cache sequence seq (before its prompt).
  virtual void start(int seq) { (void)seq; }
  // The main model ran prompt positions [b0, b1) of `prompt`; hidden [b1 - b0, D] are their final-normed
  // states.
  virtual void prompt_chunk(const std::vector<int32_t>& prompt, int64_t b0, int64_t b1, const float* hidden) = 0;
  // The last k tokens of `history` are new since the previous call; hidden [k, D] holds the main model's
  // states at the positions just before each of them. `mask` applies the output constraint to a logits
  // row (false: nothing allowed). Returns the proposed next tokens, at most max_tokens (none: empty).
  virtual std::vector<int32_t> draft(const std::vector<int32_t>& history, int64_t k, const float* hidden,
                                     const std::function<bool(float*)>& mask, int64_t max_tokens) = 0;
};

// The model must be loaded with LoadOptions::mtp and the cache made with_mtp.
class MtpDrafter : public Drafter {
 public:
  MtpDrafter(Transformer& model, LatentKvCache& cache);
  void start(int seq) override { seq_ = seq; }
  void prompt_chunk(const std::vector<int32_t>& prompt, int64_t b0, int64_t b1, const float* hidden) override;
  // One token: the module predicts only the token after next.
  std::vector<int32_t> draft(const std::vector<int32_t>& history, int64_t k, const float* hidden,
                             const std::function<bool(float*)>& mask, int64_t max_tokens) override;

 private:
  Transformer& model_;
  LatentKvCache& cache_;
  int seq_ = -1;
};

// Proposes the tokens that followed the most recent earlier occurrence of the history's last n tokens,
// trying n = max_ngram down to min_ngram.
class LookupDrafter : public Drafter {
 public:
  explicit LookupDrafter(int min_ngram = 2, int max_ngram = 4) : min_(min_ngram), max_(max_ngram) {}
  void prompt_chunk(const std::vector<int32_t>&, int64_t, int64_t, const float*) override {}
  std::vector<int32_t> draft(const std::vector<int32_t>& history, int64_t k, const float* hidden,
                             const std::function<bool(float*)>& mask, int64_t max_tokens) override;

 private:
  int min_, max_;
};

// Whether verifying drafts pays: a moving average of how often the draft was the token that came next,
// kept on verified drafts and, while verification pauses, on the drafts it would have verified (free: the
// drafter ran anyway). Verifying costs a second row in every pass, so a sequence verifies only while the
// average is at least min_rate (0: always); a run of misses pauses it, hits resume it. The expected
// hit rate of a draft equals its acceptance probability, so greedy and sampled sequences are gated alike.
class DraftGate {
 public:
  explicit DraftGate(double min_rate = 0.0) : min_rate_(min_rate) {}
  bool open() const { return rate_ >= min_rate_; }
  void record(bool hit) { rate_ += kWeight * ((hit ? 1.0 : 0.0) - rate_); }
  double rate() const { return rate_; }

 private:
  static constexpr double kWeight = 0.1;  // ~ the last 10 drafts
  double min_rate_;
  double rate_ = 1.0;  // optimistic: a sequence starts out verifying
};

}  // namespace dsinfer
