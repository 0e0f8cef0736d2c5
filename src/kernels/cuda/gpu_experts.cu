// Routed experts of a large batch on the GPU, their weights streamed from host memory in their stored bytes
// and dequantized there (gpu.h: Device::stream_experts, can_stream, dequantize).
#include <cuda_fp16.h>

#include <chrono>

#include "kernels/cuda/gpu_impl.cuh"
#include "tensor/interleave.h"

namespace dsinfer::gpu {

namespace {

__device__ float f16_at(const uint8_t* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(p[0] | (p[1] << 8))));
}

// One thread per 32-value block of one row: `rows` x (cols / 32) blocks of the GGML layouts (tensor/quant.h)
// and their 8-row interleaved forms (tensor/interleave.h), value = d * q exactly as on the host.
template <DType kType>
__global__ void dequant_blocks_kernel(const uint8_t* src, float* dst, int64_t rows, int64_t cols, int64_t row_bytes) {
  const int64_t nb = cols / 32;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < rows * nb;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = idx / nb, b = idx % nb;
    float* o = dst + r * cols + b * 32;
    const int64_t lane = r % 8;
    const uint8_t* group = src + (r / 8) * 8 * row_bytes;
    if constexpr (kType == DType::Q4_0) {
      const uint8_t* blk = src + r * row_bytes + b * 18;
      const float d = f16_at(blk);
      for (int j = 0; j < 16; ++j) {
        o[j] = d * static_cast<float>((blk[2 + j] & 15) - 8);
        o[j + 16] = d * static_cast<float>((blk[2 + j] >> 4) - 8);
      }
    } else if constexpr (kType == DType::Q8_0) {
      const uint8_t* blk = src + r * row_bytes + b * 34;
      const float d = f16_at(blk);
      for (int j = 0; j < 32; ++j) o[j] = d * static_cast<float>(static_cast<int8_t>(blk[2 + j]));
    } else if constexpr (kType == DType::Q5_0 || kType == DType::Q5_1) {  // d (m) | qh[4] | qs[16]
      const bool q51 = kType == DType::Q5_1;
      const uint8_t* blk = src + r * row_bytes + b * (q51 ? 24 : 22);
      const float d = f16_at(blk), m = q51 ? f16_at(blk + 2) : 0.0f;
      const uint8_t* qh = blk + (q51 ? 4 : 2);
      const uint32_t h = qh[0] | (qh[1] << 8) | (qh[2] << 16) | (static_cast<uint32_t>(qh[3]) << 24);
      const uint8_t* qs = qh + 4;
      for (int j = 0; j < 32; ++j) {
        const int q = (j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4)) | static_cast<int>((h >> j) & 1u) << 4;
        // (no fused multiply-add: the host rounds the product, then the sum)
        o[j] = q51 ? __fadd_rn(__fmul_rn(static_cast<float>(q), d), m) : static_cast<float>(q - 16) * d;
      }
    } else if constexpr (kType == DType::Q4_0_R8) {  // f16 d[8] | 4 chunks of [8 rows][4 bytes]
      const uint8_t* blk = group + b * 144;
      const float d = f16_at(blk + 2 * lane);
      for (int k = 0; k < 16; ++k) {
        const uint8_t q = blk[16 + (k / 4) * 32 + lane * 4 + k % 4];
        o[k] = d * static_cast<float>((q & 15) - 8);
        o[k + 16] = d * static_cast<float>((q >> 4) - 8);
      }
    } else if constexpr (kType == DType::Q8_0_R8) {  // f16 d[8] | 8 chunks of [8 rows][4 int8]
      const uint8_t* blk = group + b * 272;
      const float d = f16_at(blk + 2 * lane);
      for (int v = 0; v < 32; ++v)
        o[v] = d * static_cast<float>(static_cast<int8_t>(blk[16 + (v / 4) * 32 + lane * 4 + v % 4]));
    }
  }
}

