#include "runtime/generator.h"

#include <algorithm>

#include "util/error.h"
#include "util/timer.h"

namespace dsinfer {

LatentKvCache make_single_sequence_cache(const ModelConfig& c, int64_t ctx) {
  constexpr int64_t kPage = 64;
  return LatentKvCache(c.num_hidden_layers, c.latent_dim(), kPage, (ctx + kPage - 1) / kPage);
}

namespace {

// Runs ids[begin, end) at positions begin.. on seq; returns the logits of the last token if wanted.
std::vector<float> prefill(Transformer& model, LatentKvCache& cache, int seq, const std::vector<int32_t>& ids,
                           int64_t chunk, bool all) {
  std::vector<float> out;
  const int64_t n = static_cast<int64_t>(ids.size());
  for (int64_t b0 = 0; b0 < n; b0 += chunk) {
    const int64_t b1 = std::min(n, b0 + chunk);
    Batch batch;
    for (int64_t i = b0; i < b1; ++i) batch.add(ids[i], i, seq, all || i == n - 1);
    std::vector<float> logits = model.forward(batch, cache);
    out.insert(out.end(), logits.begin(), logits.end());
  }
  return out;
}

}  // namespace

GenerateStats generate(Transformer& model, LatentKvCache& cache, const std::vector<int32_t>& prompt,
                       const GenerateOptions& options, const std::function<bool(int32_t)>& on_token) {
  const ModelConfig& c = model.config();
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt == 0) fail("the prompt is empty");
  const int64_t ctx = cache.total_pages() * cache.page_tokens();
  if (n_prompt + options.max_new_tokens > ctx)
    fail("the prompt (", n_prompt, " tokens) plus ", options.max_new_tokens, " new tokens exceeds the context of ", ctx,
         " tokens");
  const int seq = cache.create_sequence();
  struct Release {
    LatentKvCache& cache;
    int seq;
    ~Release() { cache.free_sequence(seq); }
  } release{cache, seq};
  if (!cache.reserve(seq, n_prompt + options.max_new_tokens)) fail("KV cache: out of pages");

  Sampler sampler(options.sampling);
  GenerateStats stats;
  stats.prompt_tokens = n_prompt;
  std::vector<int32_t> history = prompt;
  Timer timer;
  std::vector<float> logits = prefill(model, cache, seq, prompt, options.prefill_chunk, false);
  stats.prefill_seconds = timer.seconds();
  timer.reset();
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    const int32_t next = sampler.sample(logits.data(), c.vocab_size, history);
    history.push_back(next);
    ++stats.generated_tokens;
    const bool stop = std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) != options.stop_tokens.end();
    if (!on_token(next) || stop || i + 1 == options.max_new_tokens) break;
    Batch batch;
    batch.add(next, static_cast<int64_t>(history.size()) - 1, seq, true);
    logits = model.forward(batch, cache);
  }
  stats.decode_seconds = timer.seconds();
  return stats;
}

std::vector<float> all_logits(Transformer& model, LatentKvCache& cache, const std::vector<int32_t>& ids, int64_t chunk) {
  const int seq = cache.create_sequence();
  struct Release {
    LatentKvCache& cache;
    int seq;
    ~Release() { cache.free_sequence(seq); }
  } release{cache, seq};
  if (!cache.reserve(seq, static_cast<int64_t>(ids.size()))) fail("KV cache: ", ids.size(), " tokens do not fit");
  return prefill(model, cache, seq, ids, chunk, true);
}

}  // namespace dsinfer
