#pragma once
// Random-weight models of any config (`dsinfer synth`): GGUF as llama.cpp reads it, or a Hugging Face
// directory (config.json + safetensors) in F32 / BF16 / block-FP8. Deterministic per seed, and the same
// seed gives the same weights in every layout (GGUF's stacked experts and split attn_k_b / attn_v_b are
// cut from the same values as the HF per-expert tensors and kv_b_proj), so files of one seed can be
// compared logit for logit.

#include <cstdint>
#include <string>

#include "model/llama_mix.h"
#include "model/model_config.h"
#include "tensor/dtype.h"

namespace dsinfer {

struct SynthOptions {
  uint64_t seed = 1;
  DType dtype = DType::F32;     // matrices; vectors stay F32, routers F32 (GGUF) or the float dtype (HF)
  LlamaMix mix = LlamaMix::kNone;  // GGUF: llama-quantize's tensor mix around dtype (model/llama_mix.h)
  std::string tokenizer;        // "" or a tokenizer.json directory / file, or a GGUF file with a vocab
  int threads = 0;
  uint64_t max_shard_bytes = 0; // HF: shard when > 0; GGUF: split when > 0
  bool gguf_legacy_kv_b = false; // GGUF: one attn_kv_b per layer (pre-MLA llama.cpp files) instead of
                                 // the split attn_k_b / attn_v_b
};

// Writes `path` (*.gguf) or a directory `path`; returns the files written.
std::vector<std::string> synth_model(const ModelConfig& config, const SynthOptions& options, const std::string& path);

}  // namespace dsinfer
