#include <nlohmann/json.hpp>

#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "model/v4_weights.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {

V4Model::V4Model() = default;
V4Model::~V4Model() = default;

bool is_v4_model_dir(const std::string& path) {
  const std::string cfg = path + "/config.json";
  if (!is_directory(path) || !file_exists(cfg)) return false;
  try {
    return is_v4_model_type(read_json_file(cfg));
  } catch (const Error&) {
    return false;  // the regular loader reports the broken file
  }
}

namespace {

// Tensors by their release name, with or without transformers' `model.` prefix, shapes checked.
class V4Tensors {
 public:
  V4Tensors(const SafetensorsModel& st, const std::string& where) : st_(st), where_(where) {}

  // The first of `names` the checkpoint has (each also tried behind "model."), or an Error naming the first.
  TensorView matrix(std::initializer_list<std::string> names, std::vector<int64_t> shape, uint64_t* bytes) const {
    const std::string name = resolve(names);
    TensorView v = st_.tensor(name);
    if (v.shape != shape)
      fail(where_, ": tensor '", name, "': expected shape ", shape_str(shape), " got ", shape_str(v.shape));
    if (v.dtype == DType::F8_E4M3) {
      const std::string sname = name + "_scale_inv";
      const TensorView* sc = st_.find_tensor(sname);
      const std::vector<int64_t> want = {(v.rows() + kFp8BlockSize - 1) / kFp8BlockSize,
                                         (v.cols() + kFp8BlockSize - 1) / kFp8BlockSize};
      if (!sc || sc->dtype != DType::F32 || sc->shape != want)
        fail(where_, ": fp8 tensor '", name, "' needs an f32 '", sname, "' of shape ", shape_str(want));
      v.block_scale = static_cast<const float*>(sc->data);
    }
    *bytes += v.nbytes;
    return v;
  }
  std::vector<float> vector(std::initializer_list<std::string> names, std::vector<int64_t> shape) const {
    uint64_t unused = 0;
    return to_f32(matrix(names, std::move(shape), &unused));
  }
  std::vector<int64_t> integers(const std::string& name, const std::vector<int64_t>& shape) const {
    std::vector<int64_t> got_shape;
    std::vector<int64_t> v = st_.int_tensor(resolve({name}), &got_shape);
    if (got_shape != shape)
      fail(where_, ": tensor '", name, "': expected shape ", shape_str(shape), " got ", shape_str(got_shape));
    return v;
  }

