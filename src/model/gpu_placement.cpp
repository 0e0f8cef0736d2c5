#include "model/gpu_placement.h"

#include <algorithm>

#include "util/error.h"
#include "util/thread_pool.h"
#include "util/timer.h"

namespace dsinfer {

namespace {

void add(std::vector<TensorView*>& out, TensorView& v) {
  if (v.data) out.push_back(&v);
}

void add_mlp(std::vector<TensorView*>& out, MlpWeights& m) {
  if (!m.present()) return;
  add(out, m.gate);
  add(out, m.up);
  add(out, m.down);
}

}  // namespace

std::vector<TensorView*> gpu_weight_views(ModelWeights& w) {
  std::vector<TensorView*> out;
  for (LayerWeights& l : w.layers) {
    MlaWeights& a = l.attn;
    for (TensorView* v : {&a.q_proj, &a.q_a_proj, &a.q_b_proj, &a.kv_a_proj, &a.o_proj, &a.indexer.wq_b,
                          &a.indexer.wk, &a.indexer.weights_proj})
      add(out, *v);
    add_mlp(out, l.dense);
    add_mlp(out, l.moe.shared);
  }
  add(out, w.lm_head);
  for (MtpWeights& m : w.mtp) {
    add(out, m.eh_proj);
    if (!m.head_is_main) add(out, m.head);
  }
  return out;
}

uint64_t gpu_reserve_bytes(uint64_t total_bytes) {
  return (uint64_t{1} << 30) + total_bytes / 20;  // 1 GiB + 5 %
}

GpuPlacement place_on_gpu(ModelWeights& w, ThreadPool& pool, const GpuOptions& options) {
  Timer timer;
  GpuPlacement p;
  p.device = std::make_unique<gpu::Device>(options.device);
  const gpu::DeviceInfo& info = p.device->info();
  const std::vector<TensorView*> views = gpu_weight_views(w);
  uint64_t values = 0;
  for (const TensorView* v : views) values += static_cast<uint64_t>(v->numel());
  const uint64_t free_b = p.device->free_bytes(), reserve = gpu_reserve_bytes(info.total_bytes);
  const uint64_t room = free_b > reserve ? free_b - reserve : 0;
  const auto need = [&](gpu::Storage s) { return values * gpu::storage_bytes(s); };
  if (options.dtype == "auto") {
    p.storage = need(gpu::Storage::kF32) <= room ? gpu::Storage::kF32 : gpu::Storage::kBF16;
  } else {
    p.storage = gpu::parse_storage(options.dtype);
  }
  if (need(p.storage) > room)
    fail("GPU ", info.index, " (", info.name, "): the ", views.size(), " weights placed there need ",
         need(p.storage) / 1e9, " GB as ", gpu::storage_name(p.storage), ", but only ", room / 1e9, " GB of its ",
         free_b / 1e9, " GB free can hold weights (", reserve / 1e9, " GB kept for activations)",
         p.storage == gpu::Storage::kF32 ? "; --gpu-dtype bf16 halves it" : "");
  for (TensorView* v : views) {
    v->gpu = with_context(cat("placing '", v->name, "' on the GPU"),
                          [&] { return p.device->upload(pool, *v, p.storage); });
    ++p.tensors;
    p.file_bytes += v->nbytes;
  }
  for (MtpWeights& m : w.mtp)
    if (m.head_is_main) m.head = w.lm_head;  // the view follows the main head onto the GPU
  if (options.expert_tokens > 0) {
    for (LayerWeights& l : w.layers) {
      if (l.moe.experts.empty()) continue;
      const TensorView* refused = nullptr;
      for (const MlpWeights& e : l.moe.experts)
        for (const TensorView* v : {&e.gate, &e.up, &e.down})
          if (!refused && !gpu::Device::can_stream(v->dtype)) refused = v;
      if (refused) {
        if (p.not_streamed.empty())
          p.not_streamed = cat("'", refused->name, "' is ", dtype_name(refused->dtype),
                               " (the GPU dequantizes the float types and the GGML block types)");
        continue;
      }
      l.moe.stream_gpu = p.device.get();
      l.moe.stream_from_tokens = options.expert_tokens;
      ++p.streamed_layers;
    }
  }
  p.device_bytes = p.device->bytes_uploaded();
  p.seconds = timer.seconds();
  return p;
}

}  // namespace dsinfer
