#include "server/responses_output.h"

#include "server/generation.h"

namespace dsinfer::server {

using json = ResponsesOutput::json;

ResponsesOutput::ResponsesOutput(std::string id, json settings, int64_t created_at) : id_(std::move(id)) {
  response_ = {{"id", id_},          {"object", "response"},          {"created_at", created_at},
               {"status", "in_progress"}, {"error", nullptr}, {"incomplete_details", nullptr}};
  for (auto& [k, v] : settings.items()) response_[k] = v;
  response_["output"] = json::array();
  response_["usage"] = nullptr;
}

void ResponsesOutput::emit(json event) {
  event["sequence_number"] = sequence_++;
  events_.push_back(std::move(event));
}

json ResponsesOutput::snapshot() const { return response_; }

std::vector<json> ResponsesOutput::start() {
  events_.clear();
  emit({{"type", "response.created"}, {"response", snapshot()}});
  emit({{"type", "response.in_progress"}, {"response", snapshot()}});
  return std::move(events_);
}

void ResponsesOutput::open(Kind kind, json new_item) {
  if (open_ != Kind::kNone) close("completed");
  open_ = kind;
  response_["output"].push_back(std::move(new_item));
  emit({{"type", "response.output_item.added"}, {"output_index", output_index()}, {"item", item()}});
  json part;
  if (kind == Kind::kMessage) part = {{"type", "output_text"}, {"annotations", json::array()}, {"logprobs", json::array()}, {"text", ""}};
  if (kind == Kind::kReasoning) part = {{"type", "reasoning_text"}, {"text", ""}};
  if (part.is_null()) return;
  emit({{"type", "response.content_part.added"}, {"item_id", item()["id"]}, {"output_index", output_index()},
        {"content_index", 0}, {"part", part}});
  item()["content"] = json::array({std::move(part)});
}

void ResponsesOutput::close(const char* status) {
  if (open_ == Kind::kNone) return;
  json& it = item();
  const json item_id = it["id"];
  const int index = output_index();
  if (open_ == Kind::kCall) {
    emit({{"type", "response.function_call_arguments.done"}, {"item_id", item_id}, {"output_index", index},
          {"name", it["name"]}, {"arguments", it["arguments"]}});
  } else {
    const json& part = it["content"][0];
    json done = {{"type", open_ == Kind::kMessage ? "response.output_text.done" : "response.reasoning_text.done"},
                 {"item_id", item_id}, {"output_index", index}, {"content_index", 0}, {"text", part["text"]}};
    if (open_ == Kind::kMessage) done["logprobs"] = part["logprobs"];
    emit(std::move(done));
    emit({{"type", "response.content_part.done"}, {"item_id", item_id}, {"output_index", index}, {"content_index", 0},
          {"part", part}});
  }
  it["status"] = status;
  emit({{"type", "response.output_item.done"}, {"output_index", index}, {"item", it}});
  open_ = Kind::kNone;
}

void ResponsesOutput::text(Kind kind, const std::string& delta, const json& logprobs) {
  if (open_ != kind) {
    if (kind == Kind::kMessage) {
      open(kind, {{"id", random_id("msg_")}, {"type", "message"}, {"status", "in_progress"}, {"content", json::array()},
                  {"role", "assistant"}});
    } else {
      open(kind, {{"id", random_id("rs_")}, {"type", "reasoning"}, {"summary", json::array()}, {"content", json::array()},
                  {"status", "in_progress"}});
    }
  }
  json& part = item()["content"][0];
  part["text"] = part["text"].get<std::string>() + delta;
  if (kind == Kind::kMessage) {
    for (const json& e : logprobs) part["logprobs"].push_back(e);
    emit({{"type", "response.output_text.delta"}, {"item_id", item()["id"]}, {"output_index", output_index()},
          {"content_index", 0}, {"delta", delta}, {"logprobs", logprobs}});
  } else {
    emit({{"type", "response.reasoning_text.delta"}, {"item_id", item()["id"]}, {"output_index", output_index()},
          {"content_index", 0}, {"delta", delta}});
  }
}

std::vector<json> ResponsesOutput::on_chunk(const json& chunk) {
  events_.clear();
  const auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return {};
  const json& c = (*choices)[0];
  const json& d = c.at("delta");
  json logprobs = json::array();
  if (auto lp = c.find("logprobs"); lp != c.end() && lp->is_object() && lp->contains("content") && (*lp)["content"].is_array())
    logprobs = (*lp)["content"];
  if (auto r = d.find("reasoning_content"); r != d.end() && r->is_string() && !r->get_ref<const std::string&>().empty())
    text(Kind::kReasoning, r->get<std::string>(), json::array());
  if (auto t = d.find("content"); t != d.end() && t->is_string() && !t->get_ref<const std::string&>().empty())
    text(Kind::kMessage, t->get<std::string>(), logprobs);
  if (auto calls = d.find("tool_calls"); calls != d.end() && calls->is_array()) {
    for (const json& u : *calls) {
      const json& fn = u.at("function");
      if (u.contains("id")) {
        open(Kind::kCall, {{"id", random_id("fc_")}, {"type", "function_call"}, {"status", "in_progress"},
                           {"arguments", ""}, {"call_id", u["id"]}, {"name", fn.value("name", "")}});
      }
      const std::string args = fn.value("arguments", "");
      if (open_ != Kind::kCall || args.empty()) continue;
      item()["arguments"] = item()["arguments"].get<std::string>() + args;
      emit({{"type", "response.function_call_arguments.delta"}, {"item_id", item()["id"]}, {"output_index", output_index()},
            {"delta", args}});
    }
  }
  if (auto f = c.find("finish_reason"); f != c.end() && f->is_string()) finish_reason_ = f->get<std::string>();
  return std::move(events_);
}

std::vector<json> ResponsesOutput::finish(const json& usage, const std::string& error) {
  events_.clear();
  if (!usage.is_null()) {
    const auto detail = [](const json& u, const char* obj, const char* key) {
      auto o = u.find(obj);
      return o != u.end() && o->is_object() ? o->value(key, 0) : 0;
    };
    response_["usage"] = {{"input_tokens", usage.value("prompt_tokens", 0)},
                          {"input_tokens_details", {{"cached_tokens", detail(usage, "prompt_tokens_details", "cached_tokens")}}},
                          {"output_tokens", usage.value("completion_tokens", 0)},
                          {"output_tokens_details", {{"reasoning_tokens", detail(usage, "completion_tokens_details", "reasoning_tokens")}}},
                          {"total_tokens", usage.value("total_tokens", 0)}};
  }
  if (!error.empty()) {
    close("incomplete");
    emit({{"type", "error"}, {"code", "server_error"}, {"message", error}, {"param", nullptr}});
    response_["status"] = "failed";
    response_["error"] = {{"code", "server_error"}, {"message", error}};
    emit({{"type", "response.failed"}, {"response", snapshot()}});
    return std::move(events_);
  }
  const bool cut = finish_reason_ == "length";
  close(cut ? "incomplete" : "completed");
  response_["status"] = cut ? "incomplete" : "completed";
  if (cut) response_["incomplete_details"] = {{"reason", "max_output_tokens"}};
  else response_["completed_at"] = unix_now();
  emit({{"type", cut ? "response.incomplete" : "response.completed"}, {"response", snapshot()}});
  return std::move(events_);
}

}  // namespace dsinfer::server
