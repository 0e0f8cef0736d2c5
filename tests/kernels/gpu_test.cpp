// The GPU half of hybrid inference (kernels/cuda/gpu.h) against the float reference on the host: every
// weight dtype dsinfer loads, awkward sizes, row ranges and strides, both storages. The tests that need a
// GPU skip on machines without one (CI's); the ones that check what happens without one run there.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/cuda/gpu.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace dsinfer {
namespace {

bool have_gpu() {
  std::string why;
  return !gpu::list_devices(&why).empty();
}

#define REQUIRE_GPU()                                               \
  do {                                                              \
    std::string why_;                                               \
    if (gpu::list_devices(&why_).empty()) GTEST_SKIP() << why_;     \
  } while (0)

// Largest |got - want| over the outputs, relative to the largest |want|.
double rel_error(const std::vector<float>& got, const std::vector<double>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    diff = std::max(diff, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return diff / scale;
}

TEST(GpuApi, StorageNames) {
  EXPECT_EQ(gpu::parse_storage("f32"), gpu::Storage::kF32);
  EXPECT_EQ(gpu::parse_storage("bf16"), gpu::Storage::kBF16);
  EXPECT_EQ(gpu::storage_bytes(gpu::Storage::kBF16), 2u);
  try {
    gpu::parse_storage("fp8");
    FAIL() << "fp8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected f32 or bf16"), std::string::npos) << e.what();
  }
}

TEST(GpuApi, WithoutADeviceSaysWhy) {
  if (have_gpu()) GTEST_SKIP() << "this machine has a GPU";
  std::string why;
  EXPECT_TRUE(gpu::list_devices(&why).empty());
  EXPECT_FALSE(why.empty());
  try {
    gpu::Device d(0);
    FAIL() << "a Device without a GPU";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(msg.find("CUDA") != std::string::npos) << msg;
  }
}

TEST(GpuApi, DeviceIndexOutOfRange) {
  REQUIRE_GPU();
  EXPECT_THROW(gpu::Device(99), Error);
}

struct MatmulCase {
  DType dtype;
  int64_t K;
};

class GpuMatmul : public ::testing::TestWithParam<MatmulCase> {};

// Rows [row0, row0 + n) of W against x with strides wider than the data, for 1..70 tokens; the values
// outside the written rectangle of y stay as they were.
TEST_P(GpuMatmul, MatchesFloatReference) {
  REQUIRE_GPU();
  const MatmulCase c = GetParam();
  const int64_t N = 136, row0 = 8, n = 117;  // not multiples of any tile
  const auto w = make_weights(c.dtype, N, c.K, 11);
  ThreadPool pool(2);
  gpu::Device dev(0);
  for (const gpu::Storage s : {gpu::Storage::kF32, gpu::Storage::kBF16}) {
    const gpu::Matrix* m = dev.upload(pool, w.view, s);
    ASSERT_EQ(m->rows, N);
    ASSERT_EQ(m->cols, c.K);
    for (const int64_t T : {1, 3, 17, 70}) {
      const int64_t ldx = c.K + 5, ldy = n + 3;
      const std::vector<float> x = make_x(T, c.K, static_cast<uint32_t>(T));
      std::vector<float> xs(static_cast<size_t>(T * ldx), NAN);  // padding never read
      for (int64_t t = 0; t < T; ++t) std::copy_n(x.data() + t * c.K, c.K, xs.data() + t * ldx);
      std::vector<float> y(static_cast<size_t>(T * ldy), -777.0f);
      dev.matmul(*m, row0, n, xs.data(), ldx, T, y.data(), ldy);
      const std::vector<double> full = reference(w.view, x, T);  // [T, N]
      std::vector<double> want;
      std::vector<float> got;
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t r = 0; r < n; ++r) {
          want.push_back(full[t * N + row0 + r]);
          got.push_back(y[t * ldy + r]);
        }
        for (int64_t r = n; r < ldy; ++r) ASSERT_EQ(y[t * ldy + r], -777.0f) << "wrote past the rows";
      }
      const double err = rel_error(got, want);
      // f32: the reference's products, summed in another order; bf16: weights and activations rounded to
      // 8 significant bits (2^-9 relative each), averaging out over K products.
      const double tol = s == gpu::Storage::kF32 ? 2e-6 : 2e-2;
      EXPECT_LE(err, tol) << dtype_name(c.dtype) << " K=" << c.K << " T=" << T << " as " << gpu::storage_name(s);
    }
  }
  EXPECT_EQ(dev.bytes_uploaded(), static_cast<uint64_t>(N * c.K) * 6u);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GpuMatmul,
                         ::testing::Values(MatmulCase{DType::F32, 96}, MatmulCase{DType::F16, 200},
                                           MatmulCase{DType::BF16, 72}, MatmulCase{DType::F8_E4M3, 300},
                                           MatmulCase{DType::Q8_0, 320}, MatmulCase{DType::Q4_0, 544},
                                           MatmulCase{DType::Q5_0, 96}, MatmulCase{DType::Q5_1, 96},
                                           MatmulCase{DType::Q4_K, 512}, MatmulCase{DType::Q5_K, 256},
                                           MatmulCase{DType::Q6_K, 768}, MatmulCase{DType::Q4_0_R8, 256},
                                           MatmulCase{DType::Q6_K_R8, 256}),
                         [](const auto& info) { return std::string(dtype_name(info.param.dtype)); });

