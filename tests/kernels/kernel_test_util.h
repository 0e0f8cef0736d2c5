#pragma once
// Shared by the kernel tests: random weights in any dtype (R8 types are quantized as their plain type
// and interleaved as the loader does), random activations, and the float references.

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "tensor/fp8.h"
#include "tensor/half.h"
#include "tensor/interleave.h"
#include "tensor/quant.h"
#include "tensor/quant_iq_grid.h"
#include "tensor/tensor.h"
#include "util/cpu_features.h"

namespace dsinfer {

// Every kernel set this CPU runs, scalar first (the reference the others must equal).
inline std::vector<const kern::KernelSet*> runnable_kernel_sets() {
  std::vector<const kern::KernelSet*> sets{&kern::scalar_kernels()};
  if (cpu_features().has_avx2_tier()) {
    sets.push_back(&kern::avx2_kernels());
    sets.push_back(&kern::avx2_int32dot_kernels());  // the VNNI sets' R8 code on AVX2
  }
  if (cpu_features().has_avxvnni_tier()) sets.push_back(&kern::avxvnni_kernels());
  if (cpu_features().has_avx512_tier()) sets.push_back(&kern::avx512_kernels());
  return sets;
}

struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> fp8;
  std::vector<float> scales;
  TensorView view;
};

inline Weights make_weights(DType t, int64_t rows, int64_t K, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * K));
  for (auto& v : w) v = nd(rng) * 0.05f;
  Weights out;
  out.view.name = "test.weight";
  out.view.dtype = t;
  out.view.shape = {rows, K};
  if (t == DType::F8_E4M3) {
    fp8_quantize_matrix(w.data(), rows, K, out.fp8, out.scales);
    out.view.data = out.fp8.data();
    out.view.nbytes = out.fp8.size();
    out.view.block_scale = out.scales.data();
    return out;
  }
  const size_t rb = dtype_row_bytes(plain_of(t), K);  // rows are made in the plain layout first
  out.bytes.resize(rb * rows);
  for (int64_t r = 0; r < rows; ++r) {
    if (t == DType::F32) {
      std::memcpy(out.bytes.data() + r * rb, w.data() + r * K, rb);
    } else if (t == DType::F16 || t == DType::BF16) {
      for (int64_t k = 0; k < K; ++k) {
        const uint16_t h = t == DType::F16 ? f32_to_f16(w[r * K + k]) : f32_to_bf16(w[r * K + k]);
        std::memcpy(out.bytes.data() + r * rb + 2 * k, &h, 2);
      }
    } else if (dtype_is_iq_grid(plain_of(t))) {  // no quantizer: random codes of the weights' scale
      iq_grid_random_row(plain_of(t), 0.05f, seed * 1000003ull + static_cast<uint64_t>(r), out.bytes.data() + r * rb, K);
    } else {
      quantize_row(plain_of(t), w.data() + r * K, out.bytes.data() + r * rb, K);
    }
  }
  if (is_interleaved(t)) {
    std::vector<uint8_t> packed(static_cast<size_t>(rows) * dtype_row_bytes(t, K));
    interleave_rows(plain_of(t), out.bytes.data(), rows, K, packed.data());
    out.bytes.swap(packed);
  }
  out.view.data = out.bytes.data();
  out.view.nbytes = out.bytes.size();
  return out;
}

inline std::vector<float> make_x(int64_t n_tok, int64_t K, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tok * K));
  for (auto& v : x) v = nd(rng);
  // A few outliers, as real activations have.
  for (int64_t t = 0; t < n_tok; ++t) x[t * K + (t * 7) % K] = 20.0f;
  return x;
}

// Float reference: dequantized weights · float activations, in double.
inline std::vector<double> reference(const TensorView& w, const std::vector<float>& x, int64_t n_tok) {
  const int64_t rows = w.rows(), K = w.cols();
  std::vector<float> wf(static_cast<size_t>(rows * K));
  dequantize_rows(w, 0, rows, wf.data());
  std::vector<double> y(static_cast<size_t>(n_tok * rows));
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += static_cast<double>(wf[r * K + k]) * x[t * K + k];
      y[t * rows + r] = s;
    }
  return y;
}

// The activation-rounding bound of every output: sum_k |w_k| * d_block(k) / 2 (+ float slack).
inline std::vector<double> rounding_bound(const TensorView& w, const kern::ActQ8& a) {
  const int64_t rows = w.rows(), K = w.cols();
  std::vector<float> wf(static_cast<size_t>(rows * K));
  dequantize_rows(w, 0, rows, wf.data());
  std::vector<double> bound(static_cast<size_t>(a.n_tok * rows));
  for (int64_t t = 0; t < a.n_tok; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        s += std::fabs(wf[r * K + k]) * a.dt(t)[k / 32] * 0.5;
        mag += std::fabs(wf[r * K + k]);
      }
      bound[t * rows + r] = s * 1.001 + mag * 1e-5 + 1e-6;
    }
  return bound;
}

}  // namespace dsinfer
