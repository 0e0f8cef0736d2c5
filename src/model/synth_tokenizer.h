#pragma once
// The tokenizer `dsinfer synth --tokenizer` embeds: read from a Hugging Face tokenizer.json (+
// tokenizer_config.json) or from a GGUF file's tokenizer.* keys, and written as GGUF tokenizer.* keys
// the way llama.cpp's converter writes them (token list padded with [PADn] to the vocab size) or copied
// as files into a Hugging Face directory.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf_value.h"

namespace dsinfer {

class GgufFile;

struct SynthTokenizer {
  std::string hf_dir;                      // set when read from tokenizer.json
  std::vector<std::pair<std::string, GgufValue>> gguf_keys;  // tokenizer.* keys (unpadded arrays)
  std::vector<std::string> tokens;         // id -> token string
  std::vector<int32_t> token_types;        // llama.cpp types: 1 normal, 3 control, 4 user-defined, 5 unused
  std::vector<float> scores;               // may be empty
  int64_t n_tokens = 0;
  std::optional<int64_t> bos, eos;
};

// path: a directory with tokenizer.json, a tokenizer.json file, or a GGUF file.
SynthTokenizer load_synth_tokenizer(const std::string& path);
// The tokenizer.* keys of an open GGUF file (Error when it has no token list).
SynthTokenizer synth_tokenizer_from_gguf(const GgufFile& gguf);
// tokenizer.* keys for a model with vocab_size rows (empty when no tokenizer was given).
std::vector<std::pair<std::string, GgufValue>> synth_tokenizer_gguf_keys(const SynthTokenizer& t, int64_t vocab_size);
// Copies tokenizer.json / tokenizer_config.json into dir; returns the files written.
std::vector<std::string> copy_synth_tokenizer_files(const SynthTokenizer& t, const std::string& dir);

}  // namespace dsinfer
