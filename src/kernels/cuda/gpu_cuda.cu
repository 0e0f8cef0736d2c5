// The GPU API on CUDA: cuBLAS GEMMs (fp32 accumulation) against weights held as float32 or bfloat16, and
// two small element-wise kernels (float32 -> bfloat16, silu(g) * u). See gpu.h; the streamed experts are in
// gpu_experts.cu, the shared state in gpu_impl.cuh.
#include <chrono>

#include "kernels/cuda/gpu_impl.cuh"
#include "util/thread_pool.h"

namespace dsinfer::gpu {

bool built_with_cuda() { return true; }

std::vector<DeviceInfo> list_devices(std::string* why) {
  std::vector<DeviceInfo> out;
  int n = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess) {
    if (why) *why = cat("no usable CUDA device (", cudaGetErrorString(e), ")");
    cudaGetLastError();  // not sticky; clear it
    return out;
  }
  if (n == 0 && why) *why = "no CUDA device found";
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess || cudaSetDevice(i) != cudaSuccess) continue;
    DeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.cc_major = p.major;
    d.cc_minor = p.minor;
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
      d.free_bytes = free_b;
      d.total_bytes = total_b;
    }
    out.push_back(d);
  }
  return out;
}

Device::Device(int index) : impl_(std::make_unique<Impl>()) {
  std::string why;
  const std::vector<DeviceInfo> all = list_devices(&why);
  if (all.empty()) fail(why);
  if (index < 0 || index >= static_cast<int>(all.size()))
    fail("GPU ", index, " does not exist (", all.size(), " CUDA device", all.size() == 1 ? "" : "s", " found)");
  impl_->info = all[static_cast<size_t>(index)];
  impl_->use();
  DSINFER_CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking));
  DSINFER_CUDA_CHECK(cudaEventCreateWithFlags(&impl_->swiglu_done, cudaEventDisableTiming));
  for (cudaEvent_t& e : impl_->ex.copied) DSINFER_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  for (cudaEvent_t& e : impl_->ex.consumed) DSINFER_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  DSINFER_CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->ex.copy_stream, cudaStreamNonBlocking));
  DSINFER_CUDA_CHECK(cublasCreate(&impl_->blas));
  DSINFER_CUDA_CHECK(cublasSetStream(impl_->blas, impl_->stream));
  // Strict fp32 products for float32 weights (no TF32 rounding of the operands).
  DSINFER_CUDA_CHECK(cublasSetMathMode(impl_->blas, CUBLAS_DEFAULT_MATH));
}

Device::~Device() {
  if (!impl_) return;
  cudaSetDevice(impl_->info.index);
  if (impl_->stream) cudaStreamSynchronize(impl_->stream);
  for (auto& m : impl_->matrices)
    if (m->data) cudaFree(m->data);
  impl_->matrices.clear();
  if (impl_->blas) cublasDestroy(impl_->blas);
  if (impl_->swiglu_done) cudaEventDestroy(impl_->swiglu_done);
  if (impl_->ex.copy_stream) cudaStreamSynchronize(impl_->ex.copy_stream);
  for (cudaEvent_t e : impl_->ex.copied)
    if (e) cudaEventDestroy(e);
  for (cudaEvent_t e : impl_->ex.consumed)
    if (e) cudaEventDestroy(e);
  if (impl_->ex.copy_stream) cudaStreamDestroy(impl_->ex.copy_stream);
  for (const auto& [p, n] : impl_->ex.pinned) cudaHostUnregister(const_cast<uint8_t*>(p));
  if (impl_->stream) cudaStreamDestroy(impl_->stream);
}

const DeviceInfo& Device::info() const { return impl_->info; }

uint64_t Device::free_bytes() const {
  impl_->use();
  size_t free_b = 0, total_b = 0;
  DSINFER_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return free_b;
}

uint64_t Device::bytes_uploaded() const { return impl_->uploaded; }

