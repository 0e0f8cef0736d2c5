#include "cli/model_session.h"

#include "util/error.h"

namespace dsinfer::cli {

ModelSession open_model_session(const std::string& path, int threads, bool prefault) {
  ModelSession s;
  LoadOptions lo;
  lo.prefault = prefault;
  s.model = load_model(path, lo);
  s.pool = std::make_unique<ThreadPool>(threads);
  s.transformer = std::make_unique<Transformer>(s.model->config, s.model->weights, *s.pool);
  return s;
}

std::vector<int32_t> ModelSession::encode(const std::string& text, bool add_bos) const {
  fail("this model has no tokenizer; pass token ids with --ids 1,2,3");
}

std::string ModelSession::decode(const std::vector<int32_t>& ids) const {
  std::string s;
  for (int32_t id : ids) s += "[" + std::to_string(id) + "]";
  return s;
}

std::function<std::string(int32_t)> ModelSession::make_stream() const {
  return [](int32_t id) { return id < 0 ? std::string() : "[" + std::to_string(id) + "]"; };
}

}  // namespace dsinfer::cli
