#include "server/answer_writer.h"

#include "server/api_request.h"
#include "server/messages_request.h"

namespace dsinfer::server {
namespace {

// Server-Sent Events that name their type ("event: T" before "data: {...}"), as the Responses and the
// Messages APIs send them.
std::string typed_events(const std::vector<ResponseJson>& evs) {
  std::string out;
  for (const ResponseJson& e : evs) out += "event: " + e["type"].get<std::string>() + "\ndata: " + dump_json(e) + "\n\n";
  return out;
}

ResponseJson generation_failed(const GenerationGroup& g) {
  return ResponseJson(ApiError(500, g.error(), "", "generation_failed", "server_error").to_json());
}

class CompletionWriter : public AnswerWriter {
 public:
  CompletionWriter(bool chat, bool include_usage, bool stream) : chat_(chat), include_usage_(include_usage), stream_(stream) {}

  std::string begin(const GenerationGroup& g) override {
    std::string out;
    if (chat_)
      for (const ResponseJson& first : g.first_chunks()) out += data(first);
    return out;
  }
  std::string chunk(const ResponseJson& c) override { return stream_ ? data(c) : std::string(); }  // (whole: unused)
  std::string end(const GenerationGroup& g) override {
    std::string out;
    if (g.failed()) {
      out = data(generation_failed(g));
    } else if (include_usage_) {
      out = data(g.usage_chunk());
    }
    return out + "data: [DONE]\n\n";
  }
  std::string body(const GenerationGroup& g) override { return dump_json(g.failed() ? generation_failed(g) : g.response()); }

 private:
  bool chat_;
  bool include_usage_;
  bool stream_;
  static std::string data(const ResponseJson& j) { return "data: " + dump_json(j) + "\n\n"; }
};

class ResponsesWriter : public AnswerWriter {
 public:
  ResponsesWriter(std::unique_ptr<ResponsesOutput> output, ResponseStore& store, nlohmann::ordered_json conversation,
                  size_t input_begin, bool store_it)
      : output_(std::move(output)), store_(store), conversation_(std::move(conversation)), input_begin_(input_begin),
        store_it_(store_it) {}

  std::string begin(const GenerationGroup&) override { return typed_events(output_->start()); }
  std::string chunk(const ResponseJson& c) override { return typed_events(output_->on_chunk(c)); }
  std::string end(const GenerationGroup& g) override { return typed_events(finish(g)); }
  std::string body(const GenerationGroup& g) override {
    finish(g);
    return dump_json(output_->response());
  }

 private:
  std::unique_ptr<ResponsesOutput> output_;
  ResponseStore& store_;
  nlohmann::ordered_json conversation_;
  size_t input_begin_;
  bool store_it_;

  std::vector<ResponseJson> finish(const GenerationGroup& g) {
    auto evs = output_->finish(g.usage_chunk()["usage"], g.failed() ? g.error() : std::string());
    if (store_it_ && !g.failed()) {
      const size_t input_end = conversation_.size();
      for (const auto& item : output_->output()) conversation_.push_back(item);
      store_.put(output_->id(), StoredResponse{output_->response(), std::move(conversation_), input_begin_, input_end});
    }
    return evs;
  }
};

class MessagesWriter : public AnswerWriter {
 public:
  explicit MessagesWriter(std::unique_ptr<MessagesOutput> output) : output_(std::move(output)) {}

  std::string begin(const GenerationGroup&) override { return typed_events(output_->start()); }
  std::string chunk(const ResponseJson& c) override { return typed_events(output_->on_chunk(c)); }
  std::string end(const GenerationGroup& g) override {
    if (g.failed()) return typed_events({failure(g)});
    return typed_events(finish(g));
  }
  std::string body(const GenerationGroup& g) override {
    if (g.failed()) return dump_json(failure(g));
    finish(g);
    return dump_json(output_->message());
  }

 private:
  std::unique_ptr<MessagesOutput> output_;

  std::vector<ResponseJson> finish(const GenerationGroup& g) {
    return output_->finish(g.usage_chunk()["usage"], g.choice(0).stop_sequence());
  }
  static ResponseJson failure(const GenerationGroup& g) { return anthropic_error_json(ApiError(500, g.error())); }
};

// Ollama streams one JSON object per line; an error mid-answer is a line {"error": "..."}.
class OllamaWriter : public AnswerWriter {
 public:
  explicit OllamaWriter(std::unique_ptr<OllamaOutput> output) : output_(std::move(output)) {}

  std::string begin(const GenerationGroup&) override { return {}; }
  std::string chunk(const ResponseJson& c) override { return lines(output_->on_chunk(c)); }
  std::string end(const GenerationGroup& g) override {
    if (g.failed()) return dump_json(ResponseJson{{"error", g.error()}}) + "\n";
    return lines(output_->finish(g.usage_chunk()["usage"], true));
  }
  std::string body(const GenerationGroup& g) override {
    if (g.failed()) return dump_json(ResponseJson{{"error", g.error()}});
    output_->finish(g.usage_chunk()["usage"], false);
    return dump_json(output_->whole());
  }
  const char* stream_type() const override { return "application/x-ndjson"; }
  // A space: leading whitespace of the next line, which JSON allows (an empty line would not parse).
  std::string keep_alive() const override { return " "; }

 private:
  std::unique_ptr<OllamaOutput> output_;
  static std::string lines(const std::vector<ResponseJson>& objs) {
    std::string out;
    for (const ResponseJson& o : objs) out += dump_json(o) + "\n";
    return out;
  }
};

}  // namespace

std::unique_ptr<AnswerWriter> ollama_writer(std::unique_ptr<OllamaOutput> output) {
  return std::make_unique<OllamaWriter>(std::move(output));
}

std::unique_ptr<AnswerWriter> messages_writer(std::unique_ptr<MessagesOutput> output) {
  return std::make_unique<MessagesWriter>(std::move(output));
}

std::unique_ptr<AnswerWriter> completion_writer(bool chat, bool include_usage, bool stream) {
  return std::make_unique<CompletionWriter>(chat, include_usage, stream);
}

std::unique_ptr<AnswerWriter> responses_writer(std::unique_ptr<ResponsesOutput> output, ResponseStore& store,
                                               nlohmann::ordered_json conversation, size_t input_begin, bool store_it) {
  return std::make_unique<ResponsesWriter>(std::move(output), store, std::move(conversation), input_begin, store_it);
}

}  // namespace dsinfer::server