const Matrix* Device::upload(ThreadPool& pool, const TensorView& w, Storage s) {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  d.use();
  auto m = std::make_unique<Matrix>();
  m->device = this;
  m->rows = w.rows();
  m->cols = w.cols();
  m->storage = s;
  if (const cudaError_t e = cudaMalloc(&m->data, m->bytes()); e != cudaSuccess) {
    cudaGetLastError();
    m->data = nullptr;
    fail("GPU ", d.info.index, " (", d.info.name, "): no room for '", w.name, "' (", m->bytes() / 1e6, " MB as ",
         storage_name(s), "; ", d.uploaded / 1e9, " GB uploaded before it): ", cudaGetErrorString(e));
  }
  d.matrices.push_back(std::move(m));
  Matrix& mat = *d.matrices.back();
  // Dequantize on the host in chunks of ~64 MB of float32, copy, convert on the device when bf16.
  const int64_t K = mat.cols;
  const int64_t chunk = std::max<int64_t>(1, (int64_t{64} << 20) / (K * 4));
  float* host = d.mm.host_in.get<float>(std::min(chunk, mat.rows) * K);
  for (int64_t r0 = 0; r0 < mat.rows; r0 += chunk) {
    const int64_t n = std::min(chunk, mat.rows - r0);
    pool.parallel_for(n, [&](int64_t b, int64_t e, int) { dequantize_rows(w, r0 + b, e - b, host + b * K); }, 16);
    char* dst = static_cast<char*>(mat.data) + r0 * K * static_cast<int64_t>(storage_bytes(s));
    if (s == Storage::kF32) {
      DSINFER_CUDA_CHECK(cudaMemcpyAsync(dst, host, static_cast<size_t>(n * K) * sizeof(float),
                                         cudaMemcpyHostToDevice, d.stream));
    } else {
      float* dx = d.mm.x.get<float>(n * K);
      DSINFER_CUDA_CHECK(cudaMemcpyAsync(dx, host, static_cast<size_t>(n * K) * sizeof(float),
                                         cudaMemcpyHostToDevice, d.stream));
      d.launch_to_bf16(dx, dst, n * K);
    }
    DSINFER_CUDA_CHECK(cudaStreamSynchronize(d.stream));  // the host chunk is reused next
  }
  d.uploaded += mat.bytes();
  return &mat;
}

void Device::matmul(const Matrix& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx, int64_t n_tok,
                    float* y, int64_t ldy) {
  matmul({Product{&w, row0, n_rows, y, ldy}}, x, ldx, n_tok);
}

