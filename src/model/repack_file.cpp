#include "model/repack_file.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "formats/gguf.h"
#include "model/loader.h"
#include "model/repack.h"
#include "tensor/interleave.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/thread_pool.h"
#include "util/timer.h"

namespace dsinfer {
namespace {

// A weight view of the loaded model: where its bytes are and whether the R8 layout serves its use.
struct ViewExtent {
  const uint8_t* begin;
  const uint8_t* end;
  bool fits;
};

// A file tensor is stored in its R8 layout when it has one and every weight view inside it fits that
// layout, starting on a whole row group (a stacked expert tensor [E, rows, K] holds E views).
bool repack_tensor(const TensorView& t, const std::vector<ViewExtent>& views) {
  if (!interleaved_of(t.dtype) || t.rows() % kInterleaveRows != 0) return false;
  const auto* begin = static_cast<const uint8_t*>(t.data);
  const auto* end = begin + t.nbytes;
  const size_t group_bytes = kInterleaveRows * t.row_bytes();
  auto it = std::lower_bound(views.begin(), views.end(), begin,
                             [](const ViewExtent& v, const uint8_t* p) { return v.begin < p; });
  bool any = false;
  for (; it != views.end() && it->begin < end; ++it) {
    if (!it->fits || it->end > end || static_cast<size_t>(it->begin - begin) % group_bytes != 0) return false;
    any = true;
  }
  return any;
}

std::string split_prefix(const std::string& out) {
  return out.size() > 5 && out.compare(out.size() - 5, 5, ".gguf") == 0 ? out.substr(0, out.size() - 5) : out;
}

}  // namespace

RepackFileReport write_repacked_gguf(const std::string& in_path, const std::string& out_path,
                                     const RepackFileOptions& options) {
  Timer timer;
  if (!is_gguf_path(in_path))
    fail(in_path, ": dsinfer repack takes a GGUF file (Hugging Face BF16 / block-FP8 weights have no R8 layout)");
  LoadOptions lo;
  lo.mtp = load_config(in_path).num_nextn_predict_layers > 0;  // the module's weights are repacked too
  const std::unique_ptr<LoadedModel> m = load_model(in_path, lo);

  std::vector<ViewExtent> views;
  for (const WeightRef& r : weight_views(m->weights)) {
    const auto* b = static_cast<const uint8_t*>(r.view->data);
    views.push_back({b, b + r.view->nbytes, r8_layout_fits(r)});
  }
  std::sort(views.begin(), views.end(), [](const ViewExtent& a, const ViewExtent& b) { return a.begin < b.begin; });

  RepackFileReport rep;
  GgufWriter w;
  for (const auto& [key, value] : m->gguf->metadata())
    if (key.rfind("split.", 0) != 0 && key != kLayoutKey) w.add_kv(key, value);
  w.add_kv(kLayoutKey, GgufValue::string(kLayoutR8));

  ThreadPool pool(options.threads);
  uint64_t total = 0, done = 0;
  std::unique_ptr<ProgressBar> bar;
  for (const TensorView& t : m->gguf->tensors()) {
    if (!repack_tensor(t, views)) {
      ++rep.tensors_copied;
      total += t.nbytes;
      w.add_tensor_lazy(t.name, t.dtype, t.shape, [&t, &done, &bar](uint8_t* dst) {
        std::memcpy(dst, t.data, t.nbytes);
        if (bar) bar->update(done += t.nbytes);
      });
      continue;
    }
    const DType r8 = *interleaved_of(t.dtype);
    const size_t out_row = dtype_row_bytes(r8, t.cols());
    ++rep.tensors_repacked;
    rep.bytes_repacked += out_row * static_cast<size_t>(t.rows());
    total += out_row * static_cast<size_t>(t.rows());
    w.add_tensor_lazy(t.name, r8, t.shape, [&t, out_row, &pool, &done, &bar](uint8_t* dst) {
      const int64_t groups = t.rows() / kInterleaveRows;
      pool.parallel_for(groups, [&](int64_t g0, int64_t g1, int) {
        interleave_rows(t.dtype, t.row_ptr(g0 * kInterleaveRows), (g1 - g0) * kInterleaveRows, t.cols(),
                        dst + static_cast<size_t>(g0 * kInterleaveRows) * out_row);
      });
      if (bar) bar->update(done += out_row * static_cast<size_t>(t.rows()));
    });
  }
  rep.tensors_left_out = static_cast<int64_t>(m->gguf->unsupported_tensors().size());
  if (rep.tensors_repacked == 0)
    fail(in_path, ": nothing to repack — no Q4_0 / Q5_0 / Q5_1 / Q8_0 / Q2_K .. Q6_K / IQ4_NL / IQ4_XS / IQ1_S / IQ1_M matmul weights in the file layout",
         " (is it already repacked? `dsinfer info` shows the tensor types)");
  if (options.progress) bar = std::make_unique<ProgressBar>("repacking", total);
  rep.files = options.max_part_bytes > 0 ? w.write_split(split_prefix(out_path), options.max_part_bytes)
                                         : std::vector<std::string>{out_path};
  if (options.max_part_bytes == 0) w.write(out_path);
  if (bar) bar->finish();
  rep.seconds = timer.seconds();
  return rep;
}

}  // namespace dsinfer
