#!/usr/bin/env bash
# Hybrid CPU+GPU on a machine with an NVIDIA GPU: the GPU tests, then `dsinfer bench` of a V2-Lite-shaped
# Q4_0 model CPU-only and with --gpu (f32 and bf16 GPU weights), one after the other on the same machine.
# Binaries built elsewhere are taken from $BIN (dsinfer and the *_tests), or from build/ when unset.
# Writes the test logs and bench JSON under $OUT (default ./hybrid-out).
set -uo pipefail
OUT=${OUT:-./hybrid-out}
BIN=${BIN:-}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$OUT"
if [ -n "$BIN" ]; then
  mkdir -p build/bin build/tests
  cp "$BIN"/dsinfer build/bin/ && cp "$BIN"/*_tests build/tests/
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
lscpu | grep -E "Model name|^CPU\(s\)" | tee -a "$OUT/gpu.txt"
# The test binaries find their fixtures under the source path they were built in.
# GTEST_FILTER_<suite> narrows a suite (e.g. to its GPU tests).
for t in kernels model cli; do
  f=GTEST_FILTER_$t
  timeout ${TEST_TIMEOUT:-300} ./build/tests/${t}_tests --gtest_filter="${!f:-*}" 2>&1 | tail -60 > "$OUT/${t}_tests.log"
  echo "$t: $(grep -E '^\[  (PASSED|FAILED)' "$OUT/${t}_tests.log" | tr '\n' ' ')"
done
grep -h "seq .*ratio\|top-2\|logits of" "$OUT"/*_tests.log | head -40
if [ "${SKIP_BENCH:-0}" = 1 ]; then exit 0; fi
MODEL=${MODEL:-/tmp/v2-lite-q4_0.gguf}
# (with llama.cpp's DeepSeek vocabulary, without which llama.cpp refuses the file)
[ -f "$MODEL" ] || ./build/bin/dsinfer synth --preset v2-lite --dtype q4_0 -t "$THREADS" --out "$MODEL" \
  --tokenizer tests/tokenizer/data/ggml-vocab-deepseek-llm.gguf >/dev/null
# MODES: cpu, gpu-f32, gpu-bf16 (routed experts of prompt batches streamed to the GPU, the default), and
# gpu-f32-cpuexperts (--gpu-expert-tokens 0: routed experts always on the CPU).
for mode in ${MODES:-cpu gpu-f32 gpu-bf16 gpu-f32-cpuexperts}; do
  case $mode in
    cpu) flags="" ;;
    gpu-f32) flags="--gpu --gpu-dtype f32" ;;
    gpu-bf16) flags="--gpu --gpu-dtype bf16" ;;
    gpu-f32-cpuexperts) flags="--gpu --gpu-dtype f32 --gpu-expert-tokens 0" ;;
  esac
  ./build/bin/dsinfer bench -m "$MODEL" -p 512 -n 64 -b ${STREAMS:-16} -t "$THREADS" -r ${REPS:-2} --json $flags \
    > "$OUT/bench-$mode.json" 2> "$OUT/bench-$mode.err"
  echo "$mode: $(cat "$OUT/bench-$mode.json")" | cut -c1-600
  tail -3 "$OUT/bench-$mode.err"
done
# llama.cpp built with CUDA beside it ($LLAMA_BENCH): CPU only (no GPU device at all) and hybrid
# (every layer on the GPU but the routed experts: -ngl 99 -ot exps=CPU), same file, same threads.
if [ -n "${LLAMA_BENCH:-}" ] && [ -x "$LLAMA_BENCH" ]; then
  "$LLAMA_BENCH" -m "$MODEL" -p 512 -n 64 -t "$THREADS" -r ${REPS:-2} -ngl 0 -nopo 1 -nkvo 1 -o json > "$OUT/llama-cpu.json" 2> "$OUT/llama-cpu.err"
  "$LLAMA_BENCH" -m "$MODEL" -p 512 -n 64 -t "$THREADS" -r ${REPS:-2} -ngl 99 -ot exps=CPU -o json > "$OUT/llama-hybrid.json" 2> "$OUT/llama-hybrid.err"
  for f in llama-cpu llama-hybrid; do
    echo "$f: $(python3 -c "import json,sys; print([(r['n_prompt'], r['n_gen'], round(r['avg_ts'], 2)) for r in json.load(open('$OUT/$f.json'))])" 2>&1)"
  done
fi