// The scale / min of group g (0..7) from Q4_K's and Q5_K's 12-byte table (tensor/quant_k.cpp).
__device__ void scale_min_k4(int g, const uint8_t* s, int* scale, int* min) {
  if (g < 4) {
    *scale = s[g] & 63;
    *min = s[g + 4] & 63;
  } else {
    *scale = (s[g + 4] & 0x0f) | ((s[g - 4] >> 6) << 4);
    *min = (s[g + 4] >> 4) | ((s[g] >> 6) << 4);
  }
}

// One thread per 256-value super-block of the K-quants (tensor/quant_block_layouts.h), the host's
// products and differences in its order, each rounded (no fused multiply-add), so the values are its own.
template <DType kType>
__global__ void dequant_k_kernel(const uint8_t* src, float* dst, int64_t rows, int64_t cols, int64_t row_bytes) {
  const int64_t nsb = cols / 256;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < rows * nsb;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = idx / nsb, sb = idx % nsb;
    float* y = dst + r * cols + sb * 256;
    if constexpr (kType == DType::Q4_K || kType == DType::Q5_K) {
      const bool q5 = kType == DType::Q5_K;
      const uint8_t* blk = src + r * row_bytes + sb * (q5 ? 176 : 144);
      const float d = f16_at(blk), dmin = f16_at(blk + 2);
      const uint8_t* scales = blk + 4;
      const uint8_t* qh = blk + 16;  // Q5_K only
      const uint8_t* qs = blk + (q5 ? 48 : 16);
      for (int p = 0; p < 4; ++p) {
        int sc, m;
        scale_min_k4(2 * p, scales, &sc, &m);
        const float d1 = __fmul_rn(d, static_cast<float>(sc)), m1 = __fmul_rn(dmin, static_cast<float>(m));
        scale_min_k4(2 * p + 1, scales, &sc, &m);
        const float d2 = __fmul_rn(d, static_cast<float>(sc)), m2 = __fmul_rn(dmin, static_cast<float>(m));
        const uint8_t* q = qs + 32 * p;
        for (int l = 0; l < 32; ++l) {
          const int lo = (q[l] & 15) | (q5 ? ((qh[l] >> (2 * p)) & 1) << 4 : 0);
          const int hi = (q[l] >> 4) | (q5 ? ((qh[l] >> (2 * p + 1)) & 1) << 4 : 0);
          y[64 * p + l] = __fsub_rn(__fmul_rn(d1, static_cast<float>(lo)), m1);
          y[64 * p + 32 + l] = __fsub_rn(__fmul_rn(d2, static_cast<float>(hi)), m2);
        }
      }
    } else {  // Q6_K: ql[128] | qh[64] | int8 scales[16] | f16 d
      const uint8_t* blk = src + r * row_bytes + sb * 210;
      const float d = f16_at(blk + 208);
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = blk + 64 * h;
        const uint8_t* qh = blk + 128 + 32 * h;
        const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192) + 8 * h;
        for (int l = 0; l < 32; ++l) {
          const int g = l / 16;
          const int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
          const int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
          const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
          const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
          y[128 * h + l] = __fmul_rn(__fmul_rn(d, static_cast<float>(sc[g])), static_cast<float>(q1));
          y[128 * h + l + 32] = __fmul_rn(__fmul_rn(d, static_cast<float>(sc[g + 2])), static_cast<float>(q2));
          y[128 * h + l + 64] = __fmul_rn(__fmul_rn(d, static_cast<float>(sc[g + 4])), static_cast<float>(q3));
          y[128 * h + l + 96] = __fmul_rn(__fmul_rn(d, static_cast<float>(sc[g + 6])), static_cast<float>(q4));
        }
      }
    }
  }
}

// Float types value by value.
template <DType kType>
__global__ void dequant_values_kernel(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    if constexpr (kType == DType::F32) {
      dst[i] = reinterpret_cast<const float*>(src)[i];
    } else if constexpr (kType == DType::F16) {
      dst[i] = f16_at(src + 2 * i);
    } else {  // BF16
      dst[i] = __uint_as_float(static_cast<unsigned>(src[2 * i] | (src[2 * i + 1] << 8)) << 16);
    }
  }
}

