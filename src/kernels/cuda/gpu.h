#pragma once
// The GPU half of hybrid inference: weight matrices copied into one NVIDIA GPU's memory and the products
// the forward pass runs against them. Plain C++ (no CUDA header): a build without a CUDA toolkit compiles
// the same API as a stub (built_with_cuda() false, Device's constructor throws).
//
// What runs here: y = x W^T (cuBLAS GEMM, fp32 accumulation), the SwiGLU MLP down(silu(gate x) * up x)
// started without waiting, so the CPU can run the routed experts meanwhile, and — for a large batch — the
// routed experts themselves, their weights streamed from host memory (stream_experts). Activations cross PCIe as
// float32 both ways; W is stored as float32 (the same products as the CPU's reference path, up to the
// order of the sums) or bfloat16 (half the memory; activations then rounded to bf16 too).
// Conventions as kernels/cpu/matmul.h: W is [N, K] row-major, activations [n_tok, K] float32.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace dsinfer {
class ThreadPool;
}

namespace dsinfer::gpu {

// This binary was built with the CUDA kernels (a CUDA toolkit and cuBLAS were found at build time).
bool built_with_cuda();

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;   // compute capability
  uint64_t total_bytes = 0, free_bytes = 0;
};

// The CUDA devices this process can use; empty when there are none, with the reason in *why (no CUDA in
// this build, no driver, no device).
std::vector<DeviceInfo> list_devices(std::string* why);

enum class Storage { kF32, kBF16 };
const char* storage_name(Storage s);  // "f32", "bf16"
uint64_t storage_bytes(Storage s);    // per value
// "f32" / "bf16"; anything else is an Error naming the accepted values.
Storage parse_storage(const std::string& s);

class Device;

// A weight matrix [rows, cols], row-major, in device memory; owned by its Device.
struct Matrix {
  Device* device = nullptr;
  int64_t rows = 0, cols = 0;
  Storage storage = Storage::kF32;
  void* data = nullptr;
  uint64_t bytes() const { return static_cast<uint64_t>(rows * cols) * storage_bytes(storage); }
};

// One GPU: a stream, a cuBLAS handle, staging buffers and the matrices uploaded to it. Calls are
// serialized by the Device (one forward pass at a time uses it). Every CUDA failure is an Error that
// names the call and the CUDA message.
class Device {
 public:
  explicit Device(int index = 0);  // Error when the device cannot be used (or no CUDA in this build)
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const DeviceInfo& info() const;
  uint64_t free_bytes() const;  // the device's free memory now

  // Copies w (any dtype dsinfer loads; dequantized on the host, rows spread over the pool) into device
  // memory as `s`. The returned matrix lives as long as the Device.
  const Matrix* upload(ThreadPool& pool, const TensorView& w, Storage s);
  uint64_t bytes_uploaded() const;

  // y[t * ldy + n] = sum_k x[t * ldx + k] * W[row0 + n, k] for t < n_tok, n < n_rows; returns when y is
  // written. (A started swiglu may still be running.)
  void matmul(const Matrix& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx, int64_t n_tok, float* y,
              int64_t ldy);

  // Several products of one x (MLA's q and kv_a projections): x crosses to the GPU once and the results
  // come back in one copy. Every matrix has x's width and the same storage.
  struct Product {
    const Matrix* w;
    int64_t row0, n_rows;
    float* y;
    int64_t ldy;
  };
  void matmul(const std::vector<Product>& products, const float* x, int64_t ldx, int64_t n_tok);

  // out = down(silu(gate x) * up x) for x [n_tok, D] (row stride ldx): started here, returned by
  // swiglu_finish, which adds it into out[t * ldo + d] (accumulate) or stores it. x is copied before
  // swiglu_start returns. One started swiglu at a time.
  void swiglu_start(const Matrix& gate, const Matrix& up, const Matrix& down, const float* x, int64_t ldx,
                    int64_t n_tok);
  void swiglu_finish(float* out, int64_t ldo, bool accumulate);

  // Routed experts of a large batch on the GPU (llama.cpp's "op offload"): each job's three matrices are
  // copied over in their block bytes, dequantized there to float32 and run as SwiGLU over the job's
  // tokens: out[tokens[i] * ldo + d] += weights[i] * down(silu(gate x) * up x)[d], jobs added in order.
  // Copies run on their own stream, so the next job's weights cross while this job computes: straight
  // from memory given to pin_host, else through pinned staging the pool fills.
  // Every matrix's dtype must be one can_stream() takes. Returns when out is written.
  struct ExpertJob {
    const TensorView* gate;  // [I, D]
    const TensorView* up;    // [I, D]
    const TensorView* down;  // [D, I]
    const int32_t* tokens;
    const float* weights;
    int64_t n;
  };
  void stream_experts(ThreadPool& pool, const std::vector<ExpertJob>& jobs, const float* x, int64_t ldx,
                      int64_t n_tok, float* out, int64_t ldo);
  // Page-locks host memory the GPU then copies from directly (the repacked expert weights), for as long
  // as the Device lives; false (and nothing changes) when the system refuses.
  bool pin_host(const void* data, uint64_t bytes);
  // The dtypes the GPU dequantizes: F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K and their R8
  // layouts (Q4_0_R8 / Q8_0_R8 read as stored; the others put back into the plain layout by the host).
  static bool can_stream(DType t);
  // w dequantized on the GPU [rows * cols], sent as stream_experts sends it (what it computes with;
  // for tests: the values equal dequantize_rows' bit for bit).
  std::vector<float> dequantize(ThreadPool& pool, const TensorView& w);

  // Host time spent in the calls that wait for the GPU (matmul, swiglu_finish), and their number: where a
  // hybrid step goes (dsinfer bench reports it per decoded token).
  struct Stats {
    int64_t calls = 0;
    double seconds = 0;
  };
  Stats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsinfer::gpu
