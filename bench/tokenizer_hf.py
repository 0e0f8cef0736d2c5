#!/usr/bin/env python3
"""Single-thread encode throughput of Hugging Face tokenizers with the bundled DeepSeek-V3 tokenizer.json,
on the same text as bench/tokenizer_bench.cpp (see there for how it is built).

  /work/refvenv/bin/python bench/tokenizer_hf.py
"""

import json
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench_text():
    with open(os.path.join(ROOT, "tests/tokenizer/golden/deepseek_v3_corpus.json"), encoding="utf-8") as f:
        unit = "".join(c["text"] + "\n" for c in json.load(f)["cases"])
    files = []
    for d in ["src", "docs", "tools"]:
        for dirpath, _, names in os.walk(os.path.join(ROOT, d)):
            for n in names:
                if os.path.splitext(n)[1] in (".h", ".cpp", ".md", ".py"):
                    files.append(os.path.relpath(os.path.join(dirpath, n), ROOT).replace(os.sep, "/"))
    # C++ sorts the paths as byte strings; so does this.
    for rel in sorted(files, key=lambda p: p.encode()):
        with open(os.path.join(ROOT, rel), "rb") as f:
            unit += f.read().decode("utf-8") + "\n"
    unit_bytes = unit.encode("utf-8")
    text = b""
    while len(text) < (8 << 20):
        text += unit_bytes
    return text.decode("utf-8")


def chunks(text, size=4096):
    """Pieces of at most `size` UTF-8 bytes cut after a newline (as tokenizer_bench.cpp cuts them)."""
    out, start, data = [], 0, text.encode("utf-8")
    while start < len(data):
        end = min(start + size, len(data))
        if end < len(data):
            nl = data.rfind(b"\n", start, end)
            end = nl + 1 if nl >= start else end
        out.append(data[start:end].decode("utf-8"))
        start = end
    return out


def measure(name, fn, n_bytes, runs):
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        n_tokens = fn()
        times.append(time.process_time() - t0)
    best = min(times)
    print(f"{name}: text_bytes={n_bytes} tokens={n_tokens} best={best * 1000:.0f} ms  {n_bytes / best / 1e6:.2f} MB/s "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in times)} ms)")


def main():
    tok = Tokenizer.from_file(os.path.join(ROOT, "assets/tokenizers/deepseek-v3/tokenizer.json"))
    text = bench_text()
    if len(sys.argv) > 2 and sys.argv[1] == "--dump":
        with open(sys.argv[2], "w", encoding="utf-8", newline="") as f:
            f.write(text)
    n_bytes = len(text.encode("utf-8"))
    pieces = chunks(text)
    tok.encode(text[:100000], add_special_tokens=False)  # warm up
    measure("hf chunks of <=4 KiB", lambda: sum(len(tok.encode(p, add_special_tokens=False).ids) for p in pieces),
            n_bytes, 3)
    measure("hf whole text in one call", lambda: len(tok.encode(text, add_special_tokens=False).ids), n_bytes, 1)


if __name__ == "__main__":
    main()
