// Single-thread throughput of the quantized matmul kernels (matmul_rows, the path every forward pass
// takes) on a V2-Lite expert shape (plain GGUF layouts and the load-time R8 interleaved ones), per token
// count: 1 = decode, 2-7 = experts in batched decode, 8+ = prefill. Reports GMAC/s (multiply-accumulates per
// second) and weight GB/s.
//
//   cmake -B build-bench -DDSINFER_BUILD_BENCH=ON && ninja -C build-bench gemm_bench
//   build-bench/bin/gemm_bench [--benchmark_filter=Q4_0]

#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "tensor/interleave.h"
#include "tensor/quant.h"
#include "tensor/quant_iq_grid.h"

namespace {

using namespace dsinfer;

constexpr int64_t kRows = 2816;          // V2-Lite expert gate+up (2 x 1408): fits in L3
constexpr int64_t kL2Rows = 512;          // 0.6 MB of Q4_0: in a 1 MB L2 (the kernel's arithmetic, not a cache's bandwidth)
constexpr int64_t kL1Rows = 16;           // 18 KB: in L1
constexpr int64_t kBigRows = 2816 * 64;  // 185 MB of Q4_0: streams from memory, as decode does
constexpr int64_t kK = 2048;             // V2-Lite hidden size

struct Fixture {
  std::vector<uint8_t> bytes;
  TensorView view;
  std::vector<float> x, y;
};

// t may be an R8 type: quantized as its plain type, then interleaved as the loader does.
Fixture make(DType t, int64_t n_tok, int64_t rows, int64_t K = kK) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Fixture f;
  const DType plain = plain_of(t);
  const size_t rb = dtype_row_bytes(plain, K);
  f.bytes.resize(rb * rows);
  std::vector<float> row(K);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = nd(rng) * 0.05f;
    if (dtype_is_iq_grid(plain))  // no quantizer: random codes of the same scale
      iq_grid_random_row(plain, 0.05f, static_cast<uint64_t>(r), f.bytes.data() + r * rb, K);
    else
      quantize_row(plain, row.data(), f.bytes.data() + r * rb, K);
  }
  if (plain != t) {
    std::vector<uint8_t> packed(static_cast<size_t>(rows) * dtype_row_bytes(t, K));
    interleave_rows(plain, f.bytes.data(), rows, K, packed.data());
    f.bytes.swap(packed);
  }
  f.view.name = "bench.weight";
  f.view.dtype = t;
  f.view.shape = {rows, K};
  f.view.data = f.bytes.data();
  f.view.nbytes = f.bytes.size();
  f.x.resize(static_cast<size_t>(n_tok * K));
  for (auto& v : f.x) v = nd(rng);
  f.y.resize(static_cast<size_t>(n_tok * rows));
  return f;
}

