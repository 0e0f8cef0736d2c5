#pragma once
// What the model commands share: the loaded model, its thread pool and transformer, and its tokenizer
// (if the model has one; otherwise token ids are printed as "[id]").

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/loader.h"
#include "model/transformer.h"
#include "tokenizer/chat_template.h"
#include "util/thread_pool.h"

namespace dsinfer {
class Tokenizer;
}

namespace dsinfer::cli {

struct ModelSession {
  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Transformer> transformer;
  std::shared_ptr<Tokenizer> tokenizer;

  bool has_tokenizer() const { return tokenizer != nullptr; }
  std::vector<int32_t> encode(const std::string& text, bool add_bos) const;  // Error without a tokenizer
  std::string decode(const std::vector<int32_t>& ids) const;
  // A streaming decoder: call with each new id, -1 at the end to flush; returns complete UTF-8 text.
  std::function<std::string(int32_t)> make_stream() const;
};

// The chat format of the model's template (detect_chat_format); a DeepSeek-V3.2 (DSA) model without a
// template it recognizes gets DeepSeek-V3.2's, as the release ships an encoder instead of a template.
ChatFormat chat_format_of(const ModelSession& s, bool* recognized);

// repack: LoadOptions::repack (model/repack.h); reported on stderr. mtp, mtp_from: LoadOptions::mtp /
// mtp_from (--mtp-from DIR).
// gpu: LoadOptions::gpu (hybrid CPU+GPU), reported on stderr.
ModelSession open_model_session(const std::string& path, int threads, bool prefault, bool repack, bool mtp = false,
                                const std::string& mtp_from = "", const GpuOptions& gpu = {});

}  // namespace dsinfer::cli