// MLA's q and kv_a: one input, several matrices (and row ranges), one trip each way.
TEST(GpuProducts, SeveralMatricesOfOneInput) {
  REQUIRE_GPU();
  const int64_t K = 192;
  const auto a = make_weights(DType::Q4_K, 48, 256, 5), b = make_weights(DType::Q8_0, 40, K, 6);
  const auto c = make_weights(DType::BF16, 24, K, 7);
  ThreadPool pool(2);
  gpu::Device dev(0);
  const gpu::Matrix *mb = dev.upload(pool, b.view, gpu::Storage::kF32), *mc = dev.upload(pool, c.view, gpu::Storage::kF32);
  for (const int64_t T : {1, 6, 33}) {
    const std::vector<float> x = make_x(T, K, static_cast<uint32_t>(7 * T));
    std::vector<float> yb(static_cast<size_t>(T * 40), -1.0f), yc(static_cast<size_t>(T * 30), -1.0f);
    dev.matmul({{mb, 0, 40, yb.data(), 40}, {mc, 4, 20, yc.data(), 30}}, x.data(), K, T);
    EXPECT_LE(rel_error(yb, reference(b.view, x, T)), 2e-6) << "T=" << T;
    const std::vector<double> full_c = reference(c.view, x, T);
    std::vector<double> want;
    std::vector<float> got;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t r = 0; r < 20; ++r) {
        want.push_back(full_c[t * 24 + 4 + r]);
        got.push_back(yc[t * 30 + r]);
      }
    EXPECT_LE(rel_error(got, want), 2e-6) << "T=" << T;
    EXPECT_EQ(yc[29], -1.0f);
  }
  const gpu::Matrix* ma = dev.upload(pool, a.view, gpu::Storage::kF32);  // width 256: not x's
  std::vector<float> x(256), y(48);
  EXPECT_THROW(dev.matmul({{mb, 0, 40, y.data(), 40}, {ma, 0, 48, y.data(), 48}}, x.data(), K, 1), Error);
  EXPECT_THROW(dev.matmul(*mb, 30, 20, x.data(), K, 1, y.data(), 20), Error);  // rows past the end
}

// out = down(silu(gate x) * up x) in double on the host.
std::vector<double> swiglu_reference(const TensorView& gate, const TensorView& up, const TensorView& down,
                                     const std::vector<float>& x, int64_t T) {
  const int64_t I = gate.rows();
  const std::vector<double> g = reference(gate, x, T), u = reference(up, x, T);
  std::vector<float> h(static_cast<size_t>(T * I));
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<float>(g[i] / (1.0 + std::exp(-g[i])) * u[i]);
  return reference(down, h, T);
}