void run(benchmark::State& state, DType t, int64_t rows = kRows, int64_t K = kK) {
  const int64_t n_tok = state.range(0);
  Fixture f = make(t, n_tok, rows, K);
  MatmulInput in;
  in.prepare(f.x.data(), K, n_tok, K, t);
  for (auto _ : state) {
    matmul_rows(f.view, 0, rows, in, f.y.data(), rows);
    benchmark::DoNotOptimize(f.y.data());
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["GMAC/s"] =
      benchmark::Counter(iters * rows * K * n_tok * 1e-9, benchmark::Counter::kIsRate);
  state.counters["wGB/s"] = benchmark::Counter(iters * f.bytes.size() * 1e-9, benchmark::Counter::kIsRate);
}

void Q4_0(benchmark::State& s) {
  run(s, DType::Q4_0);
}
void Q8_0(benchmark::State& s) {
  run(s, DType::Q8_0);
}
void Q5_0(benchmark::State& s) {
  run(s, DType::Q5_0);
}
void Q5_1(benchmark::State& s) {
  run(s, DType::Q5_1);
}
void Q5_0_R8(benchmark::State& s) {
  run(s, DType::Q5_0_R8);
}
void Q5_1_R8(benchmark::State& s) {
  run(s, DType::Q5_1_R8);
}
void Q4_0_R8(benchmark::State& s) {
  run(s, DType::Q4_0_R8);
}
void Q8_0_R8(benchmark::State& s) {
  run(s, DType::Q8_0_R8);
}
void Q4_0_mem(benchmark::State& s) {
  run(s, DType::Q4_0, kBigRows);
}
void Q4_0_R8_l2(benchmark::State& s) {
  run(s, DType::Q4_0_R8, kL2Rows);
}
void Q4_0_R8_l1(benchmark::State& s) {
  run(s, DType::Q4_0_R8, kL1Rows);
}
void Q4_0_R8_mem(benchmark::State& s) {
  run(s, DType::Q4_0_R8, kBigRows);
}
void Q4_K_R8_mem(benchmark::State& s) {
  run(s, DType::Q4_K_R8, kBigRows);
}
void Q5_0_R8_mem(benchmark::State& s) {
  run(s, DType::Q5_0_R8, kBigRows);
}
void Q5_1_R8_mem(benchmark::State& s) {
  run(s, DType::Q5_1_R8, kBigRows);
}
void Q4_K(benchmark::State& s) {
  run(s, DType::Q4_K);
}
void Q4_K_R8(benchmark::State& s) {
  run(s, DType::Q4_K_R8);
}
void Q6_K_R8(benchmark::State& s) {
  run(s, DType::Q6_K_R8);
}
void Q5_K(benchmark::State& s) {
  run(s, DType::Q5_K);
}
void Q5_K_R8(benchmark::State& s) {
  run(s, DType::Q5_K_R8);
}
void Q6_K(benchmark::State& s) {
  run(s, DType::Q6_K);
}
void Q2_K(benchmark::State& s) {
  run(s, DType::Q2_K);
}
void Q3_K(benchmark::State& s) {
  run(s, DType::Q3_K);
}
void Q2_K_R8(benchmark::State& s) {
  run(s, DType::Q2_K_R8);
}
void Q3_K_R8(benchmark::State& s) {
  run(s, DType::Q3_K_R8);
}
void Q2_K_R8_mem(benchmark::State& s) {
  run(s, DType::Q2_K_R8, kBigRows);
}
void Q3_K_R8_mem(benchmark::State& s) {
  run(s, DType::Q3_K_R8, kBigRows);
}
void IQ4_NL(benchmark::State& s) {
  run(s, DType::IQ4_NL);
}
void IQ4_XS(benchmark::State& s) {
  run(s, DType::IQ4_XS);
}
void IQ4_NL_R8(benchmark::State& s) {
  run(s, DType::IQ4_NL_R8);
}
void IQ4_XS_R8(benchmark::State& s) {
  run(s, DType::IQ4_XS_R8);
}
void IQ4_XS_R8_mem(benchmark::State& s) {
  run(s, DType::IQ4_XS_R8, kBigRows);
}
// The grid i-quants (file layout; no R8 form).
void IQ2_XXS(benchmark::State& s) {
  run(s, DType::IQ2_XXS);
}
void IQ2_XS(benchmark::State& s) {
  run(s, DType::IQ2_XS);
}
void IQ2_S(benchmark::State& s) {
  run(s, DType::IQ2_S);
}
void IQ3_XXS(benchmark::State& s) {
  run(s, DType::IQ3_XXS);
}
void IQ3_S(benchmark::State& s) {
  run(s, DType::IQ3_S);
}
void IQ1_S(benchmark::State& s) {
  run(s, DType::IQ1_S);
}
void IQ1_M(benchmark::State& s) {
  run(s, DType::IQ1_M);
}
void IQ1_S_mem(benchmark::State& s) {
  run(s, DType::IQ1_S, kBigRows);
}
void IQ1_S_R8(benchmark::State& s) {
  run(s, DType::IQ1_S_R8);
}
void IQ1_M_R8(benchmark::State& s) {
  run(s, DType::IQ1_M_R8);
}
void IQ1_S_R8_mem(benchmark::State& s) {
  run(s, DType::IQ1_S_R8, kBigRows);
}

// MLA decode attention over n cached latent rows (V2/V3 shapes: H = 16 heads, L = 576, rkv = 512).
// `layers` caches of n rows are visited in turn, as a decode step visits every layer's: with 24 of
// them (~130 MB at 2048 rows) each call reads its keys from memory, not from L3.
struct MlaFixture {
  static constexpr int64_t H = 16, L = 576, rkv = 512;
  int64_t layers;
  std::vector<float> q, p, cache, s, out;
  std::vector<const float*> keys;  // [layers][n]
  explicit MlaFixture(int64_t n, int64_t n_layers = 1)
      : layers(n_layers), q(H * L), p(H * n), cache(n_layers * n * L), s(H * n), out(H * rkv), keys(n_layers * n) {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto* v : {&q, &p, &cache})
      for (auto& x : *v) x = nd(rng);
    for (int64_t j = 0; j < n_layers * n; ++j) keys[j] = cache.data() + j * L;
  }
};

