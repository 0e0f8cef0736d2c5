#pragma once
// One generation as the HTTP layer sees it: a scheduler stream plus the text pipeline, turning events
// into OpenAI JSON objects (chat.completion / chat.completion.chunk / text_completion). Shared by the
// streaming (SSE) and the plain response paths; no network code here, so tests can drive it directly.
// The objects keep their keys in the order they are built (ordered_json): the OpenAI API's order, and
// top_logprobs from the most likely token down.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/scheduler.h"
#include "server/logprob_trail.h"
#include "server/metrics.h"
#include "server/text_output.h"

namespace dsinfer::server {

using ResponseJson = nlohmann::ordered_json;

struct GenerationInfo {
  bool chat = true;
  std::string id;       // "chatcmpl-…" / "cmpl-…" (shared by the n choices of a request)
  int index = 0;        // the choice's index (requests with n > 1 or several prompts)
  bool counts_prompt = true;  // the first choice of its prompt: the group's usage counts its prompt tokens
  int64_t created = 0;  // unix seconds
  std::string model;
  int64_t prompt_tokens = 0;
  bool include_usage = false;  // streaming: a last chunk with usage
  std::chrono::steady_clock::time_point arrival = std::chrono::steady_clock::now();  // for time to first token
  // Testing aid (serve --scripted-answer): the answer's tokens are these instead of the sampled ones, and it
  // ends after the last of them as at an end of sequence (max_tokens still cuts it). Empty: off.
  std::vector<int32_t> scripted_tokens;
  // Completions with echo: the text starts with the prompt's (and, with logprobs, so do the logprobs,
  // whose trail holds the prompt's tokens: LogprobTrail::set_prompt).
  bool echo = false;
  std::string echo_text;
};

class Generation {
 public:
  // logprobs: the request asked for them (the stream's tokens carry them); null: "logprobs": null.
  Generation(GenerationInfo info, std::shared_ptr<RequestStream> stream, std::unique_ptr<TextOutput> text,
             ServerMetrics* metrics, std::unique_ptr<LogprobTrail> logprobs = nullptr);

  enum class Progress { kIdle, kWorking, kDone };
  // Waits up to `timeout` for the next scheduler event and hands the resulting stream chunks (if any) to
  // `emit` (which returns false when the client is gone). kIdle: nothing happened within the timeout.
  Progress pump(const std::function<bool(const ResponseJson&)>& emit, std::chrono::milliseconds timeout);

  ResponseJson first_chunk() const;  // chat: the delta with the role
  ResponseJson usage_chunk() const;  // streaming, include_usage
  ResponseJson response() const;     // the whole non-streamed answer (after kDone)
  bool done() const { return done_; }
  const GenerationInfo& info() const { return info_; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  void cancel() { stream_->cancel(); }
  const std::string& finish_reason() const { return finish_reason_; }
  const std::string& stop_sequence() const { return text_->stop_sequence(); }  // the stop string that ended it, or ""

 private:
  GenerationInfo info_;
  std::shared_ptr<RequestStream> stream_;
  std::unique_ptr<TextOutput> text_;
  ServerMetrics* metrics_;
  std::unique_ptr<LogprobTrail> logprobs_;
  int64_t completion_tokens_ = 0;
  int64_t cached_tokens_ = 0;
  bool ended_ = false;  // a stop string matched or the scripted answer ran out: the cancel is on its way
  bool done_ = false;
  bool echoed_ = false;  // the echo chunk went out (streaming)
  std::string finish_reason_;
  std::string error_;
  std::vector<std::string> tool_ids_;

  ResponseJson chunk(ResponseJson delta_or_text, const ResponseJson& finish_reason,
                       ResponseJson logprobs = nullptr) const;
  std::vector<ResponseJson> delta_json(const ChatDelta& d);
  ResponseJson usage() const;
};

std::string random_id(const char* prefix);  // prefix + 24 random hex digits
int64_t unix_now();                         // seconds since 1970 ("created")
// JSON text that never throws on odd bytes (invalid UTF-8 becomes U+FFFD).
std::string dump_json(const nlohmann::json& j);
std::string dump_json(const ResponseJson& j);

}  // namespace dsinfer::server
