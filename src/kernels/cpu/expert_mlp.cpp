#include "kernels/cpu/expert_mlp.h"

#include <algorithm>
#include <memory>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "util/error.h"

namespace dsinfer {
namespace {

// [begin, end) of thread tid's share of n rows, in multiples of `align` (the last share takes the rest).
std::pair<int64_t, int64_t> share(int64_t n, int tid, int nth, int64_t align) {
  const int64_t blocks = (n + align - 1) / align;
  const int64_t b0 = blocks * tid / nth, b1 = blocks * (tid + 1) / nth;
  return {std::min(n, b0 * align), std::min(n, b1 * align)};
}

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
  const int nth = pool.size();

  // x quantized once (by token ranges across threads when there are many tokens).
  const DType in_dtype = jobs[0].gate->dtype;
  sc->in_all.prepare_shape(x, ldx, n_tok, D, in_dtype);
  if (n_tok >= 8) {
    pool.run_on_all([&](int tid) {
      auto [t0, t1] = share(n_tok, tid, nth, 1);
      sc->in_all.quantize_part(t0, t1, 0, D / 32);
    });
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

  // Sweep 1: gate, up, SiLU·mul, quantize h — each thread a slice of every job's rows.
  const auto silu = matmul_path() == MatmulPath::kReference ? &silu_mul : matmul_kernels().silu_mul;
  pool.run_on_all([&](int tid) {
    thread_local std::vector<float> g, u;
    for (size_t j = 0; j < jobs.size(); ++j) {
      const SwigluJob& job = jobs[j];
      JobState& st = *sc->jobs[j];
      const int64_t n = static_cast<int64_t>(job.tokens.size()), I = job.gate->rows();
      auto [r0, r1] = share(I, tid, nth, 32);
      if (r0 >= r1) continue;
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

  // Sweep 2: down, combined into out — each thread a slice of the D output columns of every job.
  pool.run_on_all([&](int tid) {
    thread_local std::vector<float> y;
    auto [c0, c1] = share(D, tid, nth, kMatmulRowGrain);
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
