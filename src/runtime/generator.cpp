#include "runtime/generator.h"

#include <algorithm>

#include "util/error.h"
#include "util/timer.h"

namespace dsinfer {

GenerateStats generate(Transformer& model, LatentKvCache& cache, const std::vector<int32_t>& prompt,
                       const GenerateOptions& options, const std::function<bool(int32_t)>& on_token) {
  const ModelConfig& c = model.config();
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt == 0) fail("the prompt is empty");
  const int64_t capacity = cache.total_pages() * cache.page_tokens();
  const int64_t ctx = options.ctx > 0 ? std::min(options.ctx, capacity) : capacity;
  if (c.max_position_embeddings > 0 && n_prompt + options.max_new_tokens > c.max_position_embeddings)
    fail("the prompt (", n_prompt, " tokens) plus ", options.max_new_tokens,
         " new tokens exceeds the model's context length (max_position_embeddings = ", c.max_position_embeddings, ")");
  if (n_prompt + options.max_new_tokens > ctx)
    fail("the prompt (", n_prompt, " tokens) plus ", options.max_new_tokens, " new tokens exceeds the context of ", ctx,
         " tokens");
  const ScopedSequence scoped(cache);
  const int seq = scoped.id();
  if (!cache.reserve(seq, n_prompt + options.max_new_tokens)) fail("KV cache: out of pages");

  Sampler sampler(options.sampling);
  GenerateStats stats;
  stats.prompt_tokens = n_prompt;
  std::vector<int32_t> history = prompt;
  Timer timer;
  std::vector<float> logits = prefill_sequence(model, cache, seq, prompt, 0, options.prefill_chunk, false);
  stats.prefill_seconds = timer.seconds();
  timer.reset();
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    if (options.constraint && options.constraint->mask(logits.data(), c.vocab_size) == 0) break;  // (never: no dead ends)
    const int32_t next = sampler.sample(logits.data(), c.vocab_size, history);
    if (options.constraint) options.constraint->accept(next);
    history.push_back(next);
    ++stats.generated_tokens;
    const bool stop = std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) != options.stop_tokens.end() ||
                      (options.constraint && options.constraint->complete());
    if (!on_token(next) || stop || i + 1 == options.max_new_tokens) break;
    Batch batch;
    batch.add(next, static_cast<int64_t>(history.size()) - 1, seq, true);
    logits = model.forward(batch, cache);
  }
  stats.decode_seconds = timer.seconds();
  return stats;
}

}  // namespace dsinfer
