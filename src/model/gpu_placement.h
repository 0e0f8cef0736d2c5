#pragma once
// Hybrid CPU+GPU placement: the weights every token reads — attention's projections, the dense layers'
// MLPs, the shared experts, the output head (and the MTP module's) — are copied to one GPU, so the CPU's
// memory bandwidth goes to the routed experts alone (the split KTransformers and llama.cpp's
// `-ngl 99 -ot exps=CPU` use). Kept on the CPU: routed experts, the router (float32, exact routing), the
// embedding (a row lookup), MLA's per-head kv_b and attention over the latent cache.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cuda/gpu.h"
#include "model/weights.h"

namespace dsinfer {

class ThreadPool;

struct GpuOptions {
  bool enabled = false;
  int device = 0;
  // "f32" (the CPU reference path's products), "bf16" (half the memory), or "auto": f32 when it fits in the
  // device's free memory with room for the activations, else bf16.
  std::string dtype = "auto";
  // A batch of at least this many tokens (a prompt chunk) runs the routed experts on the GPU too, their
  // weights streamed over PCIe (the float and GGML block types and their R8 forms; block-FP8 layers keep
  // them on the CPU); 0: never. Decode steps stay below it.
  int64_t expert_tokens = 128;
};

struct GpuPlacement {
  std::unique_ptr<gpu::Device> device;
  gpu::Storage storage = gpu::Storage::kF32;
  int64_t tensors = 0;
  uint64_t device_bytes = 0;  // their size on the GPU
  uint64_t file_bytes = 0;    // their size in the model file: what the CPU no longer reads per token
  double seconds = 0;
  int64_t streamed_layers = 0;  // MoE layers whose routed experts stream to the GPU for large batches
  std::string not_streamed;     // why the other MoE layers' experts do not ("" when all do or none asked)
  uint64_t pinned_bytes = 0;    // repacked weights page-locked so their copies skip the staging buffers
};

// The weights placement moves, in model order (absent ones left out; a view aliasing lm_head once).
std::vector<TensorView*> gpu_weight_views(ModelWeights& w);

// Bytes the memory left free on the device must keep for staging buffers and cuBLAS's workspace.
uint64_t gpu_reserve_bytes(uint64_t total_bytes);

// Uploads gpu_weight_views(w) and points each view's TensorView::gpu at its copy. Throws Error naming the
// sizes when they do not fit, or when there is no usable GPU.
GpuPlacement place_on_gpu(ModelWeights& w, ThreadPool& pool, const GpuOptions& options);

}  // namespace dsinfer
