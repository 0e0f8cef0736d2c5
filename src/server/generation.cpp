#include "server/generation.h"

#include <algorithm>
#include <random>

namespace dsinfer::server {

using json = ResponseJson;

std::string random_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string s = prefix;
  for (int i = 0; i < 24; ++i) s += kHex[rng() & 15];
  return s;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string dump_json(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }
std::string dump_json(const ResponseJson& j) { return j.dump(-1, ' ', false, ResponseJson::error_handler_t::replace); }

Generation::Generation(GenerationInfo info, std::shared_ptr<RequestStream> stream, std::unique_ptr<TextOutput> text,
                       ServerMetrics* metrics, std::unique_ptr<LogprobTrail> logprobs)
    : info_(std::move(info)), stream_(std::move(stream)), text_(std::move(text)), metrics_(metrics),
      logprobs_(std::move(logprobs)) {}

json Generation::chunk(json delta_or_text, const json& finish_reason, json logprobs) const {
  json choice;
  if (info_.chat) {
    choice = {{"index", info_.index}, {"delta", std::move(delta_or_text)}, {"logprobs", std::move(logprobs)}, {"finish_reason", finish_reason}};
  } else {
    choice = {{"index", info_.index}, {"text", std::move(delta_or_text)}, {"logprobs", std::move(logprobs)}, {"finish_reason", finish_reason}};
  }
  json c = {{"id", info_.id},
            {"object", info_.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", info_.created},
            {"model", info_.model},
            {"choices", json::array({std::move(choice)})}};
  if (info_.include_usage) c["usage"] = nullptr;
  return c;
}

json Generation::first_chunk() const { return chunk(json{{"role", "assistant"}, {"content", ""}}, nullptr); }

json Generation::usage() const {
  return {{"prompt_tokens", info_.prompt_tokens},
          {"completion_tokens", completion_tokens_},
          {"total_tokens", info_.prompt_tokens + completion_tokens_},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens_}}},
          {"completion_tokens_details", {{"reasoning_tokens", text_->reasoning_tokens()}}}};
}