// x_g[i, :] = x[tokens[i], :]  for i < n   (x and x_g [., D])
__global__ void gather_rows_kernel(const float* x, const int32_t* tokens, float* xg, int64_t n, int64_t D) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n * D; i += int64_t{gridDim.x} * blockDim.x)
    xg[i] = x[tokens[i / D] * D + i % D];
}

// acc[tokens[i], :] += weights[i] * y[i, :]  (a token appears at most once in a job: no two threads add
// to one element)
__global__ void scatter_add_kernel(float* acc, const int32_t* tokens, const float* weights, const float* y, int64_t n,
                                   int64_t D) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n * D; i += int64_t{gridDim.x} * blockDim.x)
    acc[tokens[i / D] * D + i % D] += weights[i / D] * y[i];
}

// dst [rows, cols] = the stored bytes at src (device) dequantized.
void launch_dequant(DType t, const uint8_t* src, float* dst, int64_t rows, int64_t cols, int64_t row_bytes,
                    cudaStream_t stream) {
  const int64_t n = rows * cols, blocks = rows * (cols / 32);
  using BlocksKernel = void (*)(const uint8_t*, float*, int64_t, int64_t, int64_t);
  using ValuesKernel = void (*)(const uint8_t*, float*, int64_t);
  const auto by_block = [&](BlocksKernel k) { k<<<blocks_for(blocks), kThreads, 0, stream>>>(src, dst, rows, cols, row_bytes); };
  const auto by_value = [&](ValuesKernel k) { k<<<blocks_for(n), kThreads, 0, stream>>>(src, dst, n); };
  const auto by_super_block = [&](BlocksKernel k) {
    k<<<blocks_for(rows * (cols / 256)), kThreads, 0, stream>>>(src, dst, rows, cols, row_bytes);
  };
  switch (t) {
    case DType::F32: by_value(dequant_values_kernel<DType::F32>); break;
    case DType::F16: by_value(dequant_values_kernel<DType::F16>); break;
    case DType::BF16: by_value(dequant_values_kernel<DType::BF16>); break;
    case DType::Q4_0: by_block(dequant_blocks_kernel<DType::Q4_0>); break;
    case DType::Q8_0: by_block(dequant_blocks_kernel<DType::Q8_0>); break;
    case DType::Q4_0_R8: by_block(dequant_blocks_kernel<DType::Q4_0_R8>); break;
    case DType::Q8_0_R8: by_block(dequant_blocks_kernel<DType::Q8_0_R8>); break;
    case DType::Q5_0: by_block(dequant_blocks_kernel<DType::Q5_0>); break;
    case DType::Q5_1: by_block(dequant_blocks_kernel<DType::Q5_1>); break;
    case DType::Q4_K: by_super_block(dequant_k_kernel<DType::Q4_K>); break;
    case DType::Q5_K: by_super_block(dequant_k_kernel<DType::Q5_K>); break;
    case DType::Q6_K: by_super_block(dequant_k_kernel<DType::Q6_K>); break;
    default: fail("GPU: cannot dequantize ", dtype_name(t), " weights");
  }
  DSINFER_CUDA_CHECK(cudaGetLastError());
}

// What the GPU is sent of a weight: its stored bytes, except the 8-row interleaved forms of the types
// whose interleaving the GPU does not read (the K-quants', Q5_0's, Q5_1's), which the host puts back into
// their plain block layout on the way (tensor/interleave.h).
DType sent_form(DType t) {
  return is_interleaved(t) && t != DType::Q4_0_R8 && t != DType::Q8_0_R8 ? plain_of(t) : t;
}
bool host_deinterleaves(DType t) { return sent_form(t) != t; }
int64_t sent_row_bytes(const TensorView& w) { return static_cast<int64_t>(dtype_row_bytes(sent_form(w.dtype), w.cols())); }
uint64_t sent_bytes(const TensorView& w) { return static_cast<uint64_t>(w.rows() * sent_row_bytes(w)); }

