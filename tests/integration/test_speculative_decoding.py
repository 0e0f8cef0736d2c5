"""dsinfer serve --draft (speculative decoding) against the official openai client: with the model's MTP
module or prompt lookup drafting, greedy answers are the answers of a server that does not draft — alone,
streamed, eight at once, in JSON mode — the drafts show in /metrics, and nothing leaks."""

import concurrent.futures as cf
import subprocess

import anthropic
import pytest

from api_helpers import assert_no_leaks, chat, client, metrics, tokens_of
from conftest import REPO, dsinfer_bin, start

PROMPTS = [f"Question {i}: " + "say it again and again " * (i % 3 + 1) for i in range(8)]


@pytest.fixture(scope="module")
def mtp_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tiny-mtp.gguf"
    subprocess.run([dsinfer_bin(), "synth", "--preset", "tiny-v3", "--mtp", "1", "--dtype", "q8_0", "--tokenizer",
                    str(REPO / "assets" / "tokenizers" / "deepseek-v3"), "--out", str(out)],
                   check=True, capture_output=True)
    return out


def answers(server):
    c = client(server, key="unused")
    alone = [chat(c, p, max_tokens=32).choices[0].message.content for p in PROMPTS[:4]]

    def streamed(p):
        parts = chat(client(server, key="unused"), p, max_tokens=32, stream=True)
        return "".join(ch.choices[0].delta.content or "" for ch in parts if ch.choices)

    together = list(cf.ThreadPoolExecutor(8).map(streamed, PROMPTS))
    json_mode = chat(c, "Reply in JSON", max_tokens=16, response_format={"type": "json_object"}).choices[0].message.content
    # An answer that repeats itself (two tokens pushed up): prompt lookup predicts it, drafts are accepted.
    (a,), (b,) = tokens_of(" again"), tokens_of(" and")
    looping = chat(c, "Go on", max_tokens=24, logit_bias={str(a): 30, str(b): 29}).choices[0].message.content
    # The translated APIs' streams get the tokens a step brings (two when a draft is accepted) in one piece.
    with c.responses.stream(model="tiny", input=PROMPTS[1], max_output_tokens=32, temperature=0) as stream:
        responses = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
    a_client = anthropic.Anthropic(base_url=server.base, api_key="unused", max_retries=0)
    with a_client.messages.stream(model="tiny", max_tokens=32, messages=[{"role": "user", "content": PROMPTS[1]}],
                                  extra_body={"temperature": 0}) as stream:
        messages = "".join(stream.text_stream)
    return alone, together, json_mode, looping, responses, messages


def test_drafting_servers_answer_as_the_plain_one(mtp_model):
    plain = start(mtp_model, "--parallel", "8", "--ctx", "512")
    try:
        want = answers(plain)
    finally:
        assert plain.stop() == 0
    assert want[0] == want[1][:4]
    for mode, extra in (("mtp", []), ("lookup", ["--draft-max", "4"])):
        s = start(mtp_model, "--parallel", "8", "--ctx", "512", "--draft", mode, "--draft-max-streams", "8", *extra)
        try:
            assert answers(s) == want, mode
            m = metrics(s)
            assert m["dsinfer_draft_tokens_total"] > 0, mode
            assert 0 <= m["dsinfer_draft_accepted_tokens_total"] <= m["dsinfer_draft_tokens_total"]
            if mode == "lookup":
                assert m["dsinfer_draft_accepted_tokens_total"] >= 10, m
            # sampled answers: a seed still reproduces (the draws differ from a plain server's, not their law)
            c = client(s, key="unused")
            a, b = (chat(c, "Tell a story", max_tokens=24, temperature=0.9, seed=5).choices[0].message.content
                    for _ in range(2))
            assert a == b
            assert_no_leaks(s)
        finally:
            assert s.stop() == 0, s.log_text()


def test_mtp_drafting_needs_the_module(tiny_model):
    r = subprocess.run([dsinfer_bin(), "serve", "-m", str(tiny_model), "--port", "0", "--draft", "mtp"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "num_nextn_predict_layers = 0" in r.stderr
    r = subprocess.run([dsinfer_bin(), "serve", "-m", str(tiny_model), "--port", "0", "--draft", "medusa"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "--draft" in r.stderr
