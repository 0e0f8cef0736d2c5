#include "model/gguf_export.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "formats/gguf.h"
#include "tensor/quant.h"
#include "tensor/quant_iq_grid.h"
#include "tensor/tensor.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/thread_pool.h"

namespace dsinfer {
namespace {

// k_b [H, rkv, dn] = W_UK_h^T and v_b [H, dv, rkv] = W_UV_h, from kv_b_proj [H*(dn+dv), rkv]: per head,
// dn rows of W_UK_h then dv rows of W_UV_h.
void split_kv_b_rows(const ModelConfig& c, const TensorRows& src, const WeightSpec& s, int64_t r0, int64_t n,
                     float* out) {
  const int64_t dn = c.qk_nope_head_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank;
  const std::string kv_b = s.canonical.substr(0, s.canonical.rfind('.')) + ".kv_b_proj";
  if (s.canonical.ends_with(".v_b")) {  // row (h, j) = W_UV_h[j, :]
    for (int64_t r = r0; r < r0 + n; ++r)
      src.canonical_rows(kv_b, false, r / dv * (dn + dv) + dn + r % dv, 1, rkv, out + (r - r0) * rkv);
    return;
  }
  // Row (h, c) of k_b holds W_UK_h[d, c] for d < dn: a column of the head's dn rows, read once per head.
  std::vector<float> head(static_cast<size_t>(dn * rkv));
  int64_t loaded = -1;
  for (int64_t r = r0; r < r0 + n; ++r) {
    const int64_t h = r / rkv, col = r % rkv;
    if (h != loaded) {
      src.canonical_rows(kv_b, false, h * (dn + dv), dn, rkv, head.data());
      loaded = h;
    }
    float* o = out + (r - r0) * dn;
    for (int64_t d = 0; d < dn; ++d) o[d] = head[static_cast<size_t>(d * rkv + col)];
  }
}

void put_model_metadata(GgufWriter& w, const ModelConfig& c, const std::string& name, bool legacy_kv_b) {
  const std::string arch = c.has_dsa() ? "deepseek32" : "deepseek2";  // llama.cpp's names
  const std::string p = arch + ".";
  auto u32 = [&](const std::string& k, int64_t v) { w.add_kv(p + k, GgufValue::uint32(static_cast<uint32_t>(v))); };
  auto f32 = [&](const std::string& k, double v) { w.add_kv(p + k, GgufValue::float32(static_cast<float>(v))); };
  w.add_kv("general.architecture", GgufValue::string(arch));
  w.add_kv("general.name", GgufValue::string(name));
  u32("block_count", gguf_block_count(c));
  if (c.num_nextn_predict_layers > 0) u32("nextn_predict_layers", c.num_nextn_predict_layers);
  u32("context_length", c.max_position_embeddings);
  u32("embedding_length", c.hidden_size);
  u32("feed_forward_length", c.intermediate_size);
  u32("attention.head_count", c.num_attention_heads);
  // Current llama.cpp files store MLA as MQA over the latent (one KV head of 576 = rkv + dr values, the
  // per-head sizes in *_mla); legacy files describe the decompressed per-head K and V.
  u32("attention.head_count_kv", legacy_kv_b ? c.num_attention_heads : 1);
  f32("attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  f32("rope.freq_base", c.rope_theta);
  u32("rope.dimension_count", c.qk_rope_head_dim);
  if (c.rope.yarn) {
    w.add_kv(p + "rope.scaling.type", GgufValue::string("yarn"));
    f32("rope.scaling.factor", c.rope.factor);
    u32("rope.scaling.original_context_length", c.rope.original_max_position);
    f32("rope.scaling.yarn_log_multiplier", 0.1 * c.rope.mscale_all_dim);
    f32("rope.scaling.yarn_beta_fast", c.rope.beta_fast);
    f32("rope.scaling.yarn_beta_slow", c.rope.beta_slow);
  }
  u32("leading_dense_block_count", c.first_k_dense_replace);
  u32("vocab_size", c.vocab_size);
  if (c.q_lora_rank > 0) u32("attention.q_lora_rank", c.q_lora_rank);
  u32("attention.kv_lora_rank", c.kv_lora_rank);
  if (legacy_kv_b) {
    u32("attention.key_length", c.qk_head_dim());
    u32("attention.value_length", c.v_head_dim);
  } else {
    u32("attention.key_length", c.kv_lora_rank + c.qk_rope_head_dim);
    u32("attention.value_length", c.kv_lora_rank);
    u32("attention.key_length_mla", c.qk_head_dim());
    u32("attention.value_length_mla", c.v_head_dim);
  }
  if (c.has_dsa()) {
    u32("attention.indexer.head_count", c.index_n_heads);
    u32("attention.indexer.key_length", c.index_head_dim);
    u32("attention.indexer.top_k", c.index_topk);
  }
  u32("expert_feed_forward_length", c.moe_intermediate_size);
  u32("expert_count", c.n_routed_experts);
  u32("expert_used_count", c.num_experts_per_tok);
  u32("expert_shared_count", c.n_shared_experts);
  f32("expert_weights_scale", c.routed_scaling_factor);
  if (c.norm_topk_prob) w.add_kv(p + "expert_weights_norm", GgufValue::boolean(true));
  u32("expert_gating_func", c.scoring_func == ScoringFunc::kSigmoid ? 2 : 1);
  u32("expert_group_count", c.n_group);
  u32("expert_group_used_count", c.topk_group);
}


}  // namespace

void layout_rows(const ModelConfig& c, const TensorRows& src, const WeightSpec& s, int64_t r0, int64_t n, float* out) {
  if (const TensorView* t = src.layout_tensor(s)) return dequantize_rows(*t, r0, n, out);
  const int64_t cols = s.shape.back();
  const std::string& k = s.canonical;
  if (k.find(".moe.experts.") != std::string::npos && s.shape.size() == 3) {  // GGUF stacked [E, rows, cols]
    const int64_t per = s.shape[1];
    const std::string part = k.substr(k.rfind('.'));  // ".gate" / ".up" / ".down"
    const std::string base = k.substr(0, k.rfind('.'));
    for (int64_t r = r0; r < r0 + n;) {
      const int64_t e = r / per, take = std::min(r0 + n, (e + 1) * per) - r;
      src.canonical_rows(cat(base, ".", e, part), false, r % per, take, cols, out + (r - r0) * cols);
      r += take;
    }
    return;
  }
  if (k.ends_with(".attn.k_b") || k.ends_with(".attn.v_b")) return split_kv_b_rows(c, src, s, r0, n, out);
  src.canonical_rows(k, s.is_vector, r0, n, cols, out);
}

void encode_tensor(ThreadPool& pool, const ModelConfig& c, const TensorRows& src, const WeightSpec& s, DType t,
                   uint8_t* dst, bool random_grid_codes) {
  const int64_t cols = s.shape.back();
  const bool random_codes = random_grid_codes && dtype_is_iq_grid(t);
  uint64_t name_seed = 0xcbf29ce484222325ull;  // FNV-1a of the name: the same codes on every platform
  for (const char ch : s.file_name) name_seed = (name_seed ^ static_cast<uint8_t>(ch)) * 0x100000001b3ull;
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < s.shape.size(); ++i) rows *= s.shape[i];
  const size_t row_bytes = dtype_row_bytes(t, cols);
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> buf(static_cast<size_t>(cols * 64));
    for (int64_t r = r0; r < r1; r += 64) {
      const int64_t n = std::min<int64_t>(64, r1 - r);
      layout_rows(c, src, s, r, n, buf.data());
      for (int64_t i = 0; i < n; ++i) {
        const float* row = buf.data() + i * cols;
        uint8_t* out = dst + (r + i) * row_bytes;
        if (!random_codes) {
          quantize_row(t, row, out, cols);
          continue;
        }
        double ss = 0;  // random codes at the drawn row's scale
        for (int64_t k = 0; k < cols; ++k) ss += static_cast<double>(row[k]) * row[k];
        iq_grid_random_row(t, static_cast<float>(std::sqrt(ss / static_cast<double>(cols))),
                           name_seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(r + i), out, cols);
      }
    }
  }, 64);
}

