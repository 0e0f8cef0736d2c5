// Commands not implemented yet. Each says so and exits non-zero; remove an entry when its cmd_*.cpp lands.

#include "cli/commands.h"
#include "util/error.h"

namespace dsinfer::cli {

int cmd_bench(const Args&) { fail("'bench' is not implemented yet"); }
int cmd_serve(const Args&) { fail("'serve' is not implemented yet"); }

}  // namespace dsinfer::cli
