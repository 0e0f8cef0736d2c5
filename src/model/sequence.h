#pragma once
// Running whole token sequences through the Transformer: chunked prefill of one sequence and the logits
// of every position. Shared by generation, `dsinfer logits` and the tests.

#include <cstdint>
#include <vector>

#include "model/kv_cache.h"
#include "model/transformer.h"

namespace dsinfer {

// A cache with room for n_seq sequences of up to ctx tokens each; with_mtp adds a layer for each of the
// config's MTP modules (Transformer::mtp_forward).
LatentKvCache make_sequences_cache(const ModelConfig& c, int64_t n_seq, int64_t ctx, DType dtype = DType::F32,
                                   bool with_mtp = false);
// A cache with room for one sequence of up to ctx tokens.
inline LatentKvCache make_single_sequence_cache(const ModelConfig& c, int64_t ctx, DType dtype = DType::F32,
                                                bool with_mtp = false) {
  return make_sequences_cache(c, 1, ctx, dtype, with_mtp);
}

// Runs ids at positions start_pos.. on seq (capacity reserved by the caller) in chunks of `chunk` tokens.
// Returns the logits of every token if `all`, else of the last token only.
std::vector<float> prefill_sequence(Transformer& model, LatentKvCache& cache, int seq, const std::vector<int32_t>& ids,
                                    int64_t start_pos, int64_t chunk, bool all);

// Logits of every position of `ids` ([n_ids, vocab]), prefilled in chunks on a fresh sequence.
std::vector<float> all_logits(Transformer& model, LatentKvCache& cache, const std::vector<int32_t>& ids,
                              int64_t chunk = 256);

}  // namespace dsinfer
