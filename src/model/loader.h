#pragma once
// Opens a model — a GGUF file (first part of a split set) or a Hugging Face directory (config.json +
// safetensors, single or sharded, BF16/F32/F16 or block-FP8) — and maps its tensors onto ModelWeights
// through the weight table. Weights stay in the file mapping; only norm vectors and router biases are
// copied (to float32).

#include <cstdint>
#include <memory>
#include <string>

#include "model/gpu_placement.h"
#include "model/model_config.h"
#include "model/repack.h"
#include "model/weights.h"

namespace dsinfer {

class GgufFile;
class SafetensorsModel;

struct LoadOptions {
  bool prefault = false;       // read every weight page now (with a progress bar on a terminal)
  bool repack = false;         // repack eligible weights into the kernels' interleaved layouts (model/repack.h)
  uint64_t repack_limit = 0;   // skip repacking above this many bytes; 0 = default_repack_limit()
  bool mtp = false;            // also map the MTP modules (spec 10) for speculative decoding; an Error when
                               // the config has none (num_nextn_predict_layers = 0)
  // The MTP modules from another copy of the model: a Hugging Face directory (config.json and the
  // safetensors holding model.layers.{num_hidden_layers}.*, e.g. DeepSeek-V3's last shards alone, without
  // the index) — for GGUF files whose converter left the module out, as llama.cpp's does. Implies mtp.
  std::string mtp_from;
  // Hybrid CPU+GPU (model/gpu_placement.h): the weights every token reads go to the GPU before repacking,
  // which then leaves them alone; prefaulting reads only what stays on the CPU.
  GpuOptions gpu;
};

struct LoadedModel {
  std::string path;
  ModelConfig config;
  ModelWeights weights;
  WeightLayout layout = WeightLayout::kHf;
  uint64_t weight_bytes = 0;       // bytes of all tensors used
  std::unique_ptr<GgufFile> gguf;  // set for GGUF models (also holds tokenizer metadata)
  std::unique_ptr<SafetensorsModel> safetensors;  // set for HF directories
  std::unique_ptr<SafetensorsModel> mtp_source;   // LoadOptions::mtp_from
  std::unique_ptr<AnonBuffer> repacked;           // the repacked weights (LoadOptions::repack)
  RepackReport repack;
  GpuPlacement gpu;                                // LoadOptions::gpu
  int64_t r8_tensors_in_file = 0;  // weights the file already stores in R8 layouts (`dsinfer repack`)
  uint64_t r8_bytes_in_file = 0;

  // The tensor stored under `file_name` (GGUF or HF name), or nullptr.
  const TensorView* find_tensor(const std::string& file_name) const;

  LoadedModel();
  ~LoadedModel();
};

bool is_gguf_path(const std::string& path);

// The tensor spec names in m's files (its layout's name and shape checked), with the block scales of a
// block-FP8 weight attached. Throws Error naming the file and tensor when it is missing or misshapen.
TensorView model_tensor(const LoadedModel& m, const WeightSpec& spec);

// Loads config and weights. Throws Error naming the file / tensor / field on any problem.
std::unique_ptr<LoadedModel> load_model(const std::string& path, const LoadOptions& options = {});

// The config alone: a GGUF file, a HF directory, or a directory holding only config.json.
ModelConfig load_config(const std::string& path);

}  // namespace dsinfer
