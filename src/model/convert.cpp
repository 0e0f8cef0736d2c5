#include "model/convert.h"

#include <filesystem>
#include <map>

#include "formats/gguf.h"
#include "model/gguf_export.h"
#include "model/loader.h"
#include "model/synth_tokenizer.h"
#include "tensor/tensor.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {
namespace {

// Rows of a loaded Hugging Face checkpoint's tensors, dequantized to float32.
class CheckpointRows : public TensorRows {
 public:
  CheckpointRows(const LoadedModel& m, bool mtp) {
    for (const WeightSpec& s : weight_specs(m.config, WeightLayout::kHf, mtp))
      if (!s.optional || m.find_tensor(s.file_name)) views_[s.canonical] = model_tensor(m, s);
  }
  bool has(const WeightSpec& spec) const override {
    // (a GGUF spec's canonical name is the HF one's, or a stacked / split tensor derived from HF tensors)
    return !spec.optional || views_.count(spec.canonical) > 0;
  }

  void canonical_rows(const std::string& canonical, bool, int64_t r0, int64_t n, int64_t cols,
                      float* out) const override {
    const auto it = views_.find(canonical);
    if (it == views_.end()) fail("convert: no tensor for '", canonical, "'");
    const TensorView& v = it->second;
    if (v.cols() != cols || r0 < 0 || r0 + n > v.rows())
      fail("convert: tensor '", v.name, "' ", shape_str(v.shape), " has no rows [", r0, ", ", r0 + n, ") of ", cols);
    dequantize_rows(v, r0, n, out);
  }

 private:
  std::map<std::string, TensorView> views_;
};

// A GGUF model's own tensors, in the layout they are written in.
class GgufRows : public TensorRows {
 public:
  GgufRows(const LoadedModel& m, bool mtp) {
    for (const WeightSpec& s : weight_specs(m.config, m.layout, mtp))
      if (!s.optional || m.find_tensor(s.file_name)) views_[s.file_name] = model_tensor(m, s);
  }
  const TensorView* layout_tensor(const WeightSpec& spec) const override {
    const auto it = views_.find(spec.file_name);
    return it == views_.end() ? nullptr : &it->second;
  }
  bool has(const WeightSpec& spec) const override { return !spec.optional || views_.count(spec.file_name) > 0; }
  void canonical_rows(const std::string& canonical, bool, int64_t, int64_t, int64_t, float*) const override {
    fail("convert: '", canonical, "' has no tensor of its own in the GGUF file");
  }

 private:
  std::map<std::string, TensorView> views_;
};

// Requantizing (a Q8_0 tensor written as Q4_K) adds a second rounding: only when asked.
void check_requantization(const LoadedModel& m, const TensorRows& rows, const ConvertOptions& o) {
  if (o.allow_requantize) return;
  ModelConfig c = m.config;
  if (!o.mtp) c.num_nextn_predict_layers = 0;
  for (const WeightSpec& s : weight_specs(c, m.layout, o.mtp)) {
    const TensorView* t = rows.layout_tensor(s);
    if (!t || !dtype_is_block_quant(t->dtype)) continue;
    const DType want = gguf_dtype_for(s, o.dtype, o.mix, gguf_block_count(c));
    if (t->dtype != want)
      fail(m.path, ": tensor '", s.file_name, "' is ", dtype_name(t->dtype), " already; writing it as ", dtype_name(want),
           " would quantize it twice (--allow-requantize does it anyway; a BF16 / F16 / F32 source avoids it)");
  }
}

}  // namespace

std::vector<std::string> convert_to_gguf(const std::string& hf_dir, const std::string& out_path,
                                         const ConvertOptions& options) {
  const bool gguf = is_gguf_path(hf_dir);
  if (!gguf && !is_directory(hf_dir))
    fail(hf_dir, ": dsinfer convert takes a Hugging Face model directory (config.json + safetensors) or a GGUF file");
  if (!out_path.ends_with(".gguf")) fail(out_path, ": the output name must end in .gguf");
  LoadOptions lo;
  lo.mtp = options.mtp;
  const std::unique_ptr<LoadedModel> m = load_model(hf_dir, lo);
  std::unique_ptr<TensorRows> rows;
  if (gguf) rows = std::make_unique<GgufRows>(*m, options.mtp);
  else rows = std::make_unique<CheckpointRows>(*m, options.mtp);
  check_requantization(*m, *rows, options);

  SynthTokenizer tok;  // (a GGUF source's own keys, from the file already open)
  if (gguf && m->gguf->find("tokenizer.ggml.tokens")) tok = synth_tokenizer_from_gguf(*m->gguf);
  if (!gguf && file_exists(hf_dir + "/tokenizer.json")) tok = load_synth_tokenizer(hf_dir);
  if (tok.n_tokens > m->config.vocab_size)
    fail(hf_dir, ": the tokenizer has ", tok.n_tokens, " tokens, more than the model's vocab_size ", m->config.vocab_size);

  GgufExportOptions o;
  o.legacy_kv_b = m->layout == WeightLayout::kGgufLegacyKvB;  // a GGUF keeps its MLA layout
  o.dtype = options.dtype;
  o.mix = options.mix;
  o.mtp = options.mtp;
  o.max_part_bytes = options.max_part_bytes;
  o.threads = options.threads;
  o.progress = options.progress;
  const std::filesystem::path src = std::filesystem::path(hf_dir).lexically_normal();
  o.name = gguf ? m->gguf->get_string("general.name").value_or(src.stem().string())
                : (src.has_filename() ? src.filename() : src.parent_path().filename()).string();
  return write_gguf_model(m->config, *rows, o, synth_tokenizer_gguf_keys(tok, m->config.vocab_size), out_path);
}

}  // namespace dsinfer
