#include "model/loader.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "tensor/interleave.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mapped_file.h"
#include "util/progress.h"
#include "util/thread_pool.h"

namespace dsinfer {

LoadedModel::LoadedModel() = default;
LoadedModel::~LoadedModel() = default;

const TensorView* LoadedModel::find_tensor(const std::string& file_name) const {
  if (gguf) return gguf->find_tensor(file_name);
  if (safetensors) return safetensors->find_tensor(file_name);
  return nullptr;
}

bool is_gguf_path(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0 && !is_directory(path);
}

namespace {

// Finds tensors by file name in whichever container the model uses.
struct TensorLookup {
  const GgufFile* gguf = nullptr;
  const SafetensorsModel* st = nullptr;
  std::string where;
  const TensorView* find(const std::string& name) const {
    return gguf ? gguf->find_tensor(name) : st->find_tensor(name);
  }
};

std::string shape_mismatch(const TensorLookup& src, const WeightSpec& s, const TensorView& t) {
  return cat(src.where, ": tensor '", s.file_name, "': expected shape ", shape_str(s.shape), " got ",
             shape_str(t.shape));
}

TensorView get(const TensorLookup& src, const WeightSpec& s) {
  const TensorView* t = src.find(s.file_name);
  if (!t) fail(src.where, ": missing tensor '", s.file_name, "' (", s.canonical, ")");
  if (t->shape != s.shape) throw Error(shape_mismatch(src, s, *t));
  TensorView v = *t;
  if (v.dtype == DType::F8_E4M3) {
    // Block-FP8 (DeepSeek-V3): the scale tensor sits next to the weight as `<name>_scale_inv`.
    const std::string sname = s.file_name + "_scale_inv";
    const TensorView* sc = src.find(sname);
    if (!sc) fail(src.where, ": fp8 tensor '", s.file_name, "' has no '", sname, "'");
    const std::vector<int64_t> want = {(v.rows() + kFp8BlockSize - 1) / kFp8BlockSize,
                                       (v.cols() + kFp8BlockSize - 1) / kFp8BlockSize};
    if (sc->dtype != DType::F32 || sc->shape != want)
      fail(src.where, ": tensor '", sname, "': expected f32 ", shape_str(want), " got ", dtype_name(sc->dtype), " ",
           shape_str(sc->shape));
    v.block_scale = static_cast<const float*>(sc->data);
  }
  return v;
}

std::vector<float> get_vector(const TensorLookup& src, const WeightSpec& s) { return to_f32(get(src, s)); }

// Expert e of a stacked [E, rows, cols] tensor as a [rows, cols] view.
TensorView expert_view(const TensorView& stacked, int64_t e) {
  TensorView v = stacked;
  const int64_t rows = stacked.shape[1];
  v.shape = {rows, stacked.shape[2]};
  v.nbytes = static_cast<size_t>(rows) * v.row_bytes();
  v.data = stacked.row_ptr(e * rows);
  v.name = cat(stacked.name, "[", e, "]");
  return v;
}

// The MTP module's own tensors (layer >= num_hidden_layers, role "mtp.*"); copies of the embedding or
// lm_head a file leaves out are the main model's views.
void assign_mtp(const ModelConfig& c, const TensorLookup& src, const WeightSpec& s, const std::string& role,
                ModelWeights& w) {
  MtpWeights& m = w.mtp[s.layer - c.num_hidden_layers];
  const bool present = src.find(s.file_name) != nullptr;
  if (role == "mtp.embed") {
    m.embed_is_main = !present && s.optional;
    m.embed = m.embed_is_main ? w.embed : get(src, s);
  } else if (role == "mtp.head") {
    m.head_is_main = !present && s.optional;
    m.head = m.head_is_main ? w.lm_head : get(src, s);
  }
  else if (role == "mtp.enorm") m.enorm = get_vector(src, s);
  else if (role == "mtp.hnorm") m.hnorm = get_vector(src, s);
  else if (role == "mtp.eh_proj") m.eh_proj = get(src, s);
  else if (role == "mtp.head_norm") m.head_norm = get_vector(src, s);
  else fail("weight table role '", role, "' has no slot");
}

void assign(const ModelConfig& c, const TensorLookup& src, const WeightSpec& s, ModelWeights& w, uint64_t& bytes) {
  if (s.layer < 0) {
    if (s.canonical == "embed") w.embed = get(src, s);
    else if (s.canonical == "lm_head") w.lm_head = get(src, s);
    else if (s.canonical == "final_norm") w.final_norm = get_vector(src, s);
    bytes += src.find(s.file_name)->nbytes;
    return;
  }
  LayerWeights& L = w.layers[s.layer];
  const std::string role = s.canonical.substr(s.canonical.find('.', 7) + 1);  // after "layers.N."
  bytes += src.find(s.file_name) ? src.find(s.file_name)->nbytes : 0;
  if (role.rfind("mtp.", 0) == 0) return assign_mtp(c, src, s, role, w);
  if (s.optional && !src.find(s.file_name)) return;
  if (role == "attn_norm") L.attn_norm = get_vector(src, s);
  else if (role == "ffn_norm") L.ffn_norm = get_vector(src, s);
  else if (role == "attn.q_proj") L.attn.q_proj = get(src, s);
  else if (role == "attn.q_a_proj") L.attn.q_a_proj = get(src, s);
  else if (role == "attn.q_a_norm") L.attn.q_a_norm = get_vector(src, s);
  else if (role == "attn.q_b_proj") L.attn.q_b_proj = get(src, s);
  else if (role == "attn.kv_a_proj") L.attn.kv_a_proj = get(src, s);
  else if (role == "attn.kv_a_norm") L.attn.kv_a_norm = get_vector(src, s);
  else if (role == "attn.kv_b_proj") L.attn.kv_b_proj = get(src, s);
  else if (role == "attn.k_b") L.attn.k_b = get(src, s);
  else if (role == "attn.v_b") L.attn.v_b = get(src, s);
  else if (role == "attn.o_proj") L.attn.o_proj = get(src, s);
  else if (role == "attn.indexer.wq_b") L.attn.indexer.wq_b = get(src, s);
  else if (role == "attn.indexer.wk") L.attn.indexer.wk = get(src, s);
  else if (role == "attn.indexer.k_norm") L.attn.indexer.k_norm = get_vector(src, s);
  else if (role == "attn.indexer.k_norm_bias") L.attn.indexer.k_norm_bias = get_vector(src, s);
  else if (role == "attn.indexer.weights_proj") L.attn.indexer.weights_proj = get(src, s);
  else if (role == "dense.gate") L.dense.gate = get(src, s);
  else if (role == "dense.up") L.dense.up = get(src, s);
  else if (role == "dense.down") L.dense.down = get(src, s);
  else if (role == "moe.router") L.moe.router = get(src, s);
  else if (role == "moe.router_bias") L.moe.router_bias = get_vector(src, s);
  else if (role == "moe.shared.gate") L.moe.shared.gate = get(src, s);
  else if (role == "moe.shared.up") L.moe.shared.up = get(src, s);
  else if (role == "moe.shared.down") L.moe.shared.down = get(src, s);
  else if (role.rfind("moe.experts.", 0) == 0) {
    L.moe.experts.resize(static_cast<size_t>(c.n_routed_experts));
    const std::string part = role.substr(role.rfind('.') + 1);  // gate | up | down
    auto slot = [&](MlpWeights& m) -> TensorView& { return part == "gate" ? m.gate : part == "up" ? m.up : m.down; };
    if (s.expert >= 0) {
      slot(L.moe.experts[s.expert]) = get(src, s);
    } else {
      const TensorView stacked = get(src, s);
      for (int64_t e = 0; e < c.n_routed_experts; ++e) slot(L.moe.experts[e]) = expert_view(stacked, e);
    }
  } else {
    fail("weight table role '", role, "' has no slot");
  }
}

void prefault(ModelWeights& w, uint64_t total) {
  ProgressBar bar("loading", total);
  uint64_t done = 0;
  for (const WeightRef& r : weight_views(w)) {
    if (r.view->gpu) continue;  // read on the GPU from its own copy
    const auto* p = static_cast<const volatile uint8_t*>(r.view->data);  // volatile: every page is read
    for (size_t off = 0; off < r.view->nbytes; off += 4096) (void)p[off];
    done += r.view->nbytes;
    bar.update(std::min(done, total));
  }
  bar.finish();
}

// The MTP modules another copy of the model offers (LoadOptions::mtp_from): its config must describe
// the same model, and have modules.
int64_t mtp_modules_from(const ModelConfig& c, const std::string& dir) {
  if (is_gguf_path(dir) || !is_directory(dir))
    fail(dir, ": --mtp-from takes a Hugging Face model directory (config.json + safetensors)");
  const ModelConfig o = load_config(dir);
  const std::pair<const char*, std::pair<int64_t, int64_t>> same[] = {
      {"hidden_size", {c.hidden_size, o.hidden_size}},
      {"num_hidden_layers", {c.num_hidden_layers, o.num_hidden_layers}},
      {"vocab_size", {c.vocab_size, o.vocab_size}},
      {"num_attention_heads", {c.num_attention_heads, o.num_attention_heads}},
      {"q_lora_rank", {c.q_lora_rank, o.q_lora_rank}},
      {"kv_lora_rank", {c.kv_lora_rank, o.kv_lora_rank}},
      {"qk_nope_head_dim", {c.qk_nope_head_dim, o.qk_nope_head_dim}},
      {"qk_rope_head_dim", {c.qk_rope_head_dim, o.qk_rope_head_dim}},
      {"v_head_dim", {c.v_head_dim, o.v_head_dim}},
      {"n_routed_experts", {c.n_routed_experts, o.n_routed_experts}},
      {"moe_intermediate_size", {c.moe_intermediate_size, o.moe_intermediate_size}},
      {"n_shared_experts", {c.n_shared_experts, o.n_shared_experts}},
  };
  for (const auto& [field, v] : same)
    if (v.first != v.second)
      fail(dir, ": not the same model: ", field, " is ", v.second, " there and ", v.first, " in the model");
  if (o.num_nextn_predict_layers == 0) fail(dir, ": its config has no MTP module (num_nextn_predict_layers = 0)");
  return o.num_nextn_predict_layers;
}

}  // namespace

TensorView model_tensor(const LoadedModel& m, const WeightSpec& spec) {
  TensorLookup src;
  src.gguf = m.gguf.get();
  src.st = m.safetensors.get();
  src.where = m.path;
  return get(src, spec);
}

ModelConfig load_config(const std::string& path) {
  if (is_gguf_path(path)) return config_from_gguf(*GgufFile::open(path));
  const std::string cfg = path + "/config.json";
  if (!is_directory(path)) fail(path, ": not a GGUF file (*.gguf) or a model directory");
  if (!file_exists(cfg)) fail(path, ": no config.json in the model directory");
  return with_context(cfg, [&] { return config_from_hf_json(read_json_file(cfg), cfg); });
}

std::unique_ptr<LoadedModel> load_model(const std::string& path, const LoadOptions& options) {
  auto m = std::make_unique<LoadedModel>();
  m->path = path;
  TensorLookup src;
  src.where = path;
  if (is_gguf_path(path)) {
    m->gguf = GgufFile::open(path);
    m->config = config_from_gguf(*m->gguf);
    src.gguf = m->gguf.get();
    const bool split = m->gguf->find_tensor("blk.0.attn_k_b.weight") != nullptr;
    m->layout = split ? WeightLayout::kGguf : WeightLayout::kGgufLegacyKvB;
  } else {
    m->config = load_config(path);
    m->safetensors = SafetensorsModel::open_dir(path);
    src.st = m->safetensors.get();
    m->layout = WeightLayout::kHf;
  }
  const bool mtp = options.mtp || !options.mtp_from.empty();
  if (!options.mtp_from.empty()) m->config.num_nextn_predict_layers = mtp_modules_from(m->config, options.mtp_from);
  const ModelConfig& c = m->config;
  if (mtp && c.num_nextn_predict_layers == 0)
    fail(path, ": the model has no multi-token-prediction module (num_nextn_predict_layers = 0)");
  const int64_t n_mtp = mtp ? c.num_nextn_predict_layers : 0;
  m->weights.layers.resize(static_cast<size_t>(c.num_hidden_layers + n_mtp));
  m->weights.mtp.resize(static_cast<size_t>(n_mtp));
  for (const WeightSpec& s : weight_specs(c, m->layout, mtp && options.mtp_from.empty()))
    assign(c, src, s, m->weights, m->weight_bytes);
  if (!options.mtp_from.empty()) {  // the modules' tensors, by their Hugging Face names, from the other copy
    m->mtp_source = SafetensorsModel::open_dir(options.mtp_from);
    TensorLookup other;
    other.st = m->mtp_source.get();
    other.where = options.mtp_from;
    for (const WeightSpec& s : weight_specs(c, WeightLayout::kHf, true))
      if (s.layer >= c.num_hidden_layers) assign(c, other, s, m->weights, m->weight_bytes);
  }
  for (const WeightRef& r : weight_views(m->weights)) {  // R8 tensors a file holds (dsinfer repack)
    if (!is_interleaved(r.view->dtype)) continue;
    if (!r8_layout_fits(r))
      fail(path, ": tensor '", r.view->name, "' is stored as ", dtype_name(r.view->dtype),
           ", but only matmul weights with whole 8-row groups can be; `dsinfer repack` of the original file "
           "writes them right");
    ++m->r8_tensors_in_file;
    m->r8_bytes_in_file += r.view->nbytes;
  }
  if (options.gpu.enabled) {
    ThreadPool pool;
    m->gpu = with_context(path, [&] { return place_on_gpu(m->weights, pool, options.gpu); });
  }
  if (options.repack) {
    m->repack = repack_weights(m->weights, m->repacked, options.prefault,
                               options.repack_limit ? options.repack_limit : default_repack_limit());
    for (MtpWeights& mtp_w : m->weights.mtp) {  // views of the main embedding / head follow their new layout
      if (mtp_w.embed_is_main) mtp_w.embed = m->weights.embed;
      if (mtp_w.head_is_main) mtp_w.head = m->weights.lm_head;
    }
  }
  if (m->gpu.device && m->gpu.streamed_layers > 0 && m->repacked && m->repacked->size() > 0 &&
      m->gpu.device->pin_host(m->repacked->data(), m->repacked->size()))
    m->gpu.pinned_bytes = m->repacked->size();  // streamed experts then cross straight from it
  if (options.prefault) prefault(m->weights, m->weight_bytes - m->gpu.file_bytes);
  return m;
}

}  // namespace dsinfer
