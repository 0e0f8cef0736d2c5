// The GPU API in a build without a CUDA toolkit: nothing to list, and a Device cannot be made.
#include "kernels/cuda/gpu.h"
#include "util/error.h"

namespace dsinfer::gpu {

namespace {
constexpr const char* kNoCuda =
    "this dsinfer was built without CUDA (no CUDA toolkit with cuBLAS was found when it was built)";
}

bool built_with_cuda() { return false; }

std::vector<DeviceInfo> list_devices(std::string* why) {
  if (why) *why = kNoCuda;
  return {};
}

struct Device::Impl {};

Device::Device(int) { fail(kNoCuda); }
Device::~Device() = default;
const DeviceInfo& Device::info() const { fail(kNoCuda); }
uint64_t Device::free_bytes() const { fail(kNoCuda); }
const Matrix* Device::upload(ThreadPool&, const TensorView&, Storage) { fail(kNoCuda); }
uint64_t Device::bytes_uploaded() const { return 0; }
void Device::matmul(const Matrix&, int64_t, int64_t, const float*, int64_t, int64_t, float*, int64_t) { fail(kNoCuda); }
void Device::matmul(const std::vector<Product>&, const float*, int64_t, int64_t) { fail(kNoCuda); }
Device::Stats Device::stats() const { return {}; }
void Device::stream_experts(ThreadPool&, const std::vector<ExpertJob>&, const float*, int64_t, int64_t, float*, int64_t) {
  fail(kNoCuda);
}
bool Device::can_stream(DType) { return false; }
bool Device::pin_host(const void*, uint64_t) { return false; }
std::vector<float> Device::dequantize(ThreadPool&, const TensorView&) { fail(kNoCuda); }
void Device::swiglu_start(const Matrix&, const Matrix&, const Matrix&, const float*, int64_t, int64_t) { fail(kNoCuda); }
void Device::swiglu_finish(float*, int64_t, bool) { fail(kNoCuda); }

}  // namespace dsinfer::gpu
