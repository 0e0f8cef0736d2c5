#pragma once
// Which dsinfer this is: "VERSION+COMMIT" (the git commit the build was configured at, "unknown" outside a
// git checkout). Printed by `dsinfer --version`; part of the identity of files whose contents depend on
// the exact kernels (the prefix-cache file).

namespace dsinfer {

const char* build_id();

}  // namespace dsinfer
