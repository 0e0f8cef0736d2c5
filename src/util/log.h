#pragma once
// Diagnostics go to stderr so stdout stays clean for generated text and machine-readable output.

#include <iostream>

#include "util/error.h"

namespace dsinfer {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

LogLevel log_level();
void set_log_level(LogLevel level);

template <class... Args>
void log_at(LogLevel level, const Args&... args) {
  if (level < log_level()) return;
  static const char* kTags[] = {"debug", "info", "warning", "error"};
  std::cerr << "dsinfer " << kTags[static_cast<int>(level)] << ": " << cat(args...) << '\n';
}
template <class... Args>
void log_info(const Args&... args) { log_at(LogLevel::kInfo, args...); }
template <class... Args>
void log_warn(const Args&... args) { log_at(LogLevel::kWarn, args...); }
template <class... Args>
void log_error(const Args&... args) { log_at(LogLevel::kError, args...); }
template <class... Args>
void log_debug(const Args&... args) { log_at(LogLevel::kDebug, args...); }

}  // namespace dsinfer