// The started MLP runs while a matmul goes on the same device, and is added into (or stored over) out.
TEST(GpuSwiglu, MatchesReferenceWhileAMatmulRuns) {
  REQUIRE_GPU();
  const int64_t D = 160, I = 96;
  const auto gate = make_weights(DType::Q8_0, I, D, 1), up = make_weights(DType::Q4_0, I, D, 2);
  const auto down = make_weights(DType::Q4_0, D, I, 3), other = make_weights(DType::F16, 40, D, 4);
  ThreadPool pool(2);
  gpu::Device dev(0);
  const gpu::Matrix *g = dev.upload(pool, gate.view, gpu::Storage::kF32), *u = dev.upload(pool, up.view, gpu::Storage::kF32);
  const gpu::Matrix *dn = dev.upload(pool, down.view, gpu::Storage::kF32), *o = dev.upload(pool, other.view, gpu::Storage::kF32);
  for (const int64_t T : {1, 9, 64}) {
    const std::vector<float> x = make_x(T, D, static_cast<uint32_t>(100 + T));
    const std::vector<double> want = swiglu_reference(gate.view, up.view, down.view, x, T);
    for (const bool accumulate : {false, true}) {
      std::vector<float> out(static_cast<size_t>(T * D), 0.5f);
      dev.swiglu_start(*g, *u, *dn, x.data(), D, T);
      EXPECT_THROW(dev.swiglu_start(*g, *u, *dn, x.data(), D, T), Error);  // one at a time
      std::vector<float> y(static_cast<size_t>(T * 40));
      dev.matmul(*o, 0, 40, x.data(), D, T, y.data(), 40);
      EXPECT_LE(rel_error(y, reference(other.view, x, T)), 2e-6);
      dev.swiglu_finish(out.data(), D, accumulate);
      std::vector<double> w = want;
      if (accumulate)
        for (double& v : w) v += 0.5;
      EXPECT_LE(rel_error(out, w), 2e-6) << "T=" << T << " accumulate " << accumulate;
    }
  }
  EXPECT_THROW(dev.swiglu_finish(nullptr, D, false), Error);  // nothing started
  EXPECT_THROW(dev.swiglu_start(*g, *dn, *u, nullptr, D, 1), Error);  // shapes that do not fit
}

// The stored bytes of every type stream_experts takes, dequantized on the GPU: the host's values bit for bit.
TEST(GpuDequantize, BitExactForEveryStreamableDtype) {
  REQUIRE_GPU();
  ThreadPool pool(2);
  gpu::Device dev(0);
  // (the R8 forms of the K-quants, Q5_0 and Q5_1 are put back into their plain layout by the host)
  for (const DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q8_0_R8, DType::Q4_0_R8,
                        DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q5_0_R8, DType::Q5_1_R8,
                        DType::Q4_K_R8, DType::Q5_K_R8, DType::Q6_K_R8}) {
    ASSERT_TRUE(gpu::Device::can_stream(t)) << dtype_name(t);
    const auto w = make_weights(t, 40, 512, 21);
    const std::vector<float> got = dev.dequantize(pool, w.view);
    std::vector<float> want(40 * 512);
    dequantize_rows(w.view, 0, 40, want.data());
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float))) << dtype_name(t);
  }
  EXPECT_FALSE(gpu::Device::can_stream(DType::F8_E4M3));
  EXPECT_THROW(dev.dequantize(pool, make_weights(DType::F8_E4M3, 8, 256, 1).view), Error);
}