// What ws are sent, laid end to end at dst (pinned), by the pool's threads: 1 MiB pieces of stored
// bytes, or 8-row groups put back into the plain layout.
void stage(ThreadPool& pool, const std::vector<const TensorView*>& ws, uint8_t* dst) {
  constexpr int64_t kPiece = int64_t{1} << 20;
  struct Unit {
    const TensorView* w;
    uint8_t* out;   // the matrix's place in dst
    int64_t begin;  // byte offset (copies) or row group (deinterleaving)
  };
  std::vector<Unit> units;
  uint64_t offset = 0;
  for (const TensorView* w : ws) {
    const int64_t n = host_deinterleaves(w->dtype) ? w->rows() / kInterleaveRows
                                                   : (static_cast<int64_t>(sent_bytes(*w)) + kPiece - 1) / kPiece;
    for (int64_t u = 0; u < n; ++u)
      units.push_back({w, dst + offset, host_deinterleaves(w->dtype) ? u : u * kPiece});
    offset += sent_bytes(*w);
  }
  pool.parallel_for(static_cast<int64_t>(units.size()), [&](int64_t u0, int64_t u1, int) {
    for (int64_t u = u0; u < u1; ++u) {
      const Unit& k = units[static_cast<size_t>(u)];
      const TensorView& w = *k.w;
      if (host_deinterleaves(w.dtype)) {
        const int64_t row0 = k.begin * kInterleaveRows, rb = sent_row_bytes(w);
        for (int lane = 0; lane < kInterleaveRows; ++lane)
          deinterleave_row(w.dtype, w.row_ptr(row0), w.cols(), lane, k.out + (row0 + lane) * rb);
      } else {
        const int64_t size = std::min<int64_t>(kPiece, static_cast<int64_t>(sent_bytes(w)) - k.begin);
        std::memcpy(k.out + k.begin, static_cast<const uint8_t*>(w.data) + k.begin, static_cast<size_t>(size));
      }
    }
  });
}

}  // namespace

bool Device::pin_host(const void* data, uint64_t bytes) {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  d.use();
  if (cudaHostRegister(const_cast<void*>(data), bytes, cudaHostRegisterDefault) != cudaSuccess) {
    cudaGetLastError();  // not sticky; clear it
    return false;
  }
  d.ex.pinned.emplace_back(static_cast<const uint8_t*>(data), bytes);
  return true;
}

bool Device::can_stream(DType t) {
  switch (sent_form(t)) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q4_0: case DType::Q8_0: case DType::Q4_0_R8:
    case DType::Q8_0_R8: case DType::Q5_0: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return true;
    default: return false;
  }
}

std::vector<float> Device::dequantize(ThreadPool& pool, const TensorView& w) {
  if (!can_stream(w.dtype)) fail("GPU: cannot dequantize ", dtype_name(w.dtype), " weights ('", w.name, "')");
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  d.use();
  const int64_t n = w.rows() * w.cols();
  uint8_t* host = d.ex.raw_host[0].get<uint8_t>(static_cast<int64_t>(sent_bytes(w)));
  stage(pool, {&w}, host);
  uint8_t* raw = d.ex.raw_dev[0].get<uint8_t>(static_cast<int64_t>(sent_bytes(w)));
  DSINFER_CUDA_CHECK(cudaMemcpyAsync(raw, host, sent_bytes(w), cudaMemcpyHostToDevice, d.stream));
  float* out = d.ex.w.get<float>(n);
  launch_dequant(sent_form(w.dtype), raw, out, w.rows(), w.cols(), sent_row_bytes(w), d.stream);
  std::vector<float> result(static_cast<size_t>(n));
  DSINFER_CUDA_CHECK(cudaMemcpyAsync(result.data(), out, static_cast<size_t>(n) * sizeof(float),
                                     cudaMemcpyDeviceToHost, d.stream));
  DSINFER_CUDA_CHECK(cudaStreamSynchronize(d.stream));
  return result;
}

