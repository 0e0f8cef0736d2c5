#pragma once
// Named model shapes for `dsinfer synth` (spec 1.2): tiny test models and the real V2-Lite / V3 shapes.

#include <string>
#include <vector>

#include "model/model_config.h"

namespace dsinfer {

// "tiny-v3", "tiny-v3-k" (256-wide rows: K-quants apply), "tiny-v2-lite", "tiny-v2", "v2-lite", "v3". layers > 0 overrides num_hidden_layers (for V3
// the dense prefix then becomes min(3, layers - 1) so at least one MoE layer remains).
ModelConfig preset_config(const std::string& name, int64_t layers = 0);
std::vector<std::string> preset_names();

}  // namespace dsinfer
