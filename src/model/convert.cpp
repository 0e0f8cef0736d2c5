#include "model/convert.h"

#include <filesystem>
#include <map>

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
    for (const WeightSpec& s : weight_specs(m.config, WeightLayout::kHf, mtp)) views_[s.canonical] = model_tensor(m, s);
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

}  // namespace

std::vector<std::string> convert_to_gguf(const std::string& hf_dir, const std::string& out_path,
                                         const ConvertOptions& options) {
  if (is_gguf_path(hf_dir) || !is_directory(hf_dir))
    fail(hf_dir, ": dsinfer convert takes a Hugging Face model directory (config.json + safetensors)");
  if (!out_path.ends_with(".gguf")) fail(out_path, ": the output name must end in .gguf");
  LoadOptions lo;
  lo.mtp = options.mtp;
  const std::unique_ptr<LoadedModel> m = load_model(hf_dir, lo);
  const CheckpointRows rows(*m, options.mtp);

  SynthTokenizer tok;
  if (file_exists(hf_dir + "/tokenizer.json")) tok = load_synth_tokenizer(hf_dir);
  if (tok.n_tokens > m->config.vocab_size)
    fail(hf_dir, ": tokenizer.json has ", tok.n_tokens, " tokens, more than the model's vocab_size ", m->config.vocab_size);

  GgufExportOptions o;
  o.dtype = options.dtype;
  o.k_mix = options.k_mix;
  o.mtp = options.mtp;
  o.max_part_bytes = options.max_part_bytes;
  o.threads = options.threads;
  o.progress = options.progress;
  o.name = std::filesystem::path(hf_dir).lexically_normal().filename().string();
  if (o.name.empty()) o.name = std::filesystem::path(hf_dir).lexically_normal().parent_path().filename().string();
  return write_gguf_model(m->config, rows, o, synth_tokenizer_gguf_keys(tok, m->config.vocab_size), out_path);
}

}  // namespace dsinfer
