#pragma once
// The choices of one request (the OpenAI API's `n`): a Generation per choice, each on its own scheduler
// stream (so the choices are decoded side by side in the same batches), merged into one stream of chunks
// (each carrying its choice's index) and one response (choices in index order, usage summed over them
// with the prompt counted once). A request with n = 1 is a group of one.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/generation.h"

namespace dsinfer::server {

class GenerationGroup {
 public:
  explicit GenerationGroup(std::vector<std::unique_ptr<Generation>> choices);

  // As Generation::pump over every choice: chunks of whichever choices have tokens; kDone once all are
  // done; kIdle when none had anything within `timeout`.
  Generation::Progress pump(const std::function<bool(const ResponseJson&)>& emit, std::chrono::milliseconds timeout);

  std::vector<ResponseJson> first_chunks() const;  // chat: each choice's delta with the role
  ResponseJson usage_chunk() const;                 // streaming, include_usage
  ResponseJson response() const;                    // after kDone
  bool failed() const;
  std::string error() const;  // the first failed choice's
  const Generation& choice(size_t i) const { return *choices_[i]; }
  void cancel();

 private:
  std::vector<std::unique_ptr<Generation>> choices_;
  bool all_done() const;
};

}  // namespace dsinfer::server
