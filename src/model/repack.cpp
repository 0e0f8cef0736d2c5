#include "model/repack.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "tensor/interleave.h"
#include "tensor/quant.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/thread_pool.h"
#include "util/timer.h"

namespace dsinfer {
namespace {

// The R8 dtype a weight is repacked into: its own interleaved form, or for Q5_0 Q8_0's (the same values
// exactly, 34 instead of 22 bytes per block: the Q8_0_R8 kernels run 1.8-2.3x faster than Q5_0's).
std::optional<DType> repack_target(DType t) {
  if (t == DType::Q5_0) return DType::Q8_0_R8;
  return interleaved_of(t);
}

bool eligible(const WeightRef& r) {
  const TensorView& t = *r.view;
  return r.use == WeightUse::kMatmul && repack_target(t.dtype) && t.shape.size() == 2 && t.rows() > 0 &&
         t.rows() % kInterleaveRows == 0;
}

size_t repacked_bytes(const TensorView& t) {
  return static_cast<size_t>(t.rows()) * dtype_row_bytes(*repack_target(t.dtype), t.cols());
}

// Writes t's rows, repacked, at dst.
void repack_tensor(const TensorView& t, uint8_t* dst) {
  if (t.dtype != DType::Q5_0) return interleave_rows(t.dtype, static_cast<const uint8_t*>(t.data), t.rows(), t.cols(), dst);
  const size_t in_row = t.row_bytes(), out_row = dtype_row_bytes(DType::Q8_0, t.cols());
  std::vector<uint8_t> q8(kInterleaveRows * out_row);  // one row group as Q8_0, then interleaved
  for (int64_t r0 = 0; r0 < t.rows(); r0 += kInterleaveRows) {
    for (int64_t i = 0; i < kInterleaveRows; ++i)
      q5_0_to_q8_0(static_cast<const uint8_t*>(t.data) + (r0 + i) * in_row, q8.data() + i * out_row, t.cols());
    interleave_rows(DType::Q8_0, q8.data(), kInterleaveRows, t.cols(), dst + r0 * out_row);
  }
}

}  // namespace

RepackPlan plan_repack(ModelWeights& w) {
  RepackPlan plan;
  for (const WeightRef& r : weight_views(w))
    if (eligible(r)) {
      ++plan.tensors;
      plan.bytes += repacked_bytes(*r.view);
    }
  return plan;
}

uint64_t default_repack_limit() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return UINT64_MAX;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 4 * 3;
}

RepackReport repack_weights(ModelWeights& w, std::unique_ptr<AnonBuffer>& storage, bool progress,
                            uint64_t max_bytes) {
  Timer timer;
  RepackReport rep;
  std::vector<TensorView*> todo;
  std::vector<size_t> offset, out_bytes;  // where each goes, and its size in the R8 dtype
  uint64_t total = 0;
  for (const WeightRef& r : weight_views(w)) {
    if (!eligible(r)) continue;
    const TensorView& t = *r.view;
    todo.push_back(r.view);
    offset.push_back(total);
    out_bytes.push_back(repacked_bytes(t));
    total += (out_bytes.back() + 63) / 64 * 64;  // 64-byte aligned starts
  }
  if (todo.empty()) return rep;
  if (total > max_bytes) {
    rep.skipped = cat(total / 1e9, " GB of weights to repack exceed the limit of ", max_bytes / 1e9,
                      " GB (3/4 of RAM); they stay in the file mapping");
    return rep;
  }
  try {
    storage = std::make_unique<AnonBuffer>(total);
  } catch (const Error& e) {
    rep.skipped = cat(e.what(), "; the weights stay in the file mapping");
    return rep;
  }

  // Tensors go to threads dynamically (experts are small, lm_head is large); worker 0 draws the bar.
  std::unique_ptr<ProgressBar> bar = progress ? std::make_unique<ProgressBar>("repacking", total) : nullptr;
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done{0};
  ThreadPool pool(0);
  pool.run_on_all([&](int tid) {
    for (size_t i; (i = next.fetch_add(1)) < todo.size();) {
      TensorView& t = *todo[i];
      uint8_t* dst = storage->data() + offset[i];
      repack_tensor(t, dst);
      release_file_pages(t.data, t.nbytes);
      done += out_bytes[i];
      if (tid == 0 && bar) bar->update(done.load());
    }
  });
  if (bar) bar->finish();
  for (size_t i = 0; i < todo.size(); ++i) {
    todo[i]->dtype = *repack_target(todo[i]->dtype);
    todo[i]->data = storage->data() + offset[i];
    todo[i]->nbytes = out_bytes[i];
    rep.bytes += out_bytes[i];
  }
  rep.tensors = static_cast<int64_t>(todo.size());
  rep.seconds = timer.seconds();
  return rep;
}

}  // namespace dsinfer
