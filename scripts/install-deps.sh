#!/usr/bin/env bash
# Installs everything dsinfer needs to build, test and benchmark on a fresh Debian 12 machine:
# Debian packages (compiler, CMake, GoogleTest, Google Benchmark, JSON, HTTP, PCRE2, clang for fuzzing)
# and a Python venv in .venv for the integration tests (official openai client) and tools/.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config
  libgtest-dev libbenchmark-dev
  nlohmann-json3-dev libcpp-httplib-dev libpcre2-dev
  clang libclang-rt-dev
  python3 python3-venv python3-pip
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Installed again whenever the requirements changed since the last install (a venv from an older checkout).
if ! cmp -s tests/integration/requirements.txt .venv/requirements-installed.txt; then
  .venv/bin/pip install -q -r tests/integration/requirements.txt
  cp tests/integration/requirements.txt .venv/requirements-installed.txt
fi
echo "dependencies installed"