namespace {

// The type llama_tensor_get_type picks for spec's tensor in `mix` (model/llama_mix.h), before the fallback.
DType mix_type(const WeightSpec& s, DType want, LlamaMix mix, int64_t n_blocks) {
  using M = LlamaMix;
  const std::string& f = s.file_name;
  if (dtype_is_iq_grid(want))  // (synth only) the routed experts; see llama_mix.h
    return f.find("_exps.") != std::string::npos ? want : f == "output.weight" ? DType::Q6_K : DType::Q4_K;
  if (mix == M::kNone) return want;
  if (f == "output.weight") return DType::Q6_K;
  const int64_t i = s.layer, n = n_blocks;  // ffn_down's layer from its name; attn_kv_b's count = its layer
  const bool more_bits = i >= 0 && (i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2);
  const bool k_m = mix == M::kQ4_K_M || mix == M::kQ5_K_M;
  if (f.find("attn_kv_b.weight") != std::string::npos) {  // the attn_v category (n_gqa = 1 in this layout)
    if (mix == M::kQ2_K) return DType::Q3_K;
    if (mix == M::kQ3_K_M) return i < 2 ? DType::Q5_K : DType::Q4_K;
    if (mix == M::kQ3_K_L) return DType::Q5_K;
    if (k_m && more_bits) return DType::Q6_K;
  } else if (f.find("attn_output.weight") != std::string::npos) {
    if (mix == M::kQ2_K) return DType::Q3_K;
    if (mix == M::kQ3_K_M) return DType::Q4_K;
    if (mix == M::kQ3_K_L) return DType::Q5_K;
  } else if (f.find("ffn_down") != std::string::npos) {
    if (mix == M::kQ2_K) return DType::Q3_K;
    if (mix == M::kQ3_K_M) return i < n / 16 ? DType::Q5_K : DType::Q4_K;
    if (mix == M::kQ3_K_L) return DType::Q5_K;
    if (k_m && more_bits) return DType::Q6_K;
    if ((mix == M::kIQ4_NL || mix == M::kIQ4_XS) && i < n / 8) return DType::Q5_K;  // (no imatrix)
  }
  return want;
}

}  // namespace

