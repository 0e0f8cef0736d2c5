"""Fixtures: a tiny random-weight DeepSeek-V3-shaped model with the real DeepSeek-V3 tokenizer, synthesized
once per session, and `dsinfer serve` processes on free loopback ports (stopped with SIGTERM at the end,
which must exit 0). Markup a random model never writes (tool calls) comes from servers started with
`--scripted-answer TEXT`, whose answers are the tokens of TEXT (see test_openai_api.py).

DSINFER_SERVE_ARGS (space-separated) is added to every server's arguments: `DSINFER_SERVE_ARGS=--gpu` runs the
whole suite against hybrid CPU+GPU servers on a machine with a GPU."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
API_KEY = "sk-dsinfer-test"


def dsinfer_bin():
    return os.environ.get("DSINFER_BIN", str(REPO / "build" / "bin" / "dsinfer"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model, *args):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(model.parent / f"serve-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [dsinfer_bin(), "serve", "-m", str(model), "--port", str(self.port), "-t", "2", *args,
             *os.environ.get("DSINFER_SERVE_ARGS", "").split()],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dsinfer serve exited with {self.proc.returncode}: {self.log_text()}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                self.proc.kill()
                raise RuntimeError("dsinfer serve did not become healthy: " + self.log_text())
            time.sleep(0.1)

    def log_text(self):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def synth_tiny(tmp_path_factory, preset, name):
    """A random-weight model of a tiny preset with the real DeepSeek-V3 tokenizer."""
    out = tmp_path_factory.mktemp("models") / name
    subprocess.run([dsinfer_bin(), "synth", "--preset", preset, "--tokenizer",
                    str(REPO / "assets" / "tokenizers" / "deepseek-v3"), "--out", str(out)],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return synth_tiny(tmp_path_factory, "tiny-v3", "tiny.gguf")


def start(model, *args):
    return Server(model, *args)


@pytest.fixture(scope="session")
def server(tiny_model):
    s = start(tiny_model, "--parallel", "8", "--ctx", "4096", "--api-key", API_KEY)
    yield s
    assert s.stop() == 0, s.log_text()


# A reasoning model's scripted answer (serve --chat-format deepseek-r1 --scripted-answer): reasoning, a line
# of text, then two tool calls — for the Responses and Messages APIs' items and blocks.
WEATHER_ARGS = '{"location": "Paris", "unit": "celsius"}'
TIME_ARGS = '{"timezone": "Europe/Paris"}'
REASONING_SCRIPT = ("The user wants the weather and the time.</think>Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>"
                    "function<｜tool▁sep｜>get_weather\n```json\n" + WEATHER_ARGS + "\n```<｜tool▁call▁end｜>\n"
                    "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n" + TIME_ARGS
                    + "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>")


@pytest.fixture(scope="session")
def reasoning_server(tiny_model):
    s = start(tiny_model, "--chat-format", "deepseek-r1", "--parallel", "2", "--ctx", "1024",
              "--scripted-answer", REASONING_SCRIPT)
    yield s
    assert s.stop() == 0, s.log_text()
