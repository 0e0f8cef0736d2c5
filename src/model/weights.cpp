#include "model/weights.h"

namespace dsinfer {

std::vector<WeightRef> weight_views(ModelWeights& w) {
  std::vector<WeightRef> out;
  auto add = [&](TensorView& t, WeightUse use) {
    if (t.data) out.push_back({&t, use});
  };
  add(w.embed, WeightUse::kRowLookup);
  for (auto& L : w.layers) {
    auto& a = L.attn;
    for (TensorView* t : {&a.q_proj, &a.q_a_proj, &a.q_b_proj, &a.kv_a_proj, &a.o_proj}) add(*t, WeightUse::kMatmul);
    for (TensorView* t : {&a.kv_b_proj, &a.k_b, &a.v_b}) add(*t, WeightUse::kPerHead);
    for (MlpWeights* m : {&L.dense, &L.moe.shared}) {
      add(m->gate, WeightUse::kMatmul);
      add(m->up, WeightUse::kMatmul);
      add(m->down, WeightUse::kMatmul);
    }
    add(L.moe.router, WeightUse::kMatmul);
    for (auto& e : L.moe.experts) {
      add(e.gate, WeightUse::kMatmul);
      add(e.up, WeightUse::kMatmul);
      add(e.down, WeightUse::kMatmul);
    }
  }
  add(w.lm_head, WeightUse::kMatmul);
  for (auto& m : w.mtp) {
    add(m.eh_proj, WeightUse::kMatmul);
    if (!m.embed_is_main) add(m.embed, WeightUse::kRowLookup);
    if (!m.head_is_main) add(m.head, WeightUse::kMatmul);
  }
  return out;
}

}  // namespace dsinfer
