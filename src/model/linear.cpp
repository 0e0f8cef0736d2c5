#include "model/linear.h"

#include "kernels/cpu/matmul.h"
#include "kernels/cuda/gpu.h"
#include "model/weights.h"

namespace dsinfer {

void linear(ThreadPool& pool, const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
            int64_t n_tok, float* y, int64_t ldy) {
  if (w.gpu) {
    w.gpu->device->matmul(*w.gpu, row0, n_rows, x, ldx, n_tok, y, ldy);
    return;
  }
  matmul(pool, w, row0, n_rows, x, ldx, n_tok, y, ldy);
}

void linear_shared_input(ThreadPool& pool, const std::vector<const TensorView*>& ws, const float* x, int64_t ldx,
                         int64_t n_tok, const std::vector<float*>& ys) {
  std::vector<const TensorView*> cpu;
  std::vector<float*> cpu_ys;
  std::vector<gpu::Device::Product> on_gpu;  // placement puts all of a model's weights on one device
  for (size_t i = 0; i < ws.size(); ++i) {
    if (ws[i]->gpu) {
      on_gpu.push_back({ws[i]->gpu, 0, ws[i]->rows(), ys[i], ws[i]->rows()});
    } else {
      cpu.push_back(ws[i]);
      cpu_ys.push_back(ys[i]);
    }
  }
  if (!on_gpu.empty()) on_gpu[0].w->device->matmul(on_gpu, x, ldx, n_tok);
  if (!cpu.empty()) matmul_shared_input(pool, cpu, x, ldx, n_tok, cpu_ys);
}

bool on_gpu(const MlpWeights& w) { return w.gate.gpu && w.up.gpu && w.down.gpu; }

}  // namespace dsinfer
