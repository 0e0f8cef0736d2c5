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
  std::vector<float> y;   // [n, D] output of down, before the combine
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

  for (const SwigluJob& job : jobs) {
    const int64_t I = job.gate->rows();
    if (job.gate->cols() != D || job.up->rows() != I || job.down->cols() != I || job.down->rows() != D)
      fail("swiglu: shapes of '", job.gate->name, "', '", job.up->name, "', '", job.down->name, "' do not fit D = ", D);
  }
  // x quantized once (by token ranges across threads when there are many tokens), then each job's rows
  // of it gathered (by jobs across threads in a prefill: megabytes of copies).
  sc->in_all.prepare(pool, x, ldx, n_tok, D, jobs[0].gate->dtype);
  auto gather_jobs = [&](int64_t j0, int64_t j1, int) {
    for (int64_t j = j0; j < j1; ++j) {
      const SwigluJob& job = jobs[static_cast<size_t>(j)];
      JobState& st = *sc->jobs[static_cast<size_t>(j)];
      const int64_t n = static_cast<int64_t>(job.tokens.size()), I = job.gate->rows();
      st.in_x.gather(sc->in_all, x, ldx, job.tokens.data(), n, D, job.gate->dtype);
      st.h.resize(static_cast<size_t>(n * I));
      st.in_h.prepare_shape(st.h.data(), I, n, I, job.down->dtype);
    }
  };
  const int64_t n_jobs = static_cast<int64_t>(jobs.size());
  const bool many = n_tok >= kParallelPrepareTokens;
  parallel_for_if(pool, many, n_jobs, gather_jobs);

  // Sweep 1: gate, up, SiLU·mul, quantize h, over all jobs' I rows laid end to end in 32-row units (job
  // 0's first): both threads stream weights even when an expert has a single token.
  std::vector<int64_t> row_units(jobs.size() + 1, 0);  // job j: units [row_units[j], row_units[j + 1])
  for (size_t j = 0; j < jobs.size(); ++j) row_units[j + 1] = row_units[j] + (jobs[j].gate->rows() + 31) / 32;
  const auto silu = matmul_path() == MatmulPath::kReference ? &silu_mul : matmul_kernels().silu_mul;
  pool.parallel_for(row_units.back(), [&](int64_t u0, int64_t u1, int) {
    thread_local std::vector<float> g, u;
    for_each_segment(row_units, u0, u1, [&](size_t j, int64_t b, int64_t e) {
      const SwigluJob& job = jobs[j];
      JobState& st = *sc->jobs[j];
      const int64_t n = static_cast<int64_t>(job.tokens.size()), I = job.gate->rows();
      const int64_t r0 = b * 32, r1 = std::min(I, e * 32), nr = r1 - r0;
      g.resize(static_cast<size_t>(n * nr));
      u.resize(static_cast<size_t>(n * nr));
      matmul_rows(*job.gate, r0, nr, st.in_x, g.data(), nr);
      matmul_rows(*job.up, r0, nr, st.in_x, u.data(), nr);
      for (int64_t t = 0; t < n; ++t) silu(g.data() + t * nr, u.data() + t * nr, st.h.data() + t * I + r0, nr);
      if (st.in_h.quantized()) st.in_h.quantize_part(0, n, r0 / 32, r1 / 32);
    });
  });
  auto finish_jobs = [&](int64_t j0, int64_t j1, int) {
    for (int64_t j = j0; j < j1; ++j) sc->jobs[static_cast<size_t>(j)]->in_h.finish();
  };
  parallel_for_if(pool, many, n_jobs, finish_jobs);

  // Sweep 2: down for every job into its own y, over all jobs' D rows laid end to end.
  // Job j: units [out_units[j], out_units[j + 1]) of kMatmulRowGrain rows of its down.
  const int64_t per_job = (D + kMatmulRowGrain - 1) / kMatmulRowGrain;
  std::vector<int64_t> out_units(jobs.size() + 1, 0);
  for (size_t j = 0; j < jobs.size(); ++j) {
    out_units[j + 1] = out_units[j] + per_job;
    sc->jobs[j]->y.resize(jobs[j].tokens.size() * static_cast<size_t>(D));
  }
  pool.parallel_for(out_units.back(), [&](int64_t u0, int64_t u1, int) {
    for_each_segment(out_units, u0, u1, [&](size_t j, int64_t b, int64_t e) {
      const int64_t c0 = b * kMatmulRowGrain, c1 = std::min(D, e * kMatmulRowGrain);
      matmul_rows(*jobs[j].down, c0, c1 - c0, sc->jobs[j]->in_h, sc->jobs[j]->y.data() + c0, D);
    });
  });

  // Combine: out[tok] += weight * y, jobs in order for every element (ranges of 256 columns: a decode
  // step's combine is a few microseconds, not worth finer pieces).
  pool.parallel_for(D, [&](int64_t c0, int64_t c1, int) {
    for (size_t j = 0; j < jobs.size(); ++j) {
      const SwigluJob& job = jobs[j];
      for (size_t i = 0; i < job.tokens.size(); ++i) {
        float* o = out + job.tokens[i] * ldo;
        const float wt = job.weights[i];
        const float* yi = sc->jobs[j]->y.data() + i * D;
        for (int64_t c = c0; c < c1; ++c) o[c] += wt * yi[c];
      }
    }
  }, 256);
}

}  // namespace dsinfer
