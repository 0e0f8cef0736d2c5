#pragma once
// A one-line progress bar on stderr, drawn only when stderr is a terminal.

#include <cstdint>
#include <string>

namespace dsinfer {

class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total);
  ~ProgressBar();
  void update(uint64_t done);
  void finish();

 private:
  std::string label_;
  uint64_t total_;
  int last_percent_ = -1;
  bool enabled_;
  bool finished_ = false;
};

}  // namespace dsinfer
