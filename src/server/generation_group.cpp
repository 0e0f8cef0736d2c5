#include "server/generation_group.h"

#include <algorithm>

#include "util/error.h"

namespace dsinfer::server {

using json = ResponseJson;
using Progress = Generation::Progress;

GenerationGroup::GenerationGroup(std::vector<std::unique_ptr<Generation>> choices) : choices_(std::move(choices)) {
  if (choices_.empty()) fail("GenerationGroup: no choices");
}

bool GenerationGroup::all_done() const {
  return std::all_of(choices_.begin(), choices_.end(), [](const auto& c) { return c->done(); });
}

Progress GenerationGroup::pump(const std::function<bool(const json&)>& emit, std::chrono::milliseconds timeout) {
  using namespace std::chrono;
  const auto until = steady_clock::now() + timeout;
  for (;;) {
    // Whatever is ready in any choice, without waiting.
    bool progressed = false;
    for (auto& c : choices_)
      if (!c->done()) progressed |= c->pump(emit, milliseconds(0)) != Progress::kIdle;
    if (all_done()) return Progress::kDone;
    if (progressed) return Progress::kWorking;
    const auto left = duration_cast<milliseconds>(until - steady_clock::now());
    if (left <= milliseconds(0)) return Progress::kIdle;
    // Then wait on the first unfinished choice: all the time that is left when it is the only one, else
    // briefly, so that another choice's tokens do not wait behind it.
    Generation& first = **std::find_if(choices_.begin(), choices_.end(), [](const auto& c) { return !c->done(); });
    const bool alone = choices_.size() == 1;
    if (first.pump(emit, alone ? left : std::min(left, milliseconds(2))) != Progress::kIdle)
      return all_done() ? Progress::kDone : Progress::kWorking;
  }
}

std::vector<json> GenerationGroup::first_chunks() const {
  std::vector<json> out;
  for (const auto& c : choices_) out.push_back(c->first_chunk());
  return out;
}

namespace {

// `into`'s usage summed over the choices' (parts[i] of choices[i]): completion tokens of every choice,
// prompt (and cached) tokens once per prompt.
void sum_usage(json& into, const std::vector<json>& parts, const std::vector<std::unique_ptr<Generation>>& choices) {
  int64_t prompt = 0, cached = 0, completion = 0, reasoning = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const json& u = parts[i]["usage"];
    completion += u["completion_tokens"].get<int64_t>();
    reasoning += u["completion_tokens_details"]["reasoning_tokens"].get<int64_t>();
    if (!choices[i]->info().counts_prompt) continue;
    prompt += u["prompt_tokens"].get<int64_t>();
    cached += u["prompt_tokens_details"]["cached_tokens"].get<int64_t>();
  }
  json& u = into["usage"];
  u["prompt_tokens"] = prompt;
  u["completion_tokens"] = completion;
  u["total_tokens"] = prompt + completion;
  u["prompt_tokens_details"]["cached_tokens"] = cached;
  u["completion_tokens_details"]["reasoning_tokens"] = reasoning;
}

}  // namespace

json GenerationGroup::usage_chunk() const {
  std::vector<json> parts;
  for (const auto& c : choices_) parts.push_back(c->usage_chunk());
  json out = parts[0];
  sum_usage(out, parts, choices_);
  return out;
}

json GenerationGroup::response() const {
  std::vector<json> parts;
  for (const auto& c : choices_) parts.push_back(c->response());
  json out = parts[0];
  out["choices"] = json::array();
  for (const json& p : parts) out["choices"].push_back(p["choices"][0]);
  sum_usage(out, parts, choices_);
  return out;
}

bool GenerationGroup::failed() const {
  return std::any_of(choices_.begin(), choices_.end(), [](const auto& c) { return c->failed(); });
}

std::string GenerationGroup::error() const {
  for (const auto& c : choices_)
    if (c->failed()) return c->error();
  return {};
}

void GenerationGroup::cancel() {
  for (auto& c : choices_) c->cancel();
}

}  // namespace dsinfer::server
