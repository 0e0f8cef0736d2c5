// Commands not implemented yet. Each says so and exits non-zero; remove an entry when its cmd_*.cpp lands.

#include "cli/commands.h"
#include "util/error.h"

namespace dsinfer::cli {


}  // namespace dsinfer::cli
