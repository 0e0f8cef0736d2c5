#include "cli/model_session.h"

#include <cstdio>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace dsinfer::cli {

ModelSession open_model_session(const std::string& path, int threads, bool prefault, bool repack, bool mtp,
                                const std::string& mtp_from, const GpuOptions& gpu) {
  ModelSession s;
  LoadOptions lo;
  lo.prefault = prefault;
  lo.repack = repack;
  lo.mtp = mtp;
  lo.mtp_from = mtp_from;
  lo.gpu = gpu;
  s.model = load_model(path, lo);
  if (const GpuPlacement& g = s.model->gpu; g.device)
    std::fprintf(stderr,
                 "GPU %d (%s): %lld weights (%.2f GB in the file, read per token by the CPU no more) placed as %s, "
                 "%.2f GB, in %.1f s; routed experts stay on the CPU\n",
                 g.device->info().index, g.device->info().name.c_str(), static_cast<long long>(g.tensors),
                 g.file_bytes / 1e9, gpu::storage_name(g.storage), g.device_bytes / 1e9, g.seconds);
  if (const GpuPlacement& g = s.model->gpu; g.device && g.streamed_layers > 0)
    std::fprintf(stderr,
                 "GPU: batches of %lld+ tokens run the routed experts of %lld layers there, their weights streamed "
                 "(%.2f GB of repacked weights page-locked for direct copies)\n",
                 static_cast<long long>(gpu.expert_tokens), static_cast<long long>(g.streamed_layers),
                 g.pinned_bytes / 1e9);
  if (const GpuPlacement& g = s.model->gpu; g.device && !g.not_streamed.empty())
    std::fprintf(stderr, "GPU: routed experts stay on the CPU for every batch where %s\n", g.not_streamed.c_str());
  if (!s.model->repack.skipped.empty()) std::fprintf(stderr, "not repacked: %s\n", s.model->repack.skipped.c_str());
  if (const RepackReport& r = s.model->repack; r.tensors > 0)
    std::fprintf(stderr,
                 "repacked %lld quantized tensors into 8-row interleaved blocks in %.1f s: %.1f MB now in anonymous "
                 "memory (%.1f MB more than in the file), their file pages released (--no-repack keeps the file "
                 "layout)\n",
                 static_cast<long long>(r.tensors), r.seconds, static_cast<double>(r.bytes) / 1e6,
                 static_cast<double>(r.growth_bytes) / 1e6);
  if (s.model->r8_tensors_in_file > 0)
    std::fprintf(stderr, "%lld weights (%.1f MB) are stored in the 8-row interleaved layout (dsinfer repack): mapped as they are\n",
                 static_cast<long long>(s.model->r8_tensors_in_file), static_cast<double>(s.model->r8_bytes_in_file) / 1e6);
  s.tokenizer = load_tokenizer(path);
  if (s.tokenizer && s.tokenizer->n_vocab() > s.model->config.vocab_size) {
    fail(path, ": the tokenizer has ", s.tokenizer->n_vocab(), " tokens but the model's vocabulary is ",
         s.model->config.vocab_size);
  }
  s.pool = std::make_unique<ThreadPool>(threads);
  s.transformer = std::make_unique<Transformer>(s.model->config, s.model->weights, *s.pool);
  return s;
}

std::vector<int32_t> ModelSession::encode(const std::string& text, bool add_bos) const {
  if (!tokenizer) fail("this model has no tokenizer; pass token ids with --ids 1,2,3");
  EncodeOptions o;
  o.add_bos = add_bos && tokenizer->add_bos();
  return tokenizer->encode(text, o);
}

std::string ModelSession::decode(const std::vector<int32_t>& ids) const {
  if (tokenizer) return tokenizer->decode(ids, true);
  std::string s;
  for (int32_t id : ids) s += "[" + std::to_string(id) + "]";
  return s;
}

std::function<std::string(int32_t)> ModelSession::make_stream() const {
  if (!tokenizer) return [](int32_t id) { return id < 0 ? std::string() : "[" + std::to_string(id) + "]"; };
  auto dec = std::make_shared<StreamDecoder>(*tokenizer, true);
  return [dec](int32_t id) { return id < 0 ? dec->flush() : dec->push(id); };
}

ChatFormat chat_format_of(const ModelSession& s, bool* recognized) {
  const ChatFormat f = detect_chat_format(s.tokenizer ? s.tokenizer->chat_template() : "", recognized);
  if (!*recognized && s.model->config.has_dsa()) {
    *recognized = true;
    return ChatFormat::kDeepSeekV32;
  }
  return f;
}

}  // namespace dsinfer::cli
