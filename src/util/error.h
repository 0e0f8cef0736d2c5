#pragma once
// Errors with context. Every failure the user can cause (bad file, bad config, bad request) is thrown as
// dsinfer::Error with a message that names the file, tensor or field involved; the CLI prints it and
// exits non-zero. Programming errors are not exceptions; they are asserts.

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace dsinfer {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// cat("tensor '", name, "': expected ", n) -> one string; streams every argument.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(cat(args...));
}

// Runs f(); an Error thrown inside gets `context + ": "` put in front of its message (unless it already
// starts with it).
template <class F>
auto with_context(const std::string& context, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    const std::string prefix = context + ": ";
    if (std::string_view(e.what()).substr(0, prefix.size()) == prefix) throw;
    throw Error(prefix + e.what());
  }
}

}  // namespace dsinfer
