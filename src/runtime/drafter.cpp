#include "runtime/drafter.h"

#include <algorithm>

#include "util/error.h"

namespace dsinfer {

MtpDrafter::MtpDrafter(Transformer& model, LatentKvCache& cache) : model_(model), cache_(cache) {
  if (model.mtp_modules() == 0) fail("MTP drafting needs the model loaded with its MTP module");
  if (cache.n_layers() <= model.config().num_hidden_layers) fail("MTP drafting needs a KV cache with the module's layer");
}

// The module's row for position i reads (h_i, t_{i+1}); a prompt chunk gives every row whose next token is
// in the prompt (the last one waits for the first generated token).
void MtpDrafter::prompt_chunk(const std::vector<int32_t>& prompt, int64_t b0, int64_t b1, const float* hidden) {
  const int64_t n = static_cast<int64_t>(prompt.size());
  Batch b;
  for (int64_t i = b0; i < std::min(b1, n - 1); ++i) b.add(prompt[i + 1], i, seq_, false);
  model_.mtp_forward(b, hidden, cache_);
}

// (The module's rows are written whatever max_tokens is: its cache needs a row for every position.)
std::vector<int32_t> MtpDrafter::draft(const std::vector<int32_t>& history, int64_t k, const float* hidden,
                                       const std::function<bool(float*)>& mask, int64_t max_tokens) {
  const int64_t len = static_cast<int64_t>(history.size());
  Batch b;
  for (int64_t j = len - k; j < len; ++j) b.add(history[j], j - 1, seq_, j + 1 == len);
  std::vector<float> logits = model_.mtp_forward(b, hidden, cache_);
  if (max_tokens < 1 || !mask(logits.data())) return {};
  return {static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin())};
}

std::vector<int32_t> LookupDrafter::draft(const std::vector<int32_t>& history, int64_t, const float*,
                                          const std::function<bool(float*)>&, int64_t max_tokens) {
  const int64_t len = static_cast<int64_t>(history.size());
  for (int64_t n = std::min<int64_t>(max_, len - 1); n >= min_ && max_tokens > 0; --n) {
    const int32_t* tail = history.data() + len - n;
    for (int64_t start = len - n - 1; start >= 0; --start)  // latest earlier occurrence first
      if (std::equal(tail, tail + n, history.data() + start)) {
        const int64_t from = start + n, to = std::min(len, from + max_tokens);
        return {history.begin() + from, history.begin() + to};
      }
  }
  return {};
}

}  // namespace dsinfer
