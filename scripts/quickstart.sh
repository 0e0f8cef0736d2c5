#!/usr/bin/env bash
# Fresh machine to first tokens: installs dependencies, builds, writes the bundled default model and
# runs it. The default model is a tiny DeepSeek-V3-architecture model with RANDOM WEIGHTS and the real
# DeepSeek-V3 tokenizer: it exercises the whole engine, but its text is gibberish by construction.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
model=models/tiny-v3-random.gguf
if [ ! -f "$model" ]; then
  mkdir -p models
  ./build/bin/dsinfer synth --preset tiny-v3 --tokenizer assets/tokenizers/deepseek-v3 --out "$model"
fi
./build/bin/dsinfer run -m "$model" -p "The capital of France is" -n 32
