#include "util/log.h"

#include <atomic>

namespace dsinfer {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};
}
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }
void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
}  // namespace dsinfer
