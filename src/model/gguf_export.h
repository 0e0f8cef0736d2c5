#pragma once
// Writing a DeepSeek model as llama.cpp's GGUF: `deepseek2.*` metadata, llama.cpp's tensor names, routed
// experts stacked [E, rows, cols], MLA's kv_b_proj split into attn_k_b / attn_v_b (or kept whole, the
// legacy layout), llama-quantize's type choices (model/weights.h has the names and shapes). The values
// come from a TensorRows source that speaks in the Hugging Face layout: random rows (`dsinfer synth`) or a
// loaded Hugging Face checkpoint (`dsinfer convert`, model/convert.h).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf_value.h"
#include "model/llama_mix.h"
#include "model/model_config.h"
#include "model/weights.h"
#include "tensor/dtype.h"

namespace dsinfer {

class ThreadPool;

// Rows of the model's tensors as the Hugging Face layout has them (canonical names, model/weights.h:
// "embed", "layers.3.attn.kv_b_proj", "layers.3.moe.experts.5.gate", "layers.3.attn_norm", ...).
class TensorRows {
 public:
  virtual ~TensorRows() = default;
  // Rows [r0, r0 + n) of `canonical` (cols values each; a vector is one row) as float32 into out.
  // Called from several threads at once.
  virtual void canonical_rows(const std::string& canonical, bool is_vector, int64_t r0, int64_t n, int64_t cols,
                              float* out) const = 0;
  // A source already in the written layout (a GGUF file) has spec's tensor as it is: its view (then rows
  // come from it directly, and a tensor of the written type is copied byte for byte), or nullptr.
  virtual const TensorView* layout_tensor(const WeightSpec& spec) const { return nullptr; }
  // Whether the source has spec's tensor: an optional one it lacks is not written (an MTP block's indexer).
  virtual bool has(const WeightSpec& spec) const { return true; }
};

// Rows [r0, r0 + n) of spec's tensor in its own layout's shape (flattened to [rows, cols]): GGUF's stacked
// experts and split k_b / v_b are cut from the canonical tensors they derive from.
void layout_rows(const ModelConfig& c, const TensorRows& src, const WeightSpec& s, int64_t r0, int64_t n, float* out);

// spec's tensor encoded in dtype t into dst, rows in parallel. random_grid_codes: a grid i-quant t gets random
// codes at each row's root mean square instead (synth: dsinfer has no quantizer for those types).
void encode_tensor(ThreadPool& pool, const ModelConfig& c, const TensorRows& src, const WeightSpec& s, DType t,
                   uint8_t* dst, bool random_grid_codes = false);

// The type llama-quantize gives a tensor of a GGUF file asked for in `want`: vectors and the router F32;
// matrices `want` — or what `mix` picks for the tensor (model/llama_mix.h; n_blocks: the file's block_count)
// — unless their rows do not fit its block, then llama.cpp's fallback (Q4_K -> Q5_0, Q5_K -> Q5_1, Q2_K /
// Q3_K -> Q4_0, IQ4_XS and the grid i-quants -> IQ4_NL, Q6_K and the rest -> Q8_0, else F16).
DType gguf_dtype_for(const WeightSpec& s, DType want, LlamaMix mix, int64_t n_blocks);

// deepseek2.block_count: the layers and the MTP modules written.
inline int64_t gguf_block_count(const ModelConfig& c) { return c.num_hidden_layers + c.num_nextn_predict_layers; }

struct GgufExportOptions {
  DType dtype = DType::F32;      // matrices (see gguf_dtype_for)
  LlamaMix mix = LlamaMix::kNone;  // llama-quantize's mix around dtype
  bool legacy_kv_b = false;      // one attn_kv_b per layer instead of attn_k_b / attn_v_b
  bool mtp = false;              // write the config's MTP modules (blk.N.nextn.*; no embedding / head copies)
  uint64_t max_part_bytes = 0;   // > 0: split as gguf-split (PREFIX-0000i-of-0000N.gguf)
  std::string name;              // general.name
  int threads = 0;
  bool progress = false;         // a bar on a terminal
  bool random_grid_codes = false;  // synth: grid i-quant tensors get random codes (else: an error)
};

// Writes the model to `path` (*.gguf); extra_keys (the tokenizer's) go after the model's metadata.
// Returns the files written.
std::vector<std::string> write_gguf_model(const ModelConfig& c, const TensorRows& src, const GgufExportOptions& o,
                                          std::vector<std::pair<std::string, GgufValue>> extra_keys,
                                          const std::string& path);

}  // namespace dsinfer
