#pragma once
// `dsinfer convert`: a Hugging Face DeepSeek-V2/V3/R1 checkpoint (config.json + safetensors in BF16 / F16 /
// F32, or block-FP8 as DeepSeek-V3 and R1 ship) written as the GGUF llama.cpp's converter and
// llama-quantize would make of it — deepseek2 metadata, the tokenizer (tokenizer.json, chat template),
// split attn_k_b / attn_v_b, stacked experts — in one step, without Python, a GPU or an intermediate BF16
// copy. Quantized types are encoded with llama.cpp's reference quantizers (same bytes as llama-quantize
// without an importance matrix). FP8 weights are dequantized with their 128x128 block scales first.

#include <cstdint>
#include <string>
#include <vector>

#include "model/llama_mix.h"
#include "tensor/dtype.h"

namespace dsinfer {

struct ConvertOptions {
  DType dtype = DType::Q8_0;    // f32 f16 bf16 q8_0 q4_0 q5_0 q5_1 q2_K .. q6_K (model/gguf_export.h)
  LlamaMix mix = LlamaMix::kNone;  // llama-quantize's mix around dtype (model/llama_mix.h)
  bool mtp = false;             // keep the MTP module (blk.N.nextn.*; llama.cpp's converter leaves it out)
  bool allow_requantize = false; // a GGUF source's quantized tensors may be written in another quantized type
  uint64_t max_part_bytes = 0;  // > 0: split as gguf-split
  int threads = 0;
  bool progress = false;
};

// The source may also be a GGUF model (as llama-quantize takes one): its tensors are written in the same
// layout (split or legacy kv_b), those already in the written type copied byte for byte, float ones
// quantized, quantized ones of another type only with allow_requantize; its tokenizer keys carried over.
// Returns the files written. Throws Error when the source is neither, on any missing or misshapen tensor,
// and on write failures (no partial file is left under the output name).
std::vector<std::string> convert_to_gguf(const std::string& hf_dir, const std::string& out_path,
                                         const ConvertOptions& options);

}  // namespace dsinfer