DType gguf_dtype_for(const WeightSpec& s, DType want, LlamaMix mix, int64_t n_blocks) {
  if (s.is_vector || !s.quantizable) return DType::F32;
  want = mix_type(s, want, mix, n_blocks);
  const int64_t cols = s.shape.back();
  if (cols % dtype_block_elems(want) == 0) return want;
  if (cols % 32 != 0 || !dtype_is_block_quant(want)) return DType::F16;
  if (want == DType::Q4_K) return DType::Q5_0;
  if (want == DType::Q5_K) return DType::Q5_1;
  if (want == DType::Q2_K || want == DType::Q3_K) return DType::Q4_0;
  if (want == DType::IQ4_XS || dtype_is_iq_grid(want)) return DType::IQ4_NL;
  return DType::Q8_0;
}

std::vector<std::string> write_gguf_model(const ModelConfig& config, const TensorRows& src, const GgufExportOptions& o,
                                          std::vector<std::pair<std::string, GgufValue>> extra_keys,
                                          const std::string& path) {
  if (o.dtype == DType::F8_E4M3) fail("GGUF has no block-FP8 type");
  if (o.mix != LlamaMix::kNone && mix_base(o.mix) != o.dtype)
    fail("the ", mix_name(o.mix), " mix is made around ", dtype_name(mix_base(o.mix)), ", not ", dtype_name(o.dtype));

  ModelConfig c = config;
  if (!o.mtp) c.num_nextn_predict_layers = 0;
  std::vector<WeightSpec> specs =
      weight_specs(c, o.legacy_kv_b ? WeightLayout::kGgufLegacyKvB : WeightLayout::kGguf, o.mtp);
  // The MTP module's copies of the embedding and head are left out, as llama.cpp's converter does (the
  // loader reads the main ones).
  std::erase_if(specs, [&](const WeightSpec& s) {
    return s.optional && (s.canonical.ends_with(".mtp.embed") || s.canonical.ends_with(".mtp.head") || !src.has(s));
  });

  GgufWriter w;
  put_model_metadata(w, c, o.name, o.legacy_kv_b);
  for (auto& kv : extra_keys) w.add_kv(kv.first, std::move(kv.second));
  w.add_kv("general.quantization_version", GgufValue::uint32(2));  // GGML_QNT_VERSION, as llama-quantize
  w.add_kv("general.file_type", GgufValue::uint32(llama_file_type({o.dtype, o.mix})));
  ThreadPool pool(o.threads);
  uint64_t total = 0, done = 0;
  std::unique_ptr<ProgressBar> bar;
  for (const WeightSpec& s : specs) {
    const DType t = gguf_dtype_for(s, o.dtype, o.mix, gguf_block_count(c));
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < s.shape.size(); ++i) rows *= s.shape[i];
    const uint64_t bytes = static_cast<uint64_t>(rows) * dtype_row_bytes(t, s.shape.back());
    total += bytes;
    if (const TensorView* same = src.layout_tensor(s); same && same->dtype == t && same->nbytes == bytes) {
      w.add_tensor_lazy(s.file_name, t, s.shape, [same, bytes, &done, &bar](uint8_t* dst) {
        std::memcpy(dst, same->data, bytes);  // already in the written type: no requantization
        if (bar) bar->update(done += bytes);
      });
      continue;
    }
    if (dtype_is_iq_grid(t) && !o.random_grid_codes)
      fail(s.file_name, ": dsinfer cannot quantize to ", dtype_name(t), " (it reads llama.cpp's files of this type; "
           "llama.cpp makes them with an importance matrix)");
    w.add_tensor_lazy(s.file_name, t, s.shape, [&pool, &c, &src, s, t, bytes, &done, &bar, &o](uint8_t* dst) {
      encode_tensor(pool, c, src, s, t, dst, o.random_grid_codes);
      if (bar) bar->update(done += bytes);
    });
  }
  if (o.progress) bar = std::make_unique<ProgressBar>("writing", total);
  std::vector<std::string> files;
  if (o.max_part_bytes > 0) {
    files = w.write_split(path.ends_with(".gguf") ? path.substr(0, path.size() - 5) : path, o.max_part_bytes);
  } else {
    w.write(path);
    files = {path};
  }
  if (bar) bar->finish();
  return files;
}

}  // namespace dsinfer
