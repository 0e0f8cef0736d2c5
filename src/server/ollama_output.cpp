// Chat completion chunks as Ollama's answer objects, and Ollama's model listings (server/ollama_api.h).

#include <ctime>

#include "server/ollama_api.h"
#include "util/error.h"

namespace dsinfer::server {

using json = OllamaOutput::json;

std::string rfc3339_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                t.tm_hour, t.tm_min, t.tm_sec, static_cast<long>(ts.tv_nsec));
  return buf;
}

OllamaOutput::OllamaOutput(std::string model, bool generate) : model_(std::move(model)), generate_(generate) {}

json OllamaOutput::line(const std::string& content, const std::string& thinking) const {
  json j = {{"model", model_}, {"created_at", rfc3339_now()}};
  if (generate_) {
    j["response"] = content;
    if (!thinking.empty()) j["thinking"] = thinking;
  } else {
    j["message"] = {{"role", "assistant"}, {"content", content}};
    if (!thinking.empty()) j["message"]["thinking"] = thinking;
  }
  j["done"] = false;
  return j;
}

std::vector<json> OllamaOutput::on_chunk(const json& chunk) {
  std::vector<json> out;
  const json* choices = chunk.contains("choices") ? &chunk["choices"] : nullptr;
  if (!choices || !choices->is_array() || choices->empty()) return out;
  const json& c = (*choices)[0];
  const json& d = c.contains("delta") ? c["delta"] : c.contains("message") ? c["message"] : c;  // streamed / whole
  std::string content = d.contains("content") && d["content"].is_string() ? d["content"].get<std::string>() : "";
  if (c.contains("text") && c["text"].is_string()) content += c["text"].get<std::string>();  // text completions
  const std::string thinking =
      d.contains("reasoning_content") && d["reasoning_content"].is_string() ? d["reasoning_content"].get<std::string>() : "";
  if (d.contains("tool_calls") && d["tool_calls"].is_array()) {
    for (const json& call : d["tool_calls"]) {
      if (!call.contains("function") || !call["function"].is_object()) continue;
      const int64_t index = call.contains("index") && call["index"].is_number_integer() ? call["index"].get<int64_t>() : -1;
      if (index < 0 || index > 1024) continue;  // (the server's own chunks number their calls from 0)
      const auto i = static_cast<size_t>(index);
      while (calls_.size() <= i) calls_.push_back({{"function", {{"name", ""}, {"arguments", ""}}}});
      const json& fn = call["function"];
      if (fn.contains("name") && fn["name"].is_string() && !fn["name"].get<std::string>().empty())
        calls_[i]["function"]["name"] = fn["name"];
      if (fn.contains("arguments") && fn["arguments"].is_string())
        calls_[i]["function"]["arguments"] = calls_[i]["function"]["arguments"].get<std::string>() + fn["arguments"].get<std::string>();
    }
  }
  if (c.contains("finish_reason") && c["finish_reason"].is_string()) finish_reason_ = c["finish_reason"];
  if ((!content.empty() || !thinking.empty()) && first_token_ == std::chrono::steady_clock::time_point{})
    first_token_ = std::chrono::steady_clock::now();
  content_ += content;
  thinking_ += thinking;
  if (!content.empty() || !thinking.empty()) out.push_back(line(content, thinking));
  return out;
}

std::vector<json> OllamaOutput::finish(const json& usage, bool streamed) {
  const auto now = std::chrono::steady_clock::now();
  if (first_token_ == std::chrono::steady_clock::time_point{}) first_token_ = now;
  auto ns = [](auto d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); };
  // Calls carry their arguments as objects (what max_tokens cut short stays {}).
  json calls = json::array();
  for (const json& c : calls_) {
    json args = json::parse(c["function"]["arguments"].get<std::string>(), nullptr, false);
    calls.push_back({{"function", {{"name", c["function"]["name"]}, {"arguments", args.is_object() ? args : json::object()}}}});
  }
  std::vector<json> out;
  json last = line(streamed ? "" : content_, streamed ? "" : thinking_);
  if (!calls.empty() && !generate_) {  // (/api/generate has no tools)
    if (streamed) {
      json l = line("", "");
      l["message"]["tool_calls"] = calls;
      out.push_back(std::move(l));
    } else {
      last["message"]["tool_calls"] = calls;
    }
  }
  last["done"] = true;
  last["done_reason"] = finish_reason_ == "length" ? "length" : "stop";
  last["total_duration"] = ns(now - start_);
  last["load_duration"] = 0;
  last["prompt_eval_count"] = usage.value("prompt_tokens", 0);
  last["prompt_eval_duration"] = ns(first_token_ - start_);
  last["eval_count"] = usage.value("completion_tokens", 0);
  last["eval_duration"] = ns(now - first_token_);
  whole_ = last;
  out.push_back(std::move(last));
  return out;
}

namespace {

// As Ollama writes it: "671.0B", "15.7B", "16.8M".
std::string parameter_size(int64_t n) {
  char buf[32];
  if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.1fB", static_cast<double>(n) / 1e9);
  else std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(n) / 1e6);
  return buf;
}

}  // namespace

json ollama_tags(const OllamaModelInfo& m, bool running) {
  json details = {{"parent_model", ""}, {"format", "gguf"}, {"family", "deepseek2"}, {"families", {"deepseek2"}},
                  {"parameter_size", parameter_size(m.parameters)},
                  {"quantization_level", m.quantization}};
  json model = {{"name", m.name}, {"model", m.name}, {"modified_at", rfc3339_now()}, {"size", m.size_bytes},
                {"digest", ""}, {"details", std::move(details)}};
  if (running) {
    model["expires_at"] = "2100-01-01T00:00:00Z";  // this server keeps its one model loaded until it stops
    model["size_vram"] = 0;
    model["context_length"] = m.context_length;
  }
  return {{"models", json::array({std::move(model)})}};
}

json ollama_show(const OllamaModelInfo& m, bool tools, bool thinking) {
  json caps = json::array({"completion"});
  if (tools) caps.push_back("tools");
  if (thinking) caps.push_back("thinking");
  json info = json::object();
  info["general.architecture"] = "deepseek2";
  info["general.parameter_count"] = m.parameters;
  for (const auto& [k, v] : m.model_info.items()) info["deepseek2." + k] = v;
  info["deepseek2.context_length"] = m.context_length;
  return {{"modelfile", ""},
          {"parameters", ""},
          {"template", ""},
          {"details", ollama_tags(m, false)["models"][0]["details"]},
          {"model_info", std::move(info)},
          {"capabilities", std::move(caps)},
          {"modified_at", rfc3339_now()}};
}

}  // namespace dsinfer::server
