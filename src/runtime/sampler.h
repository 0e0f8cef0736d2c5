#pragma once
// Picks the next token from logits: logit bias, repetition penalty, presence / frequency penalties,
// then greedy (temperature 0) or top-k -> top-p -> min-p -> temperature -> random draw from a seeded
// generator. Also the log-probabilities the OpenAI API reports (token_logprobs).

#include <cstdint>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dsinfer {

struct SamplingParams {
  float temperature = 0.0f;        // 0 = greedy (argmax)
  int64_t top_k = 0;               // 0 = off
  float top_p = 1.0f;              // 1 = off
  float min_p = 0.0f;              // 0 = off; keep tokens with p >= min_p * p_max
  float repetition_penalty = 1.0f; // 1 = off; divides positive / multiplies negative logits of seen tokens
  // OpenAI's penalties over the tokens this sampler has generated so far (not the prompt): a token
  // generated c times loses c * frequency_penalty + (c > 0) * presence_penalty from its logit.
  float presence_penalty = 0.0f;   // [-2, 2]
  float frequency_penalty = 0.0f;  // [-2, 2]
  // OpenAI's logit_bias: (token id, bias in [-100, 100]) added to the logit first; ids outside the
  // vocabulary are ignored here (the server refuses them).
  std::vector<std::pair<int32_t, float>> logit_bias;
  uint64_t seed = 0;

  void validate() const;  // Error naming the parameter that is out of range
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // history: tokens so far (prompt + generated) for the repetition penalty. The returned token counts
  // as generated for the presence / frequency penalties of later calls.
  int32_t sample(const float* logits, int64_t n_vocab, const std::vector<int32_t>& history);

  // Speculative sampling with a one-token draft (Leviathan et al. 2023, the draft distribution a point
  // mass): returns `draft` with probability p(draft) under the distribution sample() draws from, else a
  // draw from p without the draft, renormalized — so the result is distributed exactly as sample()'s.
  // Greedy: the argmax (which is the draft when the draft is right). The draft was accepted iff the result
  // equals it. Counts the result as generated, as sample() does.
  int32_t sample_or_accept(const float* logits, int64_t n_vocab, const std::vector<int32_t>& history, int32_t draft);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
  std::vector<int32_t> ids_;     // candidates: ids_[0, n_cand_) ...
  std::vector<double> prob_;     // ... and their probabilities (not normalized)
  int64_t n_cand_ = 0;
  std::unordered_map<int32_t, int32_t> generated_;  // token -> times this sampler returned it

  void adjust(const float* logits, int64_t n_vocab, const std::vector<int32_t>& history);  // -> work_
  void candidates(int64_t n_vocab);  // work_ -> ids_, prob_, n_cand_ (greedy: the argmax alone)
  int32_t draw(int32_t exclude);     // from the candidates, leaving out `exclude` (-1: none)
};

// A token's log-probability under the model's own distribution (log-softmax of the raw logits, before
// any sampling adjustment), and the n_top most likely tokens with theirs (most likely first, ties to the
// lower id) — what the OpenAI API's logprobs / top_logprobs report.
struct TokenLogprobs {
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;
};
TokenLogprobs token_logprobs(const float* logits, int64_t n_vocab, int32_t token, int n_top);
constexpr int kMaxTopLogprobs = 20;  // the most alternatives a request may ask for (as the OpenAI API)

}  // namespace dsinfer
