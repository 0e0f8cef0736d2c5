#!/usr/bin/env python3
"""Throughput of `dsinfer serve` (or any OpenAI-compatible server) under concurrent streams.

For each concurrency C: C client threads each stream `--rounds` completions of exactly `--tokens` tokens
(ignore_eos, greedy) at the same time; reported are the total output tokens per second over the wall time
of the level, and time to first token (median / max over all requests). Standard library only, so it
also runs against llama-server:

  bench/serve_bench.py --model /tmp/tiny.gguf                     # starts build/bin/dsinfer serve itself
  bench/serve_bench.py --url http://127.0.0.1:8080 --levels 1,4,16  # an already running server
"""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stream_completion(url, prompt, tokens, key, temperature=0.0):
    """One streamed completion; returns (time to first token, output tokens, seconds)."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = {"prompt": prompt, "max_tokens": tokens, "temperature": temperature, "stream": True, "ignore_eos": True,
            "stream_options": {"include_usage": True}, "n_predict": tokens}
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers=headers)
    r = conn.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:300]!r}")
    ttft, n, usage = None, 0, None
    for raw in r:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            break
        ev = json.loads(data)
        if ev.get("usage"):
            usage = ev["usage"]["completion_tokens"]
        for ch in ev.get("choices", []):
            if ch.get("text"):
                if ttft is None:
                    ttft = time.perf_counter() - t0
                n += 1  # a chunk per token (close enough when usage is missing)
    conn.close()
    return ttft if ttft is not None else float("nan"), usage if usage is not None else n, time.perf_counter() - t0


def run_level(url, conc, rounds, tokens, key, temperature):
    results, errors = [], []
    lock = threading.Lock()

    def worker(i):
        for r in range(rounds):
            try:
                res = stream_completion(url, f"Client {i} round {r}: write a long story about", tokens, key,
                                         temperature)
                with lock:
                    results.append(res)
            except Exception as e:  # noqa: BLE001 - reported, not raised
                with lock:
                    errors.append(str(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    out = sum(r[1] for r in results)
    ttfts = [r[0] for r in results]
    return {"streams": conc, "requests": len(results), "errors": len(errors), "output_tokens": out,
            "wall_s": wall, "tokens_per_s": out / wall, "per_stream_tokens_per_s": out / wall / conc,
            "ttft_median_s": statistics.median(ttfts) if ttfts else float("nan"),
            "ttft_max_s": max(ttfts) if ttfts else float("nan"), "first_error": errors[0] if errors else ""}


def wait_health(url, proc, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("server did not become healthy")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (else --model starts dsinfer serve)")
    ap.add_argument("--model", help="model for dsinfer serve")
    ap.add_argument("--bin", default=os.environ.get("DSINFER_BIN", os.path.join(REPO, "build", "bin", "dsinfer")))
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2, help="requests per stream, back to back")
    ap.add_argument("--threads", type=int, default=0, help="-t for dsinfer serve (0 = its default)")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--key", default="")
    ap.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    ap.add_argument("--warmup", type=int, default=1, help="requests before measuring")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    proc = None
    url = args.url
    if not url:
        if not args.model:
            sys.exit("give --url or --model")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [args.bin, "serve", "-m", args.model, "--port", str(port), "--parallel", str(max(levels)),
               "--ctx", str(args.ctx), "--queue", str(4 * max(levels))]
        if args.threads:
            cmd += ["-t", str(args.threads)]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    try:
        wait_health(url, proc, 1200)
        for _ in range(args.warmup):
            stream_completion(url, "warm up", 4, args.key)
        rows = [run_level(url, c, args.rounds, args.tokens, args.key, args.temperature) for c in levels]
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'streams':>7} {'requests':>8} {'errors':>6} {'out tok':>8} {'wall s':>7} {'total t/s':>9} "
          f"{'t/s/stream':>10} {'TTFT med':>8} {'TTFT max':>8}")
    for r in rows:
        print(f"{r['streams']:>7} {r['requests']:>8} {r['errors']:>6} {r['output_tokens']:>8} {r['wall_s']:>7.2f} "
              f"{r['tokens_per_s']:>9.1f} {r['per_stream_tokens_per_s']:>10.2f} {r['ttft_median_s']:>8.3f} "
              f"{r['ttft_max_s']:>8.3f}")
        if r["first_error"]:
            print("   first error:", r["first_error"])


if __name__ == "__main__":
    main()