json Generation::usage_chunk() const {
  return {{"id", info_.id},
          {"object", info_.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", info_.created},
          {"model", info_.model},
          {"choices", json::array()},
          {"usage", usage()}};
}

// One parser delta as the deltas of one or more chunks. A call streams as the OpenAI API streams it: its
// first chunk carries index, id, type and the name with empty arguments, the following ones the index and
// a piece of the arguments; an update for a call already in the chunk being built starts the next chunk.
std::vector<json> Generation::delta_json(const ChatDelta& d) {
  std::vector<json> deltas(1, json::object());
  if (!d.reasoning.empty()) deltas[0]["reasoning_content"] = d.reasoning;
  if (!d.content.empty()) deltas[0]["content"] = d.content;
  for (const auto& u : d.tool_calls) {
    json call = {{"index", u.index}};
    if (!u.name.empty()) {
      while (static_cast<int>(tool_ids_.size()) <= u.index) tool_ids_.push_back(random_id("call_"));
      call["id"] = tool_ids_[u.index];
      call["type"] = "function";
      call["function"] = {{"name", u.name}, {"arguments", u.arguments}};
    } else {
      call["function"] = {{"arguments", u.arguments}};
    }
    json* calls = &deltas.back()["tool_calls"];
    if (calls->is_array() && std::any_of(calls->begin(), calls->end(), [&](const json& c) { return c["index"] == u.index; })) {
      deltas.push_back(json::object());
      calls = &deltas.back()["tool_calls"];
    }
    calls->push_back(std::move(call));
  }
  return deltas;
}

Generation::Progress Generation::pump(const std::function<bool(const json&)>& emit, std::chrono::milliseconds timeout) {
  if (done_) return Progress::kDone;
  RequestStream::Event ev;
  if (!stream_->next(ev, timeout)) return Progress::kIdle;
  // Released logprobs entries ride on the first chunk that goes out after them.
  auto take_logprobs = [&]() -> json {
    if (!logprobs_) return nullptr;
    logprobs_->release(text_->released_bytes(), text_->content());
    return logprobs_->take();
  };
  auto send = [&](const ChatDelta& d) {
    if (d.empty()) return true;
    if (!info_.chat) return emit(chunk(d.content, nullptr, take_logprobs()));
    for (json& delta : delta_json(d))
      if (!emit(chunk(std::move(delta), nullptr, take_logprobs()))) return false;
    return true;
  };
  if (ev.prompt_pos >= 0) {  // a prompt token's logprobs (echo): they precede every answer token
    if (logprobs_ && ev.logprobs) logprobs_->set_prompt_logprobs(ev.prompt_pos, std::move(*ev.logprobs));
    return Progress::kWorking;
  }
  if (info_.echo && !echoed_) {  // the prompt, with its logprobs, before the answer's first chunk
    echoed_ = true;
    json lp = take_logprobs();
    if ((!info_.echo_text.empty() || !lp.is_null()) && !emit(chunk(info_.echo_text, nullptr, std::move(lp)))) stream_->cancel();
  }
  if (!ev.finished) {
    if (ended_) return Progress::kWorking;  // tokens sampled before the cancel took effect
    if (completion_tokens_++ == 0 && metrics_)
      metrics_->observe_ttft(std::chrono::duration<double>(std::chrono::steady_clock::now() - info_.arrival).count());
    const auto& script = info_.scripted_tokens;
    if (logprobs_ && ev.logprobs) logprobs_->add(text_->decoded_bytes(), ev.token, std::move(*ev.logprobs));
    const ChatDelta d = text_->push(script.empty() ? ev.token : script[completion_tokens_ - 1]);
    if (text_->stopped() || (!script.empty() && completion_tokens_ == static_cast<int64_t>(script.size()))) {
      ended_ = true;
      stream_->cancel();
    }
    if (!send(d)) stream_->cancel();
    return Progress::kWorking;
  }
  done_ = true;
  cached_tokens_ = stream_->stats().cached_tokens;
  if (ev.reason == FinishReason::kError) {
    error_ = ev.error.empty() ? "generation failed" : ev.error;
    finish_reason_ = "error";
    return Progress::kDone;
  }
  const bool cut_in_calls = text_->in_tool_calls();  // (the calls' end marker had not come)
  const ChatDelta last = text_->finish();
  if (ended_ || ev.reason == FinishReason::kStop || ev.reason == FinishReason::kCancelled) {
    finish_reason_ = "stop";
  } else {
    finish_reason_ = "length";
  }
  // Tool calls make it "tool_calls", unless max_tokens cut them (a call's arguments, or the calls before
  // their end marker, say in the next call's header): then "length" says that they may be incomplete.
  const auto& calls = text_->tool_calls();
  if (info_.chat && !calls.empty() && (finish_reason_ != "length" || (calls.back().complete && !cut_in_calls)))
    finish_reason_ = "tool_calls";
  if (send(last)) {
    json rest = take_logprobs();  // released by the end of the text, not yet sent
    if (logprobs_) logprobs_->drop_pending();
    emit(chunk(info_.chat ? json::object() : json(""), finish_reason_, std::move(rest)));
  } else if (logprobs_) {
    logprobs_->release(text_->released_bytes(), text_->content());
    logprobs_->drop_pending();
  }
  return Progress::kDone;
}

json Generation::response() const {
  json choice;
  if (info_.chat) {
    json message = {{"role", "assistant"}};
    const bool has_calls = !text_->tool_calls().empty();
    message["content"] = text_->content().empty() && has_calls ? json(nullptr) : json(text_->content());
    if (!text_->reasoning().empty()) message["reasoning_content"] = text_->reasoning();
    if (has_calls) {
      json calls = json::array();
      for (size_t i = 0; i < text_->tool_calls().size(); ++i) {
        const auto& c = text_->tool_calls()[i];
        calls.push_back({{"id", i < tool_ids_.size() ? tool_ids_[i] : random_id("call_")},
                         {"type", "function"},
                         {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      }
      message["tool_calls"] = std::move(calls);
    }
    choice = {{"index", info_.index}, {"message", std::move(message)}, {"logprobs", logprobs_ ? logprobs_->all() : json(nullptr)},
              {"finish_reason", finish_reason_}};
  } else {
    choice = {{"index", info_.index}, {"text", info_.echo_text + text_->content()}, {"logprobs", logprobs_ ? logprobs_->all() : json(nullptr)},
              {"finish_reason", finish_reason_}};
  }
  return {{"id", info_.id},
          {"object", info_.chat ? "chat.completion" : "text_completion"},
          {"created", info_.created},
          {"model", info_.model},
          {"choices", json::array({std::move(choice)})},
          {"usage", usage()}};
}

}  // namespace dsinfer::server