void Device::matmul(const std::vector<Product>& products, const float* x, int64_t ldx, int64_t n_tok) {
  if (n_tok <= 0 || products.empty()) return;
  const int64_t K = products[0].w->cols;
  const Storage s = products[0].w->storage;
  int64_t total_rows = 0;
  for (const Product& p : products) {
    if (p.row0 < 0 || p.n_rows < 0 || p.row0 + p.n_rows > p.w->rows)
      fail("GPU matmul: rows [", p.row0, ", ", p.row0 + p.n_rows, ") of ", p.w->rows);
    if (p.w->cols != K || p.w->storage != s || p.w->device != this)
      fail("GPU matmul: products of one input need matrices of one width and storage on this device");
    total_rows += p.n_rows;
  }
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  const auto t0 = std::chrono::steady_clock::now();
  d.use();
  Staging& st = d.mm;
  const float* dx = d.upload_input(st, x, ldx, n_tok, K);
  const void* xin = d.as_storage(s, dx, st.x_bf16, n_tok * K);
  float* dy = st.y.get<float>(n_tok * total_rows);  // product i's [n_tok, n_rows_i] blocks one after another
  int64_t off = 0;
  for (const Product& p : products) {
    if (p.n_rows > 0) d.gemm(*p.w, p.row0, p.n_rows, xin, K, n_tok, dy + off, p.n_rows);
    off += n_tok * p.n_rows;
  }
  float* host = st.host_out.get<float>(n_tok * total_rows);
  DSINFER_CUDA_CHECK(cudaMemcpyAsync(host, dy, static_cast<size_t>(n_tok * total_rows) * sizeof(float),
                                     cudaMemcpyDeviceToHost, d.stream));
  DSINFER_CUDA_CHECK(cudaStreamSynchronize(d.stream));
  off = 0;
  for (const Product& p : products) {
    for (int64_t t = 0; t < n_tok; ++t)
      std::memcpy(p.y + t * p.ldy, host + off + t * p.n_rows, static_cast<size_t>(p.n_rows) * sizeof(float));
    off += n_tok * p.n_rows;
  }
  ++d.stats.calls;
  d.stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Device::Stats Device::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

void Device::swiglu_start(const Matrix& gate, const Matrix& up, const Matrix& down, const float* x, int64_t ldx,
                          int64_t n_tok) {
  const int64_t D = gate.cols, I = gate.rows;
  if (up.rows != I || up.cols != D || down.rows != D || down.cols != I || gate.storage != up.storage ||
      up.storage != down.storage)
    fail("GPU swiglu: gate [", I, ", ", D, "], up [", up.rows, ", ", up.cols, "] and down [", down.rows, ", ",
         down.cols, "] do not fit together");
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  if (d.swiglu_pending) fail("GPU swiglu started twice without swiglu_finish");
  d.use();
  Staging& st = d.sw;
  d.swiglu_tok = n_tok;
  d.swiglu_d = D;
  if (n_tok > 0) {
    const float* dx = d.upload_input(st, x, ldx, n_tok, D);
    const void* xin = d.as_storage(gate.storage, dx, st.x_bf16, n_tok * D);
    float* g = st.a.get<float>(n_tok * I);
    float* u = st.b.get<float>(n_tok * I);
    d.gemm(gate, 0, I, xin, D, n_tok, g, I);
    d.gemm(up, 0, I, xin, D, n_tok, u, I);
    silu_mul_kernel<<<blocks_for(n_tok * I), kThreads, 0, d.stream>>>(g, u, n_tok * I);
    DSINFER_CUDA_CHECK(cudaGetLastError());
    const void* h = d.as_storage(down.storage, g, st.a_bf16, n_tok * I);
    float* y = st.y.get<float>(n_tok * D);
    d.gemm(down, 0, D, h, I, n_tok, y, D);
    float* host = st.host_out.get<float>(n_tok * D);
    DSINFER_CUDA_CHECK(cudaMemcpyAsync(host, y, static_cast<size_t>(n_tok * D) * sizeof(float),
                                       cudaMemcpyDeviceToHost, d.stream));
  }
  DSINFER_CUDA_CHECK(cudaEventRecord(d.swiglu_done, d.stream));
  d.swiglu_pending = true;
}

void Device::swiglu_finish(float* out, int64_t ldo, bool accumulate) {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  if (!d.swiglu_pending) fail("GPU swiglu_finish without swiglu_start");
  d.swiglu_pending = false;
  d.use();
  const auto t0 = std::chrono::steady_clock::now();
  DSINFER_CUDA_CHECK(cudaEventSynchronize(d.swiglu_done));
  ++d.stats.calls;
  d.stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (d.swiglu_tok <= 0) return;
  const float* host = static_cast<const float*>(d.sw.host_out.ptr);
  const int64_t D = d.swiglu_d;
  for (int64_t t = 0; t < d.swiglu_tok; ++t) {
    float* o = out + t * ldo;
    const float* h = host + t * D;
    if (accumulate) {
      for (int64_t i = 0; i < D; ++i) o[i] += h[i];
    } else {
      std::memcpy(o, h, static_cast<size_t>(D) * sizeof(float));
    }
  }
}

}  // namespace dsinfer::gpu
