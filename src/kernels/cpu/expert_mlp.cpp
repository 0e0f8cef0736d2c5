#include "kernels/cpu/expert_mlp.h"

#include <algorithm>
#include <memory>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "util/error.h"

namespace dsinfer {
namespace {

struct JobState {
  MatmulInput in_x;       // the job's tokens of x
  MatmulInput in_h;       // hidden activations, input of down
  std::vector<float> h;   // [n, I]
};

struct Scratch {
  MatmulInput in_all;                 // x quantized once
  std::vector<std::unique_ptr<JobState>> jobs;
};

}  // namespace

void swiglu_jobs(ThreadPool& pool, const float* x, int64_t ldx, int64_t n_tok, int64_t D,
                 const std::vector<SwigluJob>& jobs, float* out, int64_t ldo) {
  if (jobs.empty() || n_tok == 0) return;
  thread_local Scratch scratch_tl;
  Scratch* sc = &scratch_tl;  // workers must see the caller's scratch, not their own thread_local
  while (sc->jobs.size() < jobs.size()) sc->jobs.push_back(std::make_unique<JobState>());

  // x quantized once (by token ranges across threads when there are many tokens).
  const DType in_dtype = jobs[0].gate->dtype;
  sc->in_all.prepare_shape(x, ldx, n_tok, D, in_dtype);
  if (n_tok >= 8) {
    pool.parallel_for(n_tok, [&](int64_t t0, int64_t t1, int) { sc->in_all.quantize_part(t0, t1, 0, D / 32); });
  } else {
    sc->in_all.quantize_part(0, n_tok, 0, sc->in_all.quantized() ? D / 32 : 0);
  }
  sc->in_all.finish();

  for (size_t j = 0; j < jobs.size(); ++j) {
    const SwigluJob& job = jobs[j];
    JobState& st = *sc->jobs[j];
    const int64_t n = static_cast<int64_t>(job.tokens.size()), I = job.gate->rows();
    if (job.gate->cols() != D || job.up->rows() != I || job.down->cols() != I || job.down->rows() != D)
      fail("swiglu: shapes of '", job.gate->name, "', '", job.up->name, "', '", job.down->name, "' do not fit D = ", D);
    st.in_x.gather(sc->in_all, x, ldx, job.tokens.data(), n, D, job.gate->dtype);
    st.h.resize(static_cast<size_t>(n * I));
    st.in_h.prepare_shape(st.h.data(), I, n, I, job.down->dtype);
  }

  // Sweep 1: gate, up, SiLU·mul, quantize h over every job's rows in 32-row units (job 0's units first):
  // both threads stream weights even when an expert has a single token.
  std::vector<int64_t> first_unit(jobs.size() + 1, 0);  // job j: units [first_unit[j], first_unit[j + 1])
  for (size_t j = 0; j < jobs.size(); ++j) first_unit[j + 1] = first_unit[j] + (jobs[j].gate->rows() + 31) / 32;
  const auto silu = matmul_path() == MatmulPath::kReference ? &silu_mul : matmul_kernels().silu_mul;
  pool.parallel_for(first_unit.back(), [&](int64_t u0, int64_t u1, int) {
    thread_local std::vector<float> g, u;
    size_t j = std::upper_bound(first_unit.begin(), first_unit.end(), u0) - first_unit.begin() - 1;
    for (; j < jobs.size() && first_unit[j] < u1; ++j) {
      const SwigluJob& job = jobs[j];
      JobState& st = *sc->jobs[j];
      const int64_t n = static_cast<int64_t>(job.tokens.size()), I = job.gate->rows();
      const int64_t r0 = (std::max(u0, first_unit[j]) - first_unit[j]) * 32;
      const int64_t r1 = std::min(I, (std::min(u1, first_unit[j + 1]) - first_unit[j]) * 32);
      const int64_t nr = r1 - r0;
      g.resize(static_cast<size_t>(n * nr));
      u.resize(static_cast<size_t>(n * nr));
      matmul_rows(*job.gate, r0, nr, st.in_x, g.data(), nr);
      matmul_rows(*job.up, r0, nr, st.in_x, u.data(), nr);
      for (int64_t t = 0; t < n; ++t) silu(g.data() + t * nr, u.data() + t * nr, st.h.data() + t * I + r0, nr);
      if (st.in_h.quantized()) st.in_h.quantize_part(0, n, r0 / 32, r1 / 32);
    }
  });
  for (size_t j = 0; j < jobs.size(); ++j) sc->jobs[j]->in_h.finish();

  // Sweep 2: down, combined into out — each thread a static half of the D output columns (its share of
  // every job's down rows, one call per job: a claimed piece would restart the weight prefetch 7 times).
  pool.run_on_all([&](int tid) {
    thread_local std::vector<float> y;
    const int64_t blocks = (D + kMatmulRowGrain - 1) / kMatmulRowGrain, nth = pool.size();
    const int64_t c0 = std::min(D, blocks * tid / nth * kMatmulRowGrain);
    const int64_t c1 = std::min(D, blocks * (tid + 1) / nth * kMatmulRowGrain);
    if (c0 >= c1) return;
    const int64_t nc = c1 - c0;
    for (size_t j = 0; j < jobs.size(); ++j) {
      const SwigluJob& job = jobs[j];
      const int64_t n = static_cast<int64_t>(job.tokens.size());
      y.resize(static_cast<size_t>(n * nc));
      matmul_rows(*job.down, c0, nc, sc->jobs[j]->in_h, y.data(), nc);
      for (int64_t i = 0; i < n; ++i) {
        float* o = out + job.tokens[i] * ldo + c0;
        const float wt = job.weights[i];
        const float* yi = y.data() + i * nc;
        for (int64_t c = 0; c < nc; ++c) o[c] += wt * yi[c];
      }
    }
  });
}

}  // namespace dsinfer
