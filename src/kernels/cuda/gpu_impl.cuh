#pragma once
// Inside the CUDA implementation of gpu.h (gpu_cuda.cu, gpu_experts.cu): error checks, the small
// element-wise kernels, growing device / pinned buffers and the Device's state. Not for other layers.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "kernels/cuda/gpu.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace dsinfer::gpu {

namespace detail {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA error in ", what, ": ", cudaGetErrorString(e));
}
inline void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("cuBLAS error in ", what, ": ", cublasGetStatusString(s));
}
#define DSINFER_CUDA_CHECK(call) check((call), #call)

constexpr int kThreads = 256;

inline int blocks_for(int64_t n) { return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535)); }

static __global__ void f32_to_bf16_kernel(const float* in, __nv_bfloat16* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = __float2bfloat16_rn(in[i]);
}

// g = silu(g) * u (SwiGLU's middle), float32 as the CPU kernels compute it.
static __global__ void silu_mul_kernel(float* g, const float* u, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float v = g[i];
    g[i] = v / (1.0f + expf(-v)) * u[i];
  }
}

inline cudaError_t device_alloc(void** p, size_t n) { return cudaMalloc(p, n); }
inline cudaError_t pinned_alloc(void** p, size_t n) { return cudaMallocHost(p, n); }

// Memory that grows to the largest size asked for: device memory, or page-locked host memory (the only
// kind asynchronous copies overlap with).
template <cudaError_t (*Alloc)(void**, size_t), cudaError_t (*Free)(void*)>
struct GrowingBuffer {
  GrowingBuffer() = default;
  GrowingBuffer(const GrowingBuffer&) = delete;
  GrowingBuffer& operator=(const GrowingBuffer&) = delete;
  ~GrowingBuffer() {
    if (ptr) Free(ptr);
  }
  template <class T>
  T* get(int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * sizeof(T);
    if (bytes > cap) {
      if (ptr) Free(ptr);
      ptr = nullptr;
      cap = 0;
      DSINFER_CUDA_CHECK(Alloc(&ptr, bytes));
      cap = bytes;
    }
    return static_cast<T*>(ptr);
  }
  void* ptr = nullptr;
  size_t cap = 0;
};
using DeviceBuffer = GrowingBuffer<device_alloc, cudaFree>;
using PinnedBuffer = GrowingBuffer<pinned_alloc, cudaFreeHost>;

// The buffers one operation in flight uses: its input (host and device), the bf16 copies, its output.
struct Staging {
  PinnedBuffer host_in, host_out;
  DeviceBuffer x, x_bf16, a, b, a_bf16, y;
};

inline int checked_int(int64_t v, const char* what) {
  if (v < 0 || v > 0x7fffffff) fail("GPU ", what, " ", v, " is out of range for cuBLAS");
  return static_cast<int>(v);
}

}  // namespace detail
using namespace detail;

struct Device::Impl {
  DeviceInfo info;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  cudaEvent_t swiglu_done = nullptr;
  std::mutex mu;
  std::vector<std::unique_ptr<Matrix>> matrices;
  uint64_t uploaded = 0;
  Staging mm, sw;            // matmul's, and the started swiglu's (so a matmul may run while it is in flight)
  bool swiglu_pending = false;
  int64_t swiglu_tok = 0, swiglu_d = 0;
  Device::Stats stats;
  // stream_experts' buffers: a job's three matrices as stored (two, so the next job's copy overlaps this
  // one's products), the dequantized matrices, the batch's token lists and weights, the sums.
  struct ExpertStaging {
    cudaStream_t copy_stream = nullptr;  // the weights' copies, beside the compute stream
    PinnedBuffer raw_host[2];
    DeviceBuffer raw_dev[2];
    cudaEvent_t copied[2] = {nullptr, nullptr};    // raw_dev[b] filled (copy stream)
    cudaEvent_t consumed[2] = {nullptr, nullptr};  // raw_dev[b] dequantized, free again (compute stream)
    std::vector<std::pair<const uint8_t*, uint64_t>> pinned;  // pin_host's ranges
    PinnedBuffer index_host;
    DeviceBuffer tokens, weights, w, xg, g, u, y, acc;
  } ex;

  void use() { DSINFER_CUDA_CHECK(cudaSetDevice(info.index)); }

  // [p, p + n) lies in memory given to pin_host.
  bool pinned(const void* p, uint64_t n) const {
    const auto* b = static_cast<const uint8_t*>(p);
    for (const auto& [start, size] : ex.pinned)
      if (b >= start && b + n <= start + size) return true;
    return false;
  }

  void launch_to_bf16(const float* in, void* out, int64_t n) {
    f32_to_bf16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(in, static_cast<__nv_bfloat16*>(out), n);
    DSINFER_CUDA_CHECK(cudaGetLastError());
  }

  // x (device, float32 [n]) in the storage type of the weight that reads it.
  const void* as_storage(Storage s, const float* x, DeviceBuffer& bf16, int64_t n) {
    if (s == Storage::kF32) return x;
    void* out = bf16.get<__nv_bfloat16>(n);
    launch_to_bf16(x, out, n);
    return out;
  }

  // c[t * ldc + n] = sum_k x[t * ldx + k] * W[row0 + n, k]: in cuBLAS's column-major terms
  // C (n_rows x T) = A^T B with A = W's rows (K x n_rows, lda K) and B = x^T (K x T, ldb ldx).
  void gemm(const Matrix& w, int64_t row0, int64_t n_rows, const void* x, int64_t ldx, int64_t n_tok, float* c,
            int64_t ldc) {
    const float alpha = 1.0f, beta = 0.0f;
    const cudaDataType ab = w.storage == Storage::kF32 ? CUDA_R_32F : CUDA_R_16BF;
    const char* a = static_cast<const char*>(w.data) + row0 * w.cols * static_cast<int64_t>(storage_bytes(w.storage));
    DSINFER_CUDA_CHECK(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, checked_int(n_rows, "rows"),
                                    checked_int(n_tok, "tokens"), checked_int(w.cols, "columns"), &alpha, a, ab,
                                    checked_int(w.cols, "columns"), x, ab, checked_int(ldx, "stride"), &beta, c,
                                    CUDA_R_32F, checked_int(ldc, "stride"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }

  // x [n_tok, K] (host, row stride ldx) into st.x on the device (dense rows); returns it.
  float* upload_input(Staging& st, const float* x, int64_t ldx, int64_t n_tok, int64_t K) {
    float* host = st.host_in.get<float>(n_tok * K);
    for (int64_t t = 0; t < n_tok; ++t) std::memcpy(host + t * K, x + t * ldx, static_cast<size_t>(K) * sizeof(float));
    float* dx = st.x.get<float>(n_tok * K);
    DSINFER_CUDA_CHECK(cudaMemcpyAsync(dx, host, static_cast<size_t>(n_tok * K) * sizeof(float),
                                       cudaMemcpyHostToDevice, stream));
    return dx;
  }
};

}  // namespace dsinfer::gpu
