#pragma once
// Load-time repacking of weights into the kernels' faster in-memory layouts. Today: Q4_0 / Q8_0 / Q4_K / Q5_K /
// Q6_K / Q5_0 / Q5_1 / Q2_K / Q3_K / IQ4_NL / IQ4_XS / IQ1_S matrices that are only read through matmul
// (attention projections, dense and expert FFNs, lm_head) and have a multiple of 8 rows, and MLA's split
// per-head k_b / v_b [H, rows, K] whose heads have a multiple of 8 rows, become their R8 types
// (tensor/interleave.h): the same number of bytes (Q4_K / Q5_K: +2–3 %, their scales unpacked; IQ1_S: +40 %,
// its lattice points as 2-bit values), moved from the file mapping into anonymous memory (transparent huge
// pages asked for), after which the file pages of those tensors are released — resident memory stays about
// the file size (plus that growth, which plan_repack reports). Costs: one pass over the repacked bytes at
// start-up (the prefault pass it replaces reads them anyway) and, while the model is loaded, the repacked
// bytes in anonymous memory rather than the page cache.

#include <cstdint>
#include <memory>
#include <string>

#include "model/weights.h"
#include "util/anon_memory.h"

namespace dsinfer {

struct RepackReport {
  int64_t tensors = 0;
  uint64_t bytes = 0;  // bytes now in anonymous memory (≈ the bytes released from the file mapping)
  uint64_t growth_bytes = 0;  // bytes minus those tensors' file bytes (Q4_K/Q5_K scales, IQ1_S's 2-bit values)
  double seconds = 0;
  std::string skipped;  // non-empty: why nothing was repacked although weights were eligible
};

// Models larger than RAM run from the file mapping (the kernel pages weights in and out); repacking them
// would need the repacked bytes resident. So repacking is skipped — weights keep the file layout — when
// the eligible bytes exceed max_bytes (default: 3/4 of physical memory) or the memory cannot be mapped.
uint64_t default_repack_limit();

// Whether the forward pass reads this weight in a way an R8 layout serves (whole 8-row groups of a matmul
// weight, or of each head of a per-head projection) — the rule for repacking at load, for `dsinfer repack`,
// and for accepting R8 tensors a file holds.
bool r8_layout_fits(const WeightRef& r);

// What repack_weights would move, without moving anything: tensors and bytes in the R8 dtypes.
struct RepackPlan {
  int64_t tensors = 0;
  uint64_t bytes = 0;         // in the R8 dtypes
  uint64_t growth_bytes = 0;  // bytes minus those tensors' file bytes (Q4_K/Q5_K: their unpacked scales)
};
RepackPlan plan_repack(ModelWeights& w);

// Repacks every eligible weight of w in place (views are redirected into *storage, which the caller
// keeps alive as long as w). `progress` draws a bar on a terminal. Uses one thread per physical core.
RepackReport repack_weights(ModelWeights& w, std::unique_ptr<AnonBuffer>& storage, bool progress,
                            uint64_t max_bytes = default_repack_limit());

}  // namespace dsinfer
