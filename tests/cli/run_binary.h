#pragma once
// Runs the dsinfer binary under test and captures its exit code and output.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace dsinfer::testing {

struct RunResult {
  int exit_code;    // 128 + signal if it died from a signal
  std::string out;  // stdout + stderr
};

// `dsinfer ARGS` through the shell (ARGS may quote and redirect), with `env` ("NAME=value ...") set.
inline RunResult run_dsinfer(const std::string& args, const std::string& env = "") {
  const std::string cmd = (env.empty() ? "" : "env " + env + " ") + std::string(DSINFER_BIN) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

}  // namespace dsinfer::testing
