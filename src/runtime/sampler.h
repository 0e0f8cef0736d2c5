#pragma once
// Picks the next token from logits: repetition penalty, then greedy (temperature 0) or
// top-k -> top-p -> min-p -> temperature -> random draw from a seeded generator.

#include <cstdint>
#include <random>
#include <vector>

namespace dsinfer {

struct SamplingParams {
  float temperature = 0.0f;        // 0 = greedy (argmax)
  int64_t top_k = 0;               // 0 = off
  float top_p = 1.0f;              // 1 = off
  float min_p = 0.0f;              // 0 = off; keep tokens with p >= min_p * p_max
  float repetition_penalty = 1.0f; // 1 = off; divides positive / multiplies negative logits of seen tokens
  uint64_t seed = 0;

  void validate() const;  // Error naming the parameter that is out of range
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // history: tokens so far (prompt + generated) for the repetition penalty.
  int32_t sample(const float* logits, int64_t n_vocab, const std::vector<int32_t>& history);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
  std::vector<int32_t> ids_;
};

}  // namespace dsinfer
