#pragma once
// The logprobs of an OpenAI response, kept in step with its text. Each generated token's log-probabilities
// arrive from the scheduler with the token; its entry is released once some of the token's text has left
// the stop-sequence matcher (so a streamed chunk carries the entries of the text it carries), and entries
// whose text never comes out — a matched stop sequence, an end-of-sequence token — are dropped at the end.
// Rendered in the chat form ({"content": [{token, logprob, bytes, top_logprobs}]}) or the legacy
// completions form ({tokens, token_logprobs, top_logprobs, text_offset}).

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace dsinfer::server {

class LogprobTrail {
 public:
  LogprobTrail(const Tokenizer& tokenizer, bool chat) : tokenizer_(tokenizer), chat_(chat) {}

  // Completions with echo: the prompt's tokens come first, token i's text starting at byte starts[i] of
  // the echoed `text`; their logprobs arrive by set_prompt_logprobs (the first token has none: null).
  void set_prompt(const std::vector<int32_t>& ids, const std::vector<int64_t>& starts, const std::string& text);
  void set_prompt_logprobs(int64_t pos, TokenLogprobs logprobs);

  // A token whose text starts at byte `start` of the generated (decoded, not yet stop-matched) text.
  void add(int64_t start, int32_t token, TokenLogprobs logprobs);
  // The first `released` bytes of the generated text have come out; `text` is the text out so far (for
  // the completions form's character offsets; it may be empty in the chat form).
  void release(int64_t released, const std::string& text);
  // End of the answer: what is still pending never produced text that came out.
  void drop_pending() { pending_.clear(); }

  // The entries released since the last take, as a chunk's "logprobs" (null when there are none).
  nlohmann::ordered_json take();
  // Every released entry, as the whole response's "logprobs".
  nlohmann::ordered_json all() const { return render(0, entries_.size()); }

 private:
  struct Entry {
    int64_t start = 0;        // byte offset in the generated text
    int64_t char_offset = 0;  // completions: characters before it in the text that came out (echo included)
    int32_t token = -1;
    std::optional<TokenLogprobs> logprobs;  // none: the echoed prompt's first token
  };
  const Tokenizer& tokenizer_;
  bool chat_;
  std::deque<Entry> pending_;
  std::vector<Entry> entries_;  // released, in order
  size_t taken_ = 0;            // entries_[0, taken_) went out in chunks
  int64_t counted_bytes_ = 0, counted_chars_ = 0;  // character offset bookkeeping over `text`
  int64_t echo_chars_ = 0;                          // characters of the echoed prompt, before the answer

  nlohmann::ordered_json render(size_t begin, size_t end) const;
};

}  // namespace dsinfer::server
