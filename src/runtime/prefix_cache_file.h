#pragma once
// The prefix cache on disk (`dsinfer serve --prefix-cache-file PATH`): the entries' tokens and latent KV
// rows, written when the server stops (and while it idles, SchedulerOptions::prefix_cache_save_seconds)
// and read when it starts, so a restarted server answers a long
// system prompt or a resumed conversation without recomputing its prefix (on a CPU, prefill of a few
// thousand tokens takes minutes).
//
// File: "DSPFX001", u64 fingerprint, u64 n_layers, latent_dim, page_tokens, u32 value bytes, u32 dtype
// (F32 0 / F16 1), u64 entries; per entry (oldest first): u64 n_tokens, u64 shared (a whole-page prefix
// some earlier entry holds, not repeated), i32 tokens[n_tokens], then for each position in [shared,
// n_tokens) and each layer the row's latent_dim values in the cache's dtype; last a u64 hash of all bytes
// before it. Written to PATH.tmp and renamed into place.
//
// A file is used only when its fingerprint (the model's weights and config, the cache's shape and dtype,
// the dsinfer build) and its hash match; anything else — another model, a truncated or damaged file — is
// reported and skipped, leaving the cache as it was. Loading stops early, keeping what it read, when the
// KV budget is full.

#include <cstdint>
#include <string>

#include "model/kv_cache.h"
#include "runtime/prefix_cache.h"

namespace dsinfer {

struct PrefixFileReport {
  int64_t entries = 0;      // written / read
  int64_t tokens = 0;       // their tokens (shared prefixes counted once per entry)
  uint64_t bytes = 0;       // file size
  std::string skipped;      // load: why the file (or its rest) was not used; empty when all of it was
};

// Throws Error when the file cannot be written (nothing is left under `path` then).
PrefixFileReport save_prefix_cache(const PrefixCache& prefix, const LatentKvCache& cache, uint64_t fingerprint,
                                   const std::string& path);

// Never throws for a bad file: the reason is in `skipped`. A missing file is not an error ("no file").
PrefixFileReport load_prefix_cache(PrefixCache& prefix, LatentKvCache& cache, uint64_t fingerprint,
                                   const std::string& path);

}  // namespace dsinfer