 private:
  std::string resolve(std::initializer_list<std::string> names) const {
    for (const std::string& n : names) {
      if (st_.has_tensor(n)) return n;
      if (st_.has_tensor("model." + n)) return "model." + n;
    }
    fail(where_, ": missing tensor '", *names.begin(), "'");
  }
  const SafetensorsModel& st_;
  std::string where_;
};

V4CompressorWeights load_compressor(const V4Tensors& t, const std::string& p, int64_t D, int64_t width, int64_t c,
                                    int64_t rate, uint64_t* bytes) {
  V4CompressorWeights w;
  w.wkv = t.matrix({p + "wkv.weight"}, {c * width, D}, bytes);
  w.wgate = t.matrix({p + "wgate.weight"}, {c * width, D}, bytes);
  w.ape = t.vector({p + "ape"}, {rate, c * width});
  w.norm = t.vector({p + "norm.weight", p + "kv_norm.weight"}, {width});
  return w;
}

V4HyperWeights load_hyper(const V4Tensors& t, const std::string& fn, const std::string& base,
                          const std::string& scale, int64_t mix, int64_t n_scale, int64_t width, uint64_t* bytes) {
  V4HyperWeights w;
  w.fn = t.matrix({fn}, {mix, width}, bytes);
  w.base = t.vector({base}, {mix});
  w.scale = t.vector({scale}, {n_scale});
  return w;
}

MlpWeights load_mlp(const V4Tensors& t, const std::string& p, int64_t D, int64_t I, uint64_t* bytes) {
  MlpWeights m;
  m.gate = t.matrix({p + "w1.weight"}, {I, D}, bytes);
  m.down = t.matrix({p + "w2.weight"}, {D, I}, bytes);
  m.up = t.matrix({p + "w3.weight"}, {I, D}, bytes);
  return m;
}

void load_layer(const V4Tensors& t, const V4Config& c, int64_t l, V4LayerWeights& w, uint64_t* bytes) {
  const std::string p = cat("layers.", l, ".");
  const int64_t D = c.hidden_size, n = c.hc_mult, H = c.num_attention_heads, Dh = c.head_dim;
  w.attn_norm = t.vector({p + "attn_norm.weight"}, {D});
  w.ffn_norm = t.vector({p + "ffn_norm.weight"}, {D});
  const int64_t mix = (2 + n) * n;
  w.hc_attn = load_hyper(t, p + "hc_attn_fn", p + "hc_attn_base", p + "hc_attn_scale", mix, 3, n * D, bytes);
  w.hc_ffn = load_hyper(t, p + "hc_ffn_fn", p + "hc_ffn_base", p + "hc_ffn_scale", mix, 3, n * D, bytes);

  V4AttentionWeights& a = w.attn;
  const std::string ap = p + "attn.";
  a.wq_a = t.matrix({ap + "wq_a.weight"}, {c.q_lora_rank, D}, bytes);
  a.q_norm = t.vector({ap + "q_norm.weight"}, {c.q_lora_rank});
  a.wq_b = t.matrix({ap + "wq_b.weight"}, {H * Dh, c.q_lora_rank}, bytes);
  a.wkv = t.matrix({ap + "wkv.weight"}, {Dh, D}, bytes);
  a.kv_norm = t.vector({ap + "kv_norm.weight", ap + "norm.weight"}, {Dh});
  a.wo_a = t.matrix({ap + "wo_a.weight"}, {c.o_groups * c.o_lora_rank, H * Dh / c.o_groups}, bytes);
  a.wo_b = t.matrix({ap + "wo_b.weight"}, {D, c.o_groups * c.o_lora_rank}, bytes);
  a.sinks = t.vector({ap + "attn_sink"}, {H});
  const V4Attention type = c.layer_types[static_cast<size_t>(l)];
  if (type != V4Attention::kSliding) {
    const bool csa = type == V4Attention::kCompressedSparse;
    a.compressor = load_compressor(t, ap + "compressor.", D, Dh, csa ? 2 : 1, c.compress_rate(l), bytes);
    if (csa) {
      const std::string ip = ap + "indexer.";
      a.indexer.keys = load_compressor(t, ip + "compressor.", D, c.index_head_dim, 2, c.compress_rate(l), bytes);
      a.indexer.wq_b = t.matrix({ip + "wq_b.weight"}, {c.index_n_heads * c.index_head_dim, c.q_lora_rank}, bytes);
      a.indexer.weights_proj = t.matrix({ip + "weights_proj.weight"}, {c.index_n_heads, D}, bytes);
    }
  }

  V4MoeWeights& m = w.moe;
  const std::string fp = p + "ffn.";
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok, Ie = c.moe_intermediate_size;
  m.router = t.matrix({fp + "gate.weight"}, {E, D}, bytes);
  if (c.mlp_layer_types[static_cast<size_t>(l)] == V4Router::kHash) {
    const std::vector<int64_t> ids = t.integers(fp + "gate.tid2eid", {c.vocab_size, K});
    m.tid2eid.reserve(ids.size());
    for (int64_t e : ids) {
      if (e < 0 || e >= E) fail("layer ", l, ": tid2eid holds expert ", e, " of ", E);
      m.tid2eid.push_back(static_cast<int32_t>(e));
    }
  } else {
    m.bias = t.vector({fp + "gate.bias", fp + "gate.e_score_correction_bias"}, {E});
  }
  m.experts.reserve(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) m.experts.push_back(load_mlp(t, cat(fp, "experts.", e, "."), D, Ie, bytes));
  if (c.n_shared_experts > 0) m.shared = load_mlp(t, fp + "shared_experts.", D, Ie * c.n_shared_experts, bytes);
}

}  // namespace

std::unique_ptr<V4Model> load_v4_model(const std::string& path) {
  auto m = std::make_unique<V4Model>();
  m->path = path;
  const std::string cfg = path + "/config.json";
  if (!file_exists(cfg)) fail(path, ": no config.json in the model directory");
  m->config = with_context(cfg, [&] { return v4_config_from_hf_json(read_json_file(cfg), cfg); });
  m->files = SafetensorsModel::open_dir(path);
  const V4Config& c = m->config;
  const V4Tensors t(*m->files, path);
  const int64_t D = c.hidden_size, n = c.hc_mult;
  uint64_t* bytes = &m->weight_bytes;
  V4Weights& w = m->weights;
  w.embed = t.matrix({"embed.weight", "embed_tokens.weight"}, {c.vocab_size, D}, bytes);
  w.head = t.matrix({"head.weight", "lm_head.weight"}, {c.vocab_size, D}, bytes);
  w.norm = t.vector({"norm.weight"}, {D});
  w.hc_head.fn = t.matrix({"hc_head_fn", "hc_head.hc_fn"}, {n, n * D}, bytes);
  w.hc_head.base = t.vector({"hc_head_base", "hc_head.hc_base"}, {n});
  w.hc_head.scale = t.vector({"hc_head_scale", "hc_head.hc_scale"}, {1});
  w.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) load_layer(t, c, l, w.layers[static_cast<size_t>(l)], bytes);
  return m;
}

}  // namespace dsinfer
