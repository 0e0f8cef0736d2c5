"""`dsinfer serve --prefix-cache-file`: the prefix cache written at SIGTERM comes back at the next start,
so a long system prompt is not recomputed (usage.prompt_tokens_details.cached_tokens) and the answer is
the same; a damaged file or another model's is reported and ignored, never a failed start."""

import signal
import time
from pathlib import Path

from api_helpers import assert_no_leaks, client
from conftest import start

SYSTEM = ("You are a careful assistant for a team of engineers who run DeepSeek models on their own machines. "
          "Answer briefly, name the command to run, and say what could go wrong. ") * 3


def ask(server, question):
    return client(server).chat.completions.create(
        model="tiny", temperature=0, max_tokens=10,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])


def test_the_prefix_cache_survives_a_restart(tiny_model, tmp_path):
    path = tmp_path / "prefix.bin"
    first = start(tiny_model, "--prefix-cache-file", str(path))
    try:
        cold = ask(first, "How do I start the server?")
        assert cold.usage.prompt_tokens_details.cached_tokens == 0
        assert "nothing read from" in first.log_text() and "no file yet" in first.log_text()
    finally:
        assert first.stop() == 0
    assert "written to" in Path(first.log.name).read_text(), Path(first.log.name).read_text()
    assert path.stat().st_size > 0

    second = start(tiny_model, "--prefix-cache-file", str(path))
    try:
        assert "entries" in second.log_text() and "read from" in second.log_text(), second.log_text()
        warm = ask(second, "How do I start the server?")
        assert warm.choices[0].message.content == cold.choices[0].message.content
        assert warm.usage.prompt_tokens_details.cached_tokens >= 64, warm.usage
        other = ask(second, "What could go wrong?")  # the system prompt is shared too
        assert other.usage.prompt_tokens_details.cached_tokens >= 64, other.usage
        assert_no_leaks(second)
    finally:
        assert second.stop() == 0


def test_a_damaged_or_foreign_file_is_ignored(tiny_model, tmp_path):
    path = tmp_path / "prefix.bin"
    path.write_bytes(b"DSPFX001" + b"\0" * 100)
    server = start(tiny_model, "--prefix-cache-file", str(path))
    try:
        assert "damaged or truncated" in server.log_text(), server.log_text()
        assert ask(server, "Hello?").usage.prompt_tokens_details.cached_tokens == 0
    finally:
        assert server.stop() == 0
    # The file it wrote at the end belongs to this model; a server with another KV dtype ignores it.
    other = start(tiny_model, "--prefix-cache-file", str(path), "--kv-dtype", "f16")
    try:
        assert "another cache layout" in other.log_text() or "another model" in other.log_text(), other.log_text()
    finally:
        assert other.stop() == 0


def test_an_idle_server_writes_the_cache_so_a_crash_loses_little(tiny_model, tmp_path):
    path = tmp_path / "prefix.bin"
    first = start(tiny_model, "--prefix-cache-file", str(path), "--prefix-cache-save-s", "0.2")
    try:
        cold = ask(first, "How do I start the server?")
        deadline = time.time() + 20
        while not path.exists() and time.time() < deadline:
            time.sleep(0.1)
        assert path.exists()
    finally:
        first.proc.send_signal(signal.SIGKILL)  # a crash: no shutdown, no final write
        first.proc.wait()
        first.log.close()
    second = start(tiny_model, "--prefix-cache-file", str(path))
    try:
        warm = ask(second, "How do I start the server?")
        assert warm.choices[0].message.content == cold.choices[0].message.content
        assert warm.usage.prompt_tokens_details.cached_tokens >= 64, warm.usage
    finally:
        assert second.stop() == 0
