#pragma once
// The commands that run DeepSeek-V4 checkpoints (model/v4_transformer.h): `run`, `logits` and `info` hand
// a V4 model directory (is_v4_model_dir) to these. V4 is not yet behind the scheduler: the other commands
// reach config_from_hf_json, which refuses a deepseek_v4 config with an error naming these three.

#include <string>

#include "cli/args.h"
#include "model/v4_weights.h"

namespace dsinfer::cli {

int run_v4(const ArgParser& p, const std::string& path);
int logits_v4(const ArgParser& p, const std::string& path);
int info_v4(const ArgParser& p, const std::string& path);

}  // namespace dsinfer::cli
