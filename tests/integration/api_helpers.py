"""What the integration tests share: an openai client for a test server, raw HTTP, /metrics, leak checks,
and token ids of the bundled DeepSeek-V3 tokenizer."""

import http.client
import json
import subprocess
import time

import openai

from conftest import API_KEY, REPO, dsinfer_bin


def client(server, key=API_KEY):
    return openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=60)


def chat(c, content, **kw):
    kw.setdefault("temperature", 0)
    kw.setdefault("max_tokens", 12)
    return c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": content}], **kw)


def raw(server, method, path, body=None, key=API_KEY, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    h = {"Content-Type": "application/json", **(headers or {})}
    if key:
        h["Authorization"] = f"Bearer {key}"
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


def metrics(server):
    status, _, data = raw(server, "GET", "/metrics")
    assert status == 200
    out = {}
    for line in data.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def wait_idle(server, timeout=20):
    deadline = time.time() + timeout
    while True:
        m = metrics(server)
        if m["dsinfer_running_sequences"] == 0 and m["dsinfer_queue_depth"] == 0:
            return m
        assert time.time() < deadline, m
        time.sleep(0.05)


def assert_no_leaks(server):
    m = wait_idle(server)
    # Every live KV sequence is a prefix-cache entry, and every used page belongs to one.
    assert m["dsinfer_kv_sequences"] == m["dsinfer_prefix_cache_entries"], m
    assert m["dsinfer_kv_pages_used"] <= m["dsinfer_prefix_cache_pages"], m


def tokens_of(text):
    out = subprocess.run([dsinfer_bin(), "tokenize", "--tokenizer", str(REPO / "assets" / "tokenizers" / "deepseek-v3"),
                          "--no-bos", "--json", text], check=True, capture_output=True, text=True).stdout
    return [t["id"] for t in json.loads(out)]