// Routed experts streamed to the GPU: jobs of mixed dtypes over token subsets (one job empty, a token in
// several jobs), added into out in job order, against the float reference of each job's SwiGLU.
TEST(GpuStreamExperts, MatchReferenceAndAddIntoOut) {
  REQUIRE_GPU();
  const int64_t D = 96, I = 64, T = 37;
  const DType types[] = {DType::Q4_0_R8, DType::Q8_0, DType::F16, DType::Q5_1_R8, DType::BF16, DType::Q8_0_R8};
  std::vector<Weights> gates, ups, downs;
  for (int e = 0; e < 6; ++e) {
    gates.push_back(make_weights(types[e], I, D, 100 + e));
    ups.push_back(make_weights(types[(e + 1) % 6], I, D, 200 + e));
    downs.push_back(make_weights(types[(e + 2) % 6], D, I, 300 + e));
  }
  const std::vector<float> x = make_x(T, D, 9);
  std::vector<std::vector<int32_t>> tokens(6);
  std::vector<std::vector<float>> weights(6);
  for (int32_t t = 0; t < T; ++t)
    for (int e = 0; e < 6; ++e)
      if (e != 4 && (t * 7 + e * 3) % 5 < 2) {  // expert 4 gets no token
        tokens[e].push_back(t);
        weights[e].push_back(0.1f + 0.05f * static_cast<float>((t + e) % 7));
      }
  std::vector<double> want(static_cast<size_t>(T * D), 0.25);
  std::vector<gpu::Device::ExpertJob> jobs;
  for (int e = 0; e < 6; ++e) {
    jobs.push_back({&gates[e].view, &ups[e].view, &downs[e].view, tokens[e].data(), weights[e].data(),
                    static_cast<int64_t>(tokens[e].size())});
    const std::vector<double> y = swiglu_reference(gates[e].view, ups[e].view, downs[e].view, x, T);
    for (size_t i = 0; i < tokens[e].size(); ++i)
      for (int64_t d = 0; d < D; ++d) want[tokens[e][i] * D + d] += weights[e][i] * y[tokens[e][i] * D + d];
  }
  ThreadPool pool(2);
  gpu::Device dev(0);
  std::vector<float> out(static_cast<size_t>(T * D), 0.25f);
  dev.stream_experts(pool, jobs, x.data(), D, T, out.data(), D);
  EXPECT_LE(rel_error(out, want), 2e-6);
  // A job with a token outside the batch is refused before any work.
  std::vector<gpu::Device::ExpertJob> bad = jobs;
  std::vector<int32_t> outside{T};
  bad[1].tokens = outside.data();
  bad[1].n = 1;
  EXPECT_THROW(dev.stream_experts(pool, bad, x.data(), D, T, out.data(), D), Error);

  // The same jobs with the gate and up matrices in page-locked memory (pin_host): those cross straight
  // from it, the down matrices through staging, in one job.
  size_t total = 0;
  for (int e = 0; e < 6; ++e) total += gates[e].view.nbytes + ups[e].view.nbytes + 64;
  const size_t size = (total + 4095) / 4096 * 4096;
  std::unique_ptr<uint8_t, void (*)(void*)> pinned(static_cast<uint8_t*>(std::aligned_alloc(4096, size)), &std::free);
  std::vector<TensorView> moved;
  moved.reserve(12);
  size_t at = 0;
  for (int e = 0; e < 6; ++e)
    for (const TensorView* v : {&gates[e].view, &ups[e].view}) {
      std::memcpy(pinned.get() + at, v->data, v->nbytes);
      moved.push_back(*v);
      moved.back().data = pinned.get() + at;
      at += (v->nbytes + 63) / 64 * 64;
    }
  {
    gpu::Device dev2(0);  // (unregisters the memory before it is freed)
    ASSERT_TRUE(dev2.pin_host(pinned.get(), size));
    std::vector<gpu::Device::ExpertJob> direct = jobs;
    for (int e = 0; e < 6; ++e) {
      direct[e].gate = &moved[2 * e];
      direct[e].up = &moved[2 * e + 1];
    }
    std::vector<float> out2(static_cast<size_t>(T * D), 0.25f);
    dev2.stream_experts(pool, direct, x.data(), D, T, out2.data(), D);
    EXPECT_LE(rel_error(out2, want), 2e-6);
    EXPECT_EQ(out2, out) << "the same products, however the bytes crossed";
  }
}

}  // namespace
}  // namespace dsinfer
