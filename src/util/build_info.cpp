#include "util/build_info.h"

#ifndef DSINFER_BUILD_ID
#define DSINFER_BUILD_ID "unknown"
#endif

namespace dsinfer {

const char* build_id() { return DSINFER_BUILD_ID; }

}  // namespace dsinfer
