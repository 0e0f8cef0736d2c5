#pragma once
// Fused SwiGLU MLPs (dense FFN, shared and routed experts): out[tok] += weight * down(silu(gate(x)) *
// up(x)) for a list of jobs, each job one weight triple over its own tokens, in parallel sweeps
// (ThreadPool::parallel_for, over all jobs' rows laid end to end):
//   1. gate and up for every job (one pass over its prepared input), SiLU·mul, and quantization of the
//      hidden activations, in 32-row units — both cores stream weights even when an expert has one token;
//   2. down for every job into the job's own output rows;
//   3. the combine into out with each job's per-token weight, by column ranges, jobs in order.
// The input x is quantized once for all jobs; jobs gather their tokens' int8 rows.

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"
#include "util/thread_pool.h"

namespace dsinfer {

struct SwigluJob {
  const TensorView* gate = nullptr;  // [I, D]
  const TensorView* up = nullptr;    // [I, D]
  const TensorView* down = nullptr;  // [D, I]
  std::vector<int32_t> tokens;       // rows of x this job reads
  std::vector<float> weights;        // combine weight per token
};

// Jobs are applied in order for every output element, so the result does not depend on the thread
// count. out [n_tok, D] (row stride ldo) is accumulated into, not overwritten.
void swiglu_jobs(ThreadPool& pool, const float* x, int64_t ldx, int64_t n_tok, int64_t D,
                 const std::vector<SwigluJob>& jobs, float* out, int64_t ldo);

}  // namespace dsinfer