void Device::stream_experts(ThreadPool& pool, const std::vector<ExpertJob>& jobs, const float* x, int64_t ldx,
                            int64_t n_tok, float* out, int64_t ldo) {
  if (jobs.empty() || n_tok <= 0) return;
  const int64_t I = jobs[0].gate->rows(), D = jobs[0].gate->cols();
  int64_t total = 0, most = 0;
  for (const ExpertJob& j : jobs) {
    const TensorView *g = j.gate, *u = j.up, *dn = j.down;
    if (g->rows() != I || g->cols() != D || u->rows() != I || u->cols() != D || dn->rows() != D || dn->cols() != I)
      fail("GPU experts: '", g->name, "', '", u->name, "' and '", dn->name, "' do not fit [", I, ", ", D, "]");
    for (const TensorView* w : {g, u, dn})
      if (!can_stream(w->dtype)) fail("GPU experts: cannot stream ", dtype_name(w->dtype), " weights ('", w->name, "')");
    for (int64_t i = 0; i < j.n; ++i)
      if (j.tokens[i] < 0 || j.tokens[i] >= n_tok) fail("GPU experts: token ", j.tokens[i], " outside the batch");
    total += j.n;
    most = std::max(most, j.n);
  }
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  const auto t0 = std::chrono::steady_clock::now();
  d.use();
  Impl::ExpertStaging& ex = d.ex;
  // The batch, every job's token list and weights, and zeroed sums go over once.
  const float* dx = d.upload_input(d.mm, x, ldx, n_tok, D);
  float* index_host = ex.index_host.get<float>(2 * total);
  int32_t* tok_host = reinterpret_cast<int32_t*>(index_host);
  int64_t off = 0;
  for (const ExpertJob& j : jobs) {
    std::memcpy(tok_host + off, j.tokens, static_cast<size_t>(j.n) * sizeof(int32_t));
    std::memcpy(index_host + total + off, j.weights, static_cast<size_t>(j.n) * sizeof(float));
    off += j.n;
  }
  int32_t* tokens = ex.tokens.get<int32_t>(total);
  float* weights = ex.weights.get<float>(total);
  DSINFER_CUDA_CHECK(cudaMemcpyAsync(tokens, tok_host, static_cast<size_t>(total) * 4, cudaMemcpyHostToDevice, d.stream));
  DSINFER_CUDA_CHECK(cudaMemcpyAsync(weights, index_host + total, static_cast<size_t>(total) * 4,
                                     cudaMemcpyHostToDevice, d.stream));
  float* acc = ex.acc.get<float>(n_tok * D);
  DSINFER_CUDA_CHECK(cudaMemsetAsync(acc, 0, static_cast<size_t>(n_tok * D) * sizeof(float), d.stream));
  float* wf = ex.w.get<float>(3 * I * D);  // gate | up | down, float32
  float* xg = ex.xg.get<float>(most * D);
  float* g = ex.g.get<float>(most * I);
  float* u = ex.u.get<float>(most * I);
  float* y = ex.y.get<float>(most * D);
  const Matrix gate_m{this, I, D, Storage::kF32, wf}, up_m{this, I, D, Storage::kF32, wf + I * D},
      down_m{this, D, I, Storage::kF32, wf + 2 * I * D};
  // Both copy buffers sized once (growing one would free memory a copy in flight uses).
  int64_t most_bytes = 0;
  for (const ExpertJob& j : jobs)
    most_bytes =
        std::max<int64_t>(most_bytes, static_cast<int64_t>(sent_bytes(*j.gate) + sent_bytes(*j.up) + sent_bytes(*j.down)));
  uint8_t* staged[2] = {ex.raw_host[0].get<uint8_t>(most_bytes), ex.raw_host[1].get<uint8_t>(most_bytes)};
  uint8_t* raw_dev[2] = {ex.raw_dev[0].get<uint8_t>(most_bytes), ex.raw_dev[1].get<uint8_t>(most_bytes)};
  off = 0;
  for (size_t k = 0; k < jobs.size(); ++k) {
    const ExpertJob& j = jobs[k];
    const int b = static_cast<int>(k % 2);
    const TensorView* ws[3] = {j.gate, j.up, j.down};
    uint8_t* raw = raw_dev[b];
    // Copy stream: once job k-2 has dequantized out of raw_dev[b], bring this job's three matrices in —
    // straight from pinned memory, or through staging that the pool fills while the GPU works.
    if (k >= 2) DSINFER_CUDA_CHECK(cudaStreamWaitEvent(ex.copy_stream, ex.consumed[b], 0));
    bool staging_free = k < 2;
    uint64_t at = 0;
    std::vector<const TensorView*> to_stage;
    std::vector<uint64_t> stage_at;
    for (const TensorView* w : ws) {
      if (!host_deinterleaves(w->dtype) && d.pinned(w->data, sent_bytes(*w))) {
        DSINFER_CUDA_CHECK(cudaMemcpyAsync(raw + at, w->data, sent_bytes(*w), cudaMemcpyHostToDevice, ex.copy_stream));
      } else {
        to_stage.push_back(w);
        stage_at.push_back(at);
      }
      at += sent_bytes(*w);
    }
    if (!to_stage.empty()) {
      if (!staging_free) DSINFER_CUDA_CHECK(cudaEventSynchronize(ex.copied[b]));  // job k-2's copy out of it is done
      stage(pool, to_stage, staged[b]);
      uint64_t s_at = 0;
      for (size_t i = 0; i < to_stage.size(); ++i) {
        DSINFER_CUDA_CHECK(cudaMemcpyAsync(raw + stage_at[i], staged[b] + s_at, sent_bytes(*to_stage[i]),
                                           cudaMemcpyHostToDevice, ex.copy_stream));
        s_at += sent_bytes(*to_stage[i]);
      }
    }
    DSINFER_CUDA_CHECK(cudaEventRecord(ex.copied[b], ex.copy_stream));
    // Compute stream: dequantize once the copy is in, free the buffer, run the job.
    DSINFER_CUDA_CHECK(cudaStreamWaitEvent(d.stream, ex.copied[b], 0));
    at = 0;
    float* dst = wf;
    for (const TensorView* w : ws) {
      launch_dequant(sent_form(w->dtype), raw + at, dst, w->rows(), w->cols(), sent_row_bytes(*w), d.stream);
      at += sent_bytes(*w);
      dst += w->rows() * w->cols();
    }
    DSINFER_CUDA_CHECK(cudaEventRecord(ex.consumed[b], d.stream));
    if (j.n > 0) {
      gather_rows_kernel<<<blocks_for(j.n * D), kThreads, 0, d.stream>>>(dx, tokens + off, xg, j.n, D);
      DSINFER_CUDA_CHECK(cudaGetLastError());
      d.gemm(gate_m, 0, I, xg, D, j.n, g, I);
      d.gemm(up_m, 0, I, xg, D, j.n, u, I);
      silu_mul_kernel<<<blocks_for(j.n * I), kThreads, 0, d.stream>>>(g, u, j.n * I);
      DSINFER_CUDA_CHECK(cudaGetLastError());
      d.gemm(down_m, 0, D, g, I, j.n, y, D);
      scatter_add_kernel<<<blocks_for(j.n * D), kThreads, 0, d.stream>>>(acc, tokens + off, weights + off, y, j.n, D);
      DSINFER_CUDA_CHECK(cudaGetLastError());
    }
    off += j.n;
  }
  float* host_out = d.mm.host_out.get<float>(n_tok * D);
  DSINFER_CUDA_CHECK(cudaMemcpyAsync(host_out, acc, static_cast<size_t>(n_tok * D) * sizeof(float),
                                     cudaMemcpyDeviceToHost, d.stream));
  DSINFER_CUDA_CHECK(cudaStreamSynchronize(d.stream));
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t i = 0; i < D; ++i) out[t * ldo + i] += host_out[t * D + i];
  ++d.stats.calls;
  d.stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace dsinfer::gpu
