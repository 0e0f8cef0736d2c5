#include "server/messages_output.h"

namespace dsinfer::server {

using json = MessagesOutput::json;

MessagesOutput::MessagesOutput(std::string id, std::string model, int64_t input_tokens) {
  message_ = {{"id", std::move(id)}, {"type", "message"}, {"role", "assistant"}, {"model", std::move(model)},
              {"content", json::array()}, {"stop_reason", nullptr}, {"stop_sequence", nullptr},
              {"usage", {{"input_tokens", input_tokens}, {"output_tokens", 0}}}};
}

std::vector<json> MessagesOutput::start() {
  events_.clear();
  events_.push_back({{"type", "message_start"}, {"message", message_}});
  return std::move(events_);
}

void MessagesOutput::open(Kind kind, json block) {
  close();
  open_ = kind;
  message_["content"].push_back(block);
  events_.push_back({{"type", "content_block_start"}, {"index", index()}, {"content_block", std::move(block)}});
}

void MessagesOutput::close() {
  if (open_ == Kind::kNone) return;
  if (open_ == Kind::kToolUse) {
    // The block's input is the parsed arguments (an object; what was cut short by max_tokens stays {}).
    json input = json::parse(tool_input_, nullptr, false);
    message_["content"].back()["input"] = input.is_object() ? input : json::object();
    tool_input_.clear();
  }
  events_.push_back({{"type", "content_block_stop"}, {"index", index()}});
  open_ = Kind::kNone;
}

void MessagesOutput::delta(Kind kind, const std::string& text) {
  if (open_ != kind) {
    if (kind == Kind::kText) open(kind, {{"type", "text"}, {"text", ""}});
    else open(kind, {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}});
  }
  const char* key = kind == Kind::kText ? "text" : "thinking";
  json& block = message_["content"].back();
  block[key] = block[key].get<std::string>() + text;
  events_.push_back({{"type", "content_block_delta"}, {"index", index()},
                     {"delta", {{"type", kind == Kind::kText ? "text_delta" : "thinking_delta"}, {key, text}}}});
}

namespace {

// Anthropic's tool_use ids start "toolu_" where the chat completion's start "call_".
std::string tool_use_id(const std::string& call_id) {
  return "toolu_" + (call_id.rfind("call_", 0) == 0 ? call_id.substr(5) : call_id);
}

}  // namespace

std::vector<json> MessagesOutput::on_chunk(const json& chunk) {
  events_.clear();
  const auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return {};
  const json& c = (*choices)[0];
  const json& d = c.at("delta");
  if (auto r = d.find("reasoning_content"); r != d.end() && r->is_string() && !r->get_ref<const std::string&>().empty())
    delta(Kind::kThinking, r->get<std::string>());
  if (auto t = d.find("content"); t != d.end() && t->is_string() && !t->get_ref<const std::string&>().empty())
    delta(Kind::kText, t->get<std::string>());
  if (auto calls = d.find("tool_calls"); calls != d.end() && calls->is_array()) {
    for (const json& u : *calls) {
      const json& fn = u.at("function");
      if (u.contains("id"))
        open(Kind::kToolUse, {{"type", "tool_use"}, {"id", tool_use_id(u["id"].get<std::string>())},
                              {"name", fn.value("name", "")}, {"input", json::object()}});
      const std::string args = fn.value("arguments", "");
      if (open_ != Kind::kToolUse || args.empty()) continue;
      tool_input_ += args;
      events_.push_back({{"type", "content_block_delta"}, {"index", index()},
                         {"delta", {{"type", "input_json_delta"}, {"partial_json", args}}}});
    }
  }
  if (auto f = c.find("finish_reason"); f != c.end() && f->is_string()) finish_reason_ = f->get<std::string>();
  return std::move(events_);
}

std::vector<json> MessagesOutput::finish(const json& usage, const std::string& stop_sequence) {
  events_.clear();
  close();
  std::string reason = "end_turn";
  if (finish_reason_ == "length") reason = "max_tokens";
  if (finish_reason_ == "tool_calls") reason = "tool_use";
  if (finish_reason_ == "stop" && !stop_sequence.empty()) reason = "stop_sequence";
  message_["stop_reason"] = reason;
  message_["stop_sequence"] = reason == "stop_sequence" ? json(stop_sequence) : json(nullptr);
  const int64_t cached = usage.contains("prompt_tokens_details") ? usage["prompt_tokens_details"].value("cached_tokens", 0) : 0;
  message_["usage"] = {{"input_tokens", usage.value("prompt_tokens", 0) - cached},
                       {"cache_creation_input_tokens", 0},
                       {"cache_read_input_tokens", cached},
                       {"output_tokens", usage.value("completion_tokens", 0)}};
  events_.push_back({{"type", "message_delta"},
                     {"delta", {{"stop_reason", message_["stop_reason"]}, {"stop_sequence", message_["stop_sequence"]}}},
                     {"usage", message_["usage"]}});
  events_.push_back({{"type", "message_stop"}});
  return std::move(events_);
}

}  // namespace dsinfer::server