void MlaScores(benchmark::State& state) {
  const int64_t n = state.range(0);
  MlaFixture f(n, state.range(1));
  int64_t layer = 0;
  for (auto _ : state) {
    mla_scores(f.q.data(), f.H, f.L, f.keys.data() + layer * n, n, 0.1f, f.s.data(), n);
    layer = (layer + 1) % f.layers;
    benchmark::DoNotOptimize(f.s.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * state.iterations() * f.H * f.L * n * 1e-9, benchmark::Counter::kIsRate);
}

void MlaValues(benchmark::State& state) {
  const int64_t n = state.range(0);
  MlaFixture f(n, state.range(1));
  int64_t layer = 0;
  for (auto _ : state) {
    mla_values(f.p.data(), n, f.H, f.keys.data() + layer * n, n, 0, f.rkv, f.out.data(), f.rkv);
    layer = (layer + 1) % f.layers;
    benchmark::DoNotOptimize(f.out.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * state.iterations() * f.H * f.rkv * n * 1e-9, benchmark::Counter::kIsRate);
}

// Float weights: the naive MLA form's products (rows x K per call, 64-query blocks: scores 512 keys x 192,
// P V 128 x up to 512 keys, key decompression 128 x 512 over the prompt) and a BF16 expert.
void F32_scores(benchmark::State& s) {
  run(s, DType::F32, 512, 192);
}
void F32_pv(benchmark::State& s) {
  run(s, DType::F32, 128, 512);
}
void BF16(benchmark::State& s) {
  run(s, DType::BF16);
}
// The same products as x @ B (matmul_f32_nn), the layout the naive MLA form now uses: args = tokens,
// N, K — scores 64 queries x 512 keys over 192, P V 64 x 128 over 512 / 2560 keys, the key
// decompression 128 x 512 keys over 512.
void F32_nn(benchmark::State& s) {
  const int64_t n_tok = s.range(0), N = s.range(1), K = s.range(2);
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tok * K)), b(static_cast<size_t>(K * N)), y(static_cast<size_t>(n_tok * N));
  for (auto& v : x) v = nd(rng);
  for (auto& v : b) v = nd(rng);
  for (auto _ : s) {
    matmul_f32_nn(x.data(), K, n_tok, b.data(), N, N, K, y.data(), N);
    benchmark::DoNotOptimize(y.data());
  }
  s.counters["GMAC/s"] =
      benchmark::Counter(static_cast<double>(s.iterations()) * n_tok * N * K * 1e-9, benchmark::Counter::kIsRate);
}
BENCHMARK(F32_scores)->Arg(64);
BENCHMARK(F32_nn)->Args({64, 512, 192})->Args({64, 128, 512})->Args({64, 128, 2560})->Args({128, 512, 512});
BENCHMARK(F32_pv)->Arg(64)->Arg(512);
BENCHMARK(BF16)->Arg(1)->Arg(4)->Arg(128);

