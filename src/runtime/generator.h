#pragma once
// Single-sequence generation: prefill the prompt in chunks, then decode token by token against the
// latent cache, streaming each token to a callback — or two tokens a step when a drafter's proposal is
// right (speculative decoding, spec 10.3). (The server's scheduler batches many sequences.)

#include <cstdint>
#include <functional>
#include <vector>

#include "model/kv_cache.h"
#include "model/sequence.h"
#include "model/transformer.h"
#include "runtime/drafter.h"
#include "runtime/output_constraint.h"
#include "runtime/sampler.h"

namespace dsinfer {

struct GenerateOptions {
  int64_t max_new_tokens = 16;
  SamplingParams sampling;
  std::vector<int32_t> stop_tokens;  // generation ends after emitting one of these
  int64_t prefill_chunk = 256;       // tokens per prefill forward call
  int64_t ctx = 0;                   // context limit in tokens (0: the cache's capacity)
  OutputConstraint* constraint = nullptr;  // masks each step's logits; generation ends once it is complete
  // Speculative decoding (runtime/drafter.h): a drafter proposes the next token and each step verifies it
  // in the same forward pass as the step's own token. Greedy output is token for token that of plain
  // decoding; sampled output has the same distribution (Sampler::sample_or_accept), though not the same
  // draws for a seed. nullptr: plain decoding.
  Drafter* drafter = nullptr;
  double draft_min_acceptance = 0.0;  // verify drafts only while they come true this often (DraftGate)
  int64_t draft_max_tokens = 1;       // the longest draft a step verifies (MTP drafts one token)
};

struct GenerateStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;  // from the first to the last generated token
  int64_t drafted = 0;        // drafts verified
  int64_t accepted = 0;       // of which the model agreed with
};

// Returns false from on_token to stop early. Throws Error if prompt + max_new_tokens exceed the cache.
GenerateStats generate(Transformer& model, LatentKvCache& cache, const std::vector<int32_t>& prompt,
                       const GenerateOptions& options, const std::function<bool(int32_t)>& on_token);

// The same on an existing sequence whose first n_cached positions already hold prompt[0, n_cached) (a
// chat's earlier turns; 0 <= n_cached < prompt size); seq must have capacity for prompt + max_new_tokens.
// Afterwards the cache holds the rows of the prompt and of every emitted token but the last. (With a
// drafter the row at n_cached - 1 is recomputed: the MTP module's row there reads the token after it.)
GenerateStats continue_sequence(Transformer& model, LatentKvCache& cache, int seq, int64_t n_cached,
                                const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                const std::function<bool(int32_t)>& on_token);

}  // namespace dsinfer
