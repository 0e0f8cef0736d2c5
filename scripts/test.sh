#!/usr/bin/env bash
# Builds dsinfer with its tests and runs the whole suite: the GoogleTest executables through CTest,
# then the Python integration tests (real openai client against dsinfer serve) from the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh -DDSINFER_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j "$(nproc)"
if compgen -G "tests/integration/test_*.py" > /dev/null; then
  DSINFER_BIN="$PWD/build/bin/dsinfer" .venv/bin/python -m pytest -q tests/integration
fi