BENCHMARK(MlaScores)->Args({512, 1})->Args({3000, 1})->Args({2048, 4})->Args({2048, 24});
BENCHMARK(MlaValues)->Args({512, 1})->Args({3000, 1})->Args({2048, 4})->Args({2048, 24});

#define TOKENS Arg(1)->Arg(2)->Arg(3)->Arg(4)->Arg(6)->Arg(8)->Arg(12)->Arg(16)->Arg(48)->Arg(128)
BENCHMARK(Q4_0)->TOKENS;
BENCHMARK(Q8_0)->TOKENS;
BENCHMARK(Q5_0)->TOKENS;
BENCHMARK(Q5_1)->TOKENS;
BENCHMARK(Q5_0_R8)->TOKENS;
BENCHMARK(Q5_1_R8)->TOKENS;
BENCHMARK(Q4_0_R8)->TOKENS;
BENCHMARK(Q8_0_R8)->TOKENS;
BENCHMARK(Q4_0_mem)->Arg(1)->Arg(2);
BENCHMARK(Q4_0_R8_l2)->Arg(1)->Arg(2);
BENCHMARK(Q4_0_R8_l1)->Arg(1)->Arg(2);
BENCHMARK(Q4_0_R8_mem)->Arg(1)->Arg(2)->Arg(16);  // 16: the dense weights of a 16-stream decode step
BENCHMARK(Q4_K_R8_mem)->Arg(1)->Arg(2);  // (its fixture takes ~1 min: the reference Q4_K quantizer)
BENCHMARK(Q5_0_R8_mem)->Arg(1)->Arg(2);  // (V2-Lite's Q4_K_M expert ffn_down)
BENCHMARK(Q5_1_R8_mem)->Arg(1)->Arg(2);
BENCHMARK(Q4_K)->TOKENS;
BENCHMARK(Q4_K_R8)->TOKENS;
BENCHMARK(Q5_K)->TOKENS;
BENCHMARK(Q5_K_R8)->TOKENS;
BENCHMARK(Q6_K)->TOKENS;
BENCHMARK(Q6_K_R8)->TOKENS;
BENCHMARK(Q2_K)->TOKENS;
BENCHMARK(Q3_K)->TOKENS;
BENCHMARK(Q2_K_R8)->TOKENS;
BENCHMARK(Q3_K_R8)->TOKENS;
BENCHMARK(Q2_K_R8_mem)->Arg(1)->Arg(2);  // (the reference Q2_K quantizer makes its fixture slowly)
BENCHMARK(Q3_K_R8_mem)->Arg(1)->Arg(2);
BENCHMARK(IQ4_NL)->TOKENS;
BENCHMARK(IQ4_XS)->TOKENS;
BENCHMARK(IQ4_NL_R8)->TOKENS;
BENCHMARK(IQ4_XS_R8)->TOKENS;
BENCHMARK(IQ4_XS_R8_mem)->Arg(1)->Arg(2);
BENCHMARK(IQ2_XXS)->TOKENS;
BENCHMARK(IQ2_XS)->TOKENS;
BENCHMARK(IQ2_S)->TOKENS;
BENCHMARK(IQ3_XXS)->TOKENS;
BENCHMARK(IQ3_S)->TOKENS;
BENCHMARK(IQ1_S)->TOKENS;
BENCHMARK(IQ1_M)->TOKENS;
BENCHMARK(IQ1_S_mem)->Arg(1)->Arg(2);
BENCHMARK(IQ1_S_R8)->TOKENS;
BENCHMARK(IQ1_S_R8_mem)->Arg(1)->Arg(2);
BENCHMARK(IQ1_M_R8)->TOKENS;

}  // namespace

BENCHMARK_MAIN();
