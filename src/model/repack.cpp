#include "model/repack.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "tensor/interleave.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/thread_pool.h"
#include "util/timer.h"

namespace dsinfer {
namespace {

// (A weight placed on the GPU is read there, never by the CPU kernels: it keeps its file layout.)
bool eligible(const WeightRef& r) { return !r.view->gpu && interleaved_of(r.view->dtype) && r8_layout_fits(r); }

size_t repacked_bytes(const TensorView& t) {
  return static_cast<size_t>(t.rows()) * dtype_row_bytes(*interleaved_of(t.dtype), t.cols());
}

}  // namespace

// Matmul weights [rows, K], and the split per-head projections [H, rows, K] (MLA's k_b / v_b) whose heads
// hold whole 8-row groups, so a head's rows are still a range of groups.
bool r8_layout_fits(const WeightRef& r) {
  const TensorView& t = *r.view;
  if (t.rows() <= 0 || t.rows() % kInterleaveRows != 0) return false;
  if (r.use == WeightUse::kMatmul) return t.shape.size() == 2;
  return r.use == WeightUse::kPerHead && t.shape.size() == 3 && t.shape[1] % kInterleaveRows == 0;
}

RepackPlan plan_repack(ModelWeights& w) {
  RepackPlan plan;
  for (const WeightRef& r : weight_views(w))
    if (eligible(r)) {
      ++plan.tensors;
      plan.bytes += repacked_bytes(*r.view);
      plan.growth_bytes += repacked_bytes(*r.view) - r.view->row_bytes() * static_cast<size_t>(r.view->rows());
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
                      " GB (3/4 of RAM); they stay in the file mapping, in the slower file layout (`dsinfer repack` "
                      "stores the fast one in a file once)");
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
      interleave_rows(t.dtype, static_cast<const uint8_t*>(t.data), t.rows(), t.cols(), dst);
      release_file_pages(t.data, t.nbytes);
      done += out_bytes[i];
      if (tid == 0 && bar) bar->update(done.load());
    }
  });
  if (bar) bar->finish();
  for (size_t i = 0; i < todo.size(); ++i) {
    rep.growth_bytes += out_bytes[i] - todo[i]->nbytes;
    todo[i]->dtype = *interleaved_of(todo[i]->dtype);
    todo[i]->data = storage->data() + offset[i];
    todo[i]->nbytes = out_bytes[i];
    rep.bytes += out_bytes[i];
  }
  rep.tensors = static_cast<int64_t>(todo.size());
  rep.seconds = timer.seconds();
  return rep;
}

}  // namespace dsinfer
