#include "kernels/cuda/gpu.h"

#include "util/error.h"

namespace dsinfer::gpu {

const char* storage_name(Storage s) { return s == Storage::kF32 ? "f32" : "bf16"; }

uint64_t storage_bytes(Storage s) { return s == Storage::kF32 ? 4 : 2; }

Storage parse_storage(const std::string& s) {
  if (s == "f32") return Storage::kF32;
  if (s == "bf16") return Storage::kBF16;
  fail("GPU weight dtype '", s, "': expected f32 or bf16");
}

}  // namespace dsinfer::gpu
