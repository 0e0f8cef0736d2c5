"""dsinfer serve against the official openai client: the API contract, batching that does not change
results, cancellation on disconnect, refusals under load, and a clean shutdown. The model is tiny with
random weights, so its text is gibberish, but it is deterministic token for token."""

import array
import concurrent.futures as cf
import http.client
import json
import math
import re
import signal
import subprocess
import threading
import time

import anthropic
import openai
import pytest

from api_helpers import assert_no_leaks, chat, client, metrics, raw, tokens_of, wait_idle
from conftest import API_KEY, dsinfer_bin, start


def test_models_and_health(server):
    models = client(server).models.list()
    assert [m.id for m in models.data] == ["tiny"]
    assert client(server).models.retrieve("tiny").id == "tiny"
    assert models.data[0].max_model_len == 4096  # --ctx: what a request may fill (vLLM's field)
    with pytest.raises(openai.NotFoundError):
        client(server).models.retrieve("gpt-4")
    status, _, body = raw(server, "GET", "/health", key=None)  # no key needed for health checks
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_chat_non_streaming_and_usage(server):
    r = chat(client(server), "Hello there", max_tokens=8)
    assert r.object == "chat.completion"
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("length", "stop")
    assert r.usage.prompt_tokens > 0
    assert 0 < r.usage.completion_tokens <= 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_streaming_matches_non_streaming(server):
    c = client(server)
    whole = chat(c, "Tell me a story", max_tokens=16)
    chunks = list(chat(c, "Tell me a story", max_tokens=16, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole.choices[0].message.content
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_completions_streaming_and_not(server):
    c = client(server)
    whole = c.completions.create(model="tiny", prompt="The quick brown fox", max_tokens=10, temperature=0)
    assert whole.object == "text_completion" and whole.usage.completion_tokens <= 10
    parts = list(c.completions.create(model="tiny", prompt="The quick brown fox", max_tokens=10, temperature=0,
                                      stream=True))
    assert "".join(p.choices[0].text for p in parts) == whole.choices[0].text
    ids = c.completions.create(model="tiny", prompt=[100, 200, 300], max_tokens=3, temperature=0)
    assert ids.usage.prompt_tokens == 3


def test_stop_sequences_cut_the_text(server):
    c = client(server)
    free = c.completions.create(model="tiny", prompt="Once upon a time", max_tokens=24, temperature=0).choices[0].text
    stop = next(free[i:i + 3] for i in range(4, len(free) - 3) if free[i:i + 3].strip())
    cut = c.completions.create(model="tiny", prompt="Once upon a time", max_tokens=24, temperature=0, stop=[stop])
    assert cut.choices[0].text == free[:free.find(stop)]
    assert cut.choices[0].finish_reason == "stop"
    streamed = "".join(p.choices[0].text for p in c.completions.create(
        model="tiny", prompt="Once upon a time", max_tokens=24, temperature=0, stop=stop, stream=True))
    assert streamed == free[:free.find(stop)]


def test_seed_reproducibility(server):
    c = client(server)
    a = chat(c, "Pick a word", temperature=1.0, seed=1234, max_tokens=16).choices[0].message.content
    b = chat(c, "Pick a word", temperature=1.0, seed=1234, max_tokens=16).choices[0].message.content
    d = chat(c, "Pick a word", temperature=1.0, seed=4321, max_tokens=16).choices[0].message.content
    assert a == b
    assert a != d


def reference_greedy(model, tmp_path, prompt, n):
    """Greedy decoding by `dsinfer logits` (the single-sequence forward pass, no server): per generated
    token its id, its log-probability and the sorted log-probabilities of all tokens."""
    ids, steps = list(prompt), []
    for _ in range(n):
        out = tmp_path / "logits.bin"
        subprocess.run([dsinfer_bin(), "logits", "-m", str(model), "--ids", ",".join(map(str, ids)), "--out", str(out)],
                       check=True, capture_output=True)
        row = array.array("f", out.read_bytes())
        vocab = len(row) // len(ids)
        row = row[(len(ids) - 1) * vocab:]
        top = max(range(vocab), key=row.__getitem__)
        lse = row[top] + math.log(sum(math.exp(x - row[top]) for x in row))
        steps.append((top, row[top] - lse, sorted((x - lse for x in row), reverse=True)))
        ids.append(top)
    return steps


def test_logprobs_are_the_models_own(server, tiny_model, tmp_path):
    c = client(server)
    prompt = [100, 200, 300, 400]
    ref = reference_greedy(tiny_model, tmp_path, prompt, 5)
    r = c.completions.create(model="tiny", prompt=prompt, max_tokens=5, temperature=0, logprobs=3)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 5
    assert "".join(lp.tokens) == r.choices[0].text
    assert lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset)
    for i, (_, want, ranked) in enumerate(ref):
        assert abs(lp.token_logprobs[i] - want) < 1e-3, i
        top = list(lp.top_logprobs[i].values())  # most likely first; the sampled (greedy) token leads
        assert lp.top_logprobs[i][lp.tokens[i]] == lp.token_logprobs[i] == top[0]
        for got, w in zip(top, ranked[:3]):
            assert abs(got - w) < 1e-3, i
    # The first token banned by logit_bias: another one comes, its logprob the model's (raw) for that token.
    banned = c.completions.create(model="tiny", prompt=prompt, max_tokens=1, temperature=0, logprobs=1,
                                  logit_bias={str(ref[0][0]): -100})
    assert banned.choices[0].logprobs.token_logprobs[0] < ref[0][1]
    assert abs(banned.choices[0].logprobs.token_logprobs[0] - ref[0][2][1]) < 1e-3  # the runner-up


def test_chat_logprobs_streamed_and_not(server):
    c = client(server)
    whole = chat(c, "Count to three", max_tokens=10, logprobs=True, top_logprobs=2)
    entries = whole.choices[0].logprobs.content
    assert len(entries) == whole.usage.completion_tokens
    assert b"".join(bytes(e.bytes) for e in entries).decode() == whole.choices[0].message.content
    for e in entries:
        assert e.logprob <= 0 and len(e.top_logprobs) == 2
        assert e.top_logprobs[0].token == e.token and e.top_logprobs[0].logprob == e.logprob
        assert e.top_logprobs[1].logprob <= e.logprob
    chunks = list(chat(c, "Count to three", max_tokens=10, logprobs=True, top_logprobs=2, stream=True))
    streamed = [e for ch in chunks if ch.choices and ch.choices[0].logprobs for e in ch.choices[0].logprobs.content]
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in entries]
    plain = chat(c, "Count to three", max_tokens=10)
    assert plain.choices[0].logprobs is None and plain.choices[0].message.content == whole.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as e:
        chat(c, "hi", logprobs=True, top_logprobs=21)
    assert e.value.body["param"] == "top_logprobs"


def test_logit_bias_presence_and_frequency_penalties(server):
    c = client(server)

    def tokens(**kw):
        r = c.completions.create(model="tiny", prompt=[100, 200, 300], max_tokens=8, temperature=0, logprobs=0, **kw)
        return r.choices[0].logprobs.tokens

    forced = tokens(logit_bias={"1000": 10})
    assert len(set(forced)) == 1  # +10 outweighs the random model's spread of logits
    # frequency_penalty grows with every repeat until the bias no longer wins; presence_penalty does not grow
    freq = tokens(logit_bias={"1000": 10}, frequency_penalty=2)
    assert freq[0] == forced[0] and 1 <= freq.count(forced[0]) < 8
    assert tokens(logit_bias={"1000": 10}, presence_penalty=2) == forced
    assert tokens(logit_bias={"1000": 10}, presence_penalty=0, frequency_penalty=0) == forced
    for bad in [{"logit_bias": {"abc": 1}}, {"logit_bias": {"1000": 200}}, {"logit_bias": {str(10**7): 1}},
                {"presence_penalty": 3}, {"frequency_penalty": -2.5}]:
        with pytest.raises(openai.BadRequestError) as e:
            tokens(**bad)
        assert e.value.body["param"] == next(iter(bad)), bad
    assert_no_leaks(server)


def test_cors_only_for_the_origins_given(server, tiny_model):
    # Default: no CORS headers, so a browser page cannot read the answers of a local server.
    status, headers, _ = raw(server, "GET", "/v1/models", headers={"Origin": "http://localhost:3000"})
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    s = start(tiny_model, "--parallel", "2", "--ctx", "256", "--api-key", API_KEY,
              "--cors", "http://localhost:3000/,https://ui.example")
    try:
        preflight = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, content-type"}
        status, headers, _ = raw(s, "OPTIONS", "/v1/chat/completions", key=None, headers=preflight)
        assert status == 204, headers  # no API key needed: browsers send none with a preflight
        assert headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        assert "POST" in headers["Access-Control-Allow-Methods"]
        assert headers["Access-Control-Allow-Headers"] == "authorization, content-type"
        status, headers, data = raw(s, "OPTIONS", "/v1/chat/completions", key=None,
                                    headers={**preflight, "Origin": "http://evil.example"})
        assert status == 403 and "Access-Control-Allow-Origin" not in headers
        assert json.loads(data)["error"]["code"] == "cors_origin_not_allowed"
        body = json.dumps({"prompt": "hi", "max_tokens": 2, "stream": True}).encode()
        status, headers, data = raw(s, "POST", "/v1/completions", body, headers={"Origin": "https://ui.example"})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://ui.example"
        assert data.rstrip().endswith(b"data: [DONE]")
        status, headers, _ = raw(s, "GET", "/v1/models", key="wrong", headers={"Origin": "https://ui.example"})
        assert status == 401 and headers["Access-Control-Allow-Origin"] == "https://ui.example"  # readable error
        status, headers, _ = raw(s, "GET", "/v1/models", headers={"Origin": "http://evil.example"})
        assert status == 200 and "Access-Control-Allow-Origin" not in headers
        # The official client is unaffected (it sends no Origin).
        assert client(s).models.list().data[0].id
    finally:
        assert s.stop() == 0, s.log_text()
    bad = subprocess.run([dsinfer_bin(), "serve", "-m", str(tiny_model), "--port", "0", "--cors", "localhost:3000"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "--cors" in bad.stderr


def test_n_choices_are_independent_samples(server):
    c = client(server)
    greedy = chat(c, "Name a colour", max_tokens=8)
    three = chat(c, "Name a colour", max_tokens=8, n=3)
    assert [ch.index for ch in three.choices] == [0, 1, 2]
    assert all(ch.message.content == greedy.choices[0].message.content for ch in three.choices)
    assert three.usage.prompt_tokens == greedy.usage.prompt_tokens
    assert three.usage.completion_tokens == 3 * greedy.usage.completion_tokens
    # With a seed, choice i samples as a single request with seed + i would.
    kw = dict(max_tokens=10, temperature=1.0, seed=7)
    two = chat(c, "Name a colour", n=2, **kw)
    singles = [chat(c, "Name a colour", **{**kw, "seed": 7 + i}).choices[0].message.content for i in range(2)]
    assert [ch.message.content for ch in two.choices] == singles
    assert singles[0] != singles[1]
    # Streamed: chunks of both choices, each ending once; per index the same text as not streamed.
    chunks = list(chat(c, "Name a colour", n=2, stream=True, stream_options={"include_usage": True}, **kw))
    texts, finishes = {0: "", 1: ""}, {0: [], 1: []}
    for ch in chunks:
        for choice in ch.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index].append(choice.finish_reason)
    assert [texts[0], texts[1]] == singles
    assert finishes == {0: ["length"], 1: ["length"]}
    assert chunks[-1].usage.completion_tokens == two.usage.completion_tokens == 20
    completions = c.completions.create(model="tiny", prompt="Colours:", max_tokens=6, n=2, **{k: kw[k] for k in ("temperature", "seed")})
    assert [ch.index for ch in completions.choices] == [0, 1] and completions.usage.completion_tokens == 12
    assert_no_leaks(server)


def test_echo_scores_the_prompt(server, tiny_model, tmp_path):
    """What evaluation harnesses (lm-evaluation-harness's local-completions) ask for: the prompt echoed with
    each token's logprob, max_tokens 0."""
    c = client(server)
    ids = [100, 200, 300, 400, 500, 600]
    out = tmp_path / "logits.bin"
    subprocess.run([dsinfer_bin(), "logits", "-m", str(tiny_model), "--ids", ",".join(map(str, ids)), "--out", str(out)],
                   check=True, capture_output=True)
    rows = array.array("f", out.read_bytes())
    vocab = len(rows) // len(ids)
    want = []
    for i in range(1, len(ids)):
        row = rows[(i - 1) * vocab:i * vocab]
        m = max(row)
        want.append(row[ids[i]] - m - math.log(sum(math.exp(x - m) for x in row)))
    for _ in range(2):  # the second time the prompt is in the prefix cache: it is scored all the same
        r = c.completions.create(model="tiny", prompt=ids, max_tokens=0, echo=True, logprobs=1)
        lp = r.choices[0].logprobs
        assert r.usage.completion_tokens == 0 and r.choices[0].finish_reason == "length"
        assert len(lp.tokens) == len(ids) and lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
        assert "".join(lp.tokens) == r.choices[0].text
        for got, w in zip(lp.token_logprobs[1:], want):
            assert abs(got - w) < 1e-3
        assert lp.text_offset == sorted(lp.text_offset) and lp.text_offset[0] == 0
    # With an answer: the prompt's entries, then the answer's; streamed the same.
    whole = c.completions.create(model="tiny", prompt=ids, max_tokens=3, echo=True, logprobs=2, temperature=0)
    plain = c.completions.create(model="tiny", prompt=ids, max_tokens=3, temperature=0)
    assert whole.choices[0].text == r.choices[0].text + plain.choices[0].text
    lp = whole.choices[0].logprobs
    assert len(lp.tokens) == len(ids) + 3 and lp.token_logprobs[1:len(ids)] == r.choices[0].logprobs.token_logprobs[1:]
    parts = list(c.completions.create(model="tiny", prompt=ids, max_tokens=3, echo=True, logprobs=2, temperature=0,
                                      stream=True))
    assert "".join(p.choices[0].text for p in parts) == whole.choices[0].text
    assert [t for p in parts if p.choices[0].logprobs for t in p.choices[0].logprobs.tokens] == lp.tokens
    text = c.completions.create(model="tiny", prompt="Grüße aus Köln", max_tokens=1, echo=True, temperature=0)
    assert text.choices[0].text.startswith("Grüße aus Köln")
    only = c.completions.create(model="tiny", prompt="Grüße aus Köln", max_tokens=0, echo=True)
    assert only.choices[0].text == "Grüße aus Köln" and only.choices[0].logprobs is None
    with pytest.raises(openai.BadRequestError) as e:
        c.completions.create(model="tiny", prompt=ids, max_tokens=0)
    assert e.value.body["param"] == "max_tokens"
    assert_no_leaks(server)


def test_several_prompts_in_one_request(server):
    c = client(server)
    prompts = ["The sky is", "Bread is made of"]
    singles = [c.completions.create(model="tiny", prompt=p, max_tokens=5, temperature=0) for p in prompts]
    batch = c.completions.create(model="tiny", prompt=prompts, max_tokens=5, temperature=0, n=2)
    assert [ch.index for ch in batch.choices] == [0, 1, 2, 3]  # prompt i's answers at i * n + j
    assert [ch.text for ch in batch.choices] == [singles[0].choices[0].text] * 2 + [singles[1].choices[0].text] * 2
    assert batch.usage.prompt_tokens == sum(s.usage.prompt_tokens for s in singles)  # each prompt once
    assert batch.usage.completion_tokens == 2 * sum(s.usage.completion_tokens for s in singles)
    texts = {}
    for part in c.completions.create(model="tiny", prompt=prompts, max_tokens=5, temperature=0, stream=True):
        for ch in part.choices:
            texts[ch.index] = texts.get(ch.index, "") + ch.text
    assert texts == {0: singles[0].choices[0].text, 1: singles[1].choices[0].text}
    # A scoring batch: token-id prompts echoed with their logprobs, nothing generated.
    scored = c.completions.create(model="tiny", prompt=[[100, 200, 300], [400, 500]], max_tokens=0, echo=True, logprobs=0)
    assert [len(ch.logprobs.tokens) for ch in scored.choices] == [3, 2]
    assert all(ch.logprobs.token_logprobs[0] is None and ch.logprobs.token_logprobs[1] < 0 for ch in scored.choices)
    with pytest.raises(openai.BadRequestError) as e:
        c.completions.create(model="tiny", prompt=["x"] * 5, max_tokens=1, n=16)
    assert e.value.body["param"] == "n"
    assert_no_leaks(server)


def test_json_mode_answers_are_json_objects(server):
    c = client(server)
    # The random model, steered by logit_bias towards tokens that JSON mode must still filter: '{', then
    # '}' — the object is complete, and the answer ends there ("stop"), though no end-of-sequence came.
    (open_id,), (close_id,), (word_id,) = tokens_of("{"), tokens_of("}"), tokens_of("hello")
    bias = {str(open_id): 100, str(close_id): 100, str(word_id): 100}
    r = chat(c, "Reply in JSON", max_tokens=20, logit_bias=bias, response_format={"type": "json_object"})
    assert r.choices[0].message.content == "{}" and r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 2
    free = chat(c, "Reply in JSON", max_tokens=20, logit_bias=bias)  # without JSON mode the bias runs free
    assert free.choices[0].finish_reason == "length" and free.choices[0].message.content.startswith("{{")
    # Unsteered: whatever the random model picks is a prefix of a JSON object; sampled answers that end
    # before max_tokens parse as one.
    for seed in range(3):
        r = chat(c, "Reply in JSON", max_tokens=24, temperature=1.0, seed=seed, response_format={"type": "json_object"})
        text = r.choices[0].message.content
        assert text.startswith("{"), text
        if r.choices[0].finish_reason == "stop":
            assert isinstance(json.loads(text), dict)
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chat(
        c, "Reply in JSON", max_tokens=20, logit_bias=bias, response_format={"type": "json_object"}, stream=True) if ch.choices)
    assert streamed == "{}"
    assert_no_leaks(server)


def test_reasoning_content_with_the_r1_template(tiny_model):
    # The R1 generation prompt opens "<think>\n": the answer is reasoning until "</think>" (which this
    # random model never writes), so everything lands in reasoning_content.
    s = start(tiny_model, "--chat-format", "deepseek-r1", "--parallel", "2", "--ctx", "256")
    try:
        c = client(s, key="unused")
        r = chat(c, "Why is the sky blue?", max_tokens=10)
        assert r.choices[0].message.reasoning_content
        assert not r.choices[0].message.content
        # every token was reasoning (as DeepSeek's API reports it, in the openai package's own type)
        assert r.usage.completion_tokens_details.reasoning_tokens == r.usage.completion_tokens > 0
        streamed = list(chat(c, "Why is the sky blue?", max_tokens=10, stream=True))
        reasoning = "".join(getattr(ch.choices[0].delta, "reasoning_content", None) or "" for ch in streamed)
        assert reasoning == r.choices[0].message.reasoning_content
    finally:
        assert s.stop() == 0


def test_prefix_completion_continues_the_last_message(server):
    """DeepSeek's chat prefix completion ("prefix": true on a last assistant message) and vLLM's
    continue_final_message: the answer goes on from the prefix, exactly as a completion of the rendered
    conversation without its end-of-sentence would."""
    c = client(server)
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Sure, here is", "prefix": True}]
    r = c.chat.completions.create(model="tiny", messages=turns, max_tokens=10, temperature=0)
    raw_prompt = c.completions.create(model="tiny", prompt="<｜User｜>Hi<｜Assistant｜>Sure, here is", max_tokens=10,
                                      temperature=0)
    assert r.choices[0].message.content == raw_prompt.choices[0].text and r.choices[0].message.content
    assert r.usage.prompt_tokens == raw_prompt.usage.prompt_tokens
    vllm = c.chat.completions.create(model="tiny", messages=[turns[0], {"role": "assistant", "content": "Sure, here is"}],
                                     max_tokens=10, temperature=0, extra_body={"continue_final_message": True})
    assert vllm.choices[0].message.content == r.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hi", "prefix": True}], max_tokens=2)
    assert e.value.body["param"] == "messages"


def test_tool_calls_request_is_accepted(server):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                               "parameters": {"type": "object",
                                                              "properties": {"city": {"type": "string"}}}}}]
    r = chat(client(server), "Weather in Paris?", tools=tools, tool_choice="auto", max_tokens=8)
    assert r.choices[0].finish_reason in ("length", "stop", "tool_calls")
    # The tools are described to the model (DeepSeek's templates leave them out).
    plain = chat(client(server), "Weather in Paris?", max_tokens=1)
    assert r.usage.prompt_tokens > plain.usage.prompt_tokens + 50
    none = chat(client(server), "Weather in Paris?", tools=tools, tool_choice="none", max_tokens=1)
    assert none.usage.prompt_tokens == plain.usage.prompt_tokens
    history = [{"role": "user", "content": "Weather in Paris?"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"}]
    r = client(server).chat.completions.create(model="tiny", messages=history, tools=tools, max_tokens=4,
                                               temperature=0)
    assert r.choices[0].message.role == "assistant"


def test_forced_tool_choice_makes_the_model_call(server):
    """tool_choice "required" / a named function is enforced, not only asked for: the answer is tool-call
    markup with a function from `tools` and JSON-object arguments (the random model alone would never
    write it)."""
    c = client(server)
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
             for n in ("get_weather", "get_time", "get_timezone")]
    (empty_id,) = tokens_of("{}")
    bias = {str(empty_id): 100}  # empty arguments, so that calls end within max_tokens
    named = {"type": "function", "function": {"name": "get_time"}}
    r = chat(c, "What time is it?", tools=tools, tool_choice=named, logit_bias=bias, max_tokens=80)
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls" and msg.content is None
    assert [(t.function.name, t.function.arguments) for t in msg.tool_calls] == [("get_time", "{}")]
    streamed = list(chat(c, "What time is it?", tools=tools, tool_choice=named, logit_bias=bias, max_tokens=80,
                         stream=True))
    names = [tc.function.name for ch in streamed if ch.choices and ch.choices[0].delta.tool_calls
             for tc in ch.choices[0].delta.tool_calls if tc.function and tc.function.name]
    assert names == ["get_time"] and streamed[-1].choices[0].finish_reason == "tool_calls"
    for seed in range(3):  # "required": one or more calls, each of a function from the list
        r = chat(c, "Help me", tools=tools, tool_choice="required", logit_bias=bias, max_tokens=120, temperature=1.0,
                 seed=seed)
        calls = r.choices[0].message.tool_calls or []
        assert calls and all(t.function.name in ("get_weather", "get_time", "get_timezone") for t in calls)
        if r.choices[0].finish_reason == "tool_calls":
            assert all(json.loads(t.function.arguments) == {} for t in calls)
    for seed in range(3):  # parallel_tool_calls false: exactly one
        r = chat(c, "Help me", tools=tools, tool_choice="required", parallel_tool_calls=False, logit_bias=bias,
                 max_tokens=120, temperature=1.0, seed=seed)
        assert r.choices[0].finish_reason == "tool_calls" and len(r.choices[0].message.tool_calls) == 1
    free = chat(c, "What time is it?", tools=tools, tool_choice="auto", logit_bias=bias, max_tokens=8)
    assert not free.choices[0].message.tool_calls  # "auto" leaves it to the model
    with pytest.raises(openai.BadRequestError) as e:
        chat(c, "hi", tools=tools, tool_choice="required", response_format={"type": "json_object"})
    assert e.value.body["param"] == "response_format"
    assert_no_leaks(server)


def test_tokenize_and_detokenize_endpoints(server):
    """llama-server's token endpoints, for clients that count tokens with the model's own tokenizer."""
    text = "Grüße, world!"
    status, _, data = raw(server, "POST", "/tokenize", json.dumps({"content": text}).encode())
    assert status == 200
    ids = json.loads(data)["tokens"]
    assert ids == tokens_of(text)  # the same as `dsinfer tokenize`
    status, _, data = raw(server, "POST", "/tokenize", json.dumps({"content": text, "add_special": True,
                                                                   "with_pieces": True}).encode())
    pieces = json.loads(data)["tokens"]
    assert [p["id"] for p in pieces[1:]] == ids and len(pieces) == len(ids) + 1  # BOS first
    assert "".join(p["piece"] for p in pieces[1:]) == text
    status, _, data = raw(server, "POST", "/detokenize", json.dumps({"tokens": ids}).encode())
    assert status == 200 and json.loads(data)["content"] == text
    for path, body in [("/tokenize", {"content": 5}), ("/tokenize", {"content": "x", "add_special": "yes"}),
                       ("/detokenize", {"tokens": [1, -1]}), ("/detokenize", {"tokens": [10**9]}),
                       ("/detokenize", {"tokens": "1"})]:
        status, _, data = raw(server, "POST", path, json.dumps(body).encode())
        assert status == 400 and json.loads(data)["error"]["message"], (path, body)
    status, _, _ = raw(server, "POST", "/tokenize", json.dumps({"content": "x"}).encode(), key="wrong")
    assert status == 401


def test_fill_in_the_middle_with_suffix(server):
    """IDE plugins complete code with prompt + suffix: DeepSeek's FIM prompt, [BOS] <｜fim▁begin｜> prefix
    <｜fim▁hole｜> suffix <｜fim▁end｜>, the same tokens as writing it out by hand."""
    c = client(server)
    prefix, suffix = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"
    fim = c.completions.create(model="tiny", prompt=prefix, suffix=suffix, max_tokens=8, temperature=0)
    (bos,), (begin,), (hole,), (end,) = (tokens_of(t) for t in ("<｜begin▁of▁sentence｜>", "<｜fim▁begin｜>",
                                                                   "<｜fim▁hole｜>", "<｜fim▁end｜>"))
    ids = [bos, begin] + tokens_of(prefix) + [hole] + tokens_of(suffix) + [end]
    by_hand = c.completions.create(model="tiny", prompt=ids, max_tokens=8, temperature=0)
    assert fim.usage.prompt_tokens == len(ids)
    assert fim.choices[0].text == by_hand.choices[0].text
    for bad in [dict(prompt=[1, 2], suffix="x"), dict(prompt=["a", "b"], suffix="x"), dict(prompt="a", suffix="x", echo=True),
                dict(prompt="a", suffix=3)]:
        with pytest.raises(openai.BadRequestError):
            c.completions.create(model="tiny", max_tokens=2, **bad)


def test_authentication(server):
    with pytest.raises(openai.AuthenticationError) as e:
        chat(client(server, key="wrong"), "hi")
    assert e.value.status_code == 401
    status, _, body = raw(server, "GET", "/v1/models", key=None)
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"


def test_bad_requests_get_openai_errors(server):
    c = client(server)
    with pytest.raises(openai.BadRequestError) as e:
        chat(c, "hi", n=17)
    assert e.value.status_code == 400 and e.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="tiny", messages=[])
    with pytest.raises(openai.BadRequestError):
        chat(c, "hi", temperature=7)
    with pytest.raises(openai.BadRequestError) as e:
        chat(c, "hi", max_tokens=100000)
    with pytest.raises(openai.BadRequestError) as e:
        chat(c, "word " * 5000, max_tokens=4)
    assert e.value.body["code"] == "context_length_exceeded"
    for body in [b"{not json", b"[]", b'{"messages": "x"}', b'{"messages": [{"role": "user", "content": "x"}], '
                 b'"max_tokens": 1e400}', b"\xff\xfe", json.dumps({"messages": [{"role": "user", "content": "x"}],
                                                                    "stop": [1, 2]}).encode()]:
        status, headers, data = raw(server, "POST", "/v1/chat/completions", body)
        assert status == 400, body
        err = json.loads(data)["error"]
        assert err["message"] and err["type"] == "invalid_request_error" and "param" in err and "code" in err
    status, _, data = raw(server, "GET", "/v1/nothing")
    assert status == 404 and json.loads(data)["error"]["message"]
    status, _, data = raw(server, "POST", "/v1/completions", b'{"prompt": "' + b"a" * (9 << 20) + b'"}')
    assert status == 413
    assert_no_leaks(server)


PROMPTS = [f"Prompt number {i}: " + "tell me something " * (i % 4 + 1) for i in range(8)]


def test_eight_concurrent_greedy_streams_equal_each_alone(server):
    c = client(server)
    alone = [chat(c, p, max_tokens=24) for p in PROMPTS]

    def streamed(p):
        parts = list(chat(client(server), p, max_tokens=24, stream=True))
        return "".join(ch.choices[0].delta.content or "" for ch in parts if ch.choices)

    barrier_pool = cf.ThreadPoolExecutor(8)
    together = list(barrier_pool.map(streamed, PROMPTS))
    for p, a, t in zip(PROMPTS, alone, together):
        assert t == a.choices[0].message.content, p
    assert_no_leaks(server)


def test_prefix_reuse_is_reported(server):
    c = client(server)
    system = "You are a careful assistant. " * 12
    before = metrics(server)
    for q in ["first question", "second question", "third question"]:
        c.chat.completions.create(model="tiny", max_tokens=4, temperature=0,
                                  messages=[{"role": "system", "content": system}, {"role": "user", "content": q}])
    after = metrics(server)
    assert after["dsinfer_prefix_cache_hits_total"] - before["dsinfer_prefix_cache_hits_total"] >= 2
    assert after["dsinfer_prefix_cache_tokens_total"] > before["dsinfer_prefix_cache_tokens_total"]
    r = c.chat.completions.create(model="tiny", max_tokens=4, temperature=0,
                                  messages=[{"role": "system", "content": system}, {"role": "user", "content": "x"}])
    assert r.usage.prompt_tokens_details.cached_tokens > 0


def assert_cancelled_early(server, before):
    """A 4000-token generation was cancelled (not finished) and left no slot or page behind."""
    m = wait_idle(server)
    assert m['dsinfer_requests_finished_total{reason="cancelled"}'] > \
        before['dsinfer_requests_finished_total{reason="cancelled"}']
    assert m["dsinfer_generated_tokens_total"] - before["dsinfer_generated_tokens_total"] < 4000
    assert_no_leaks(server)


def test_client_disconnect_cancels_generation(server):
    before = metrics(server)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/v1/chat/completions", body=json.dumps({
        "messages": [{"role": "user", "content": "go on forever"}], "max_tokens": 4000, "temperature": 0,
        "stream": True, "ignore_eos": True}), headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200
    r.fp.readline()  # the first event arrived: generation is running
    conn.sock.shutdown(2)
    conn.close()
    assert_cancelled_early(server, before)


def test_client_disconnect_cancels_a_non_streamed_generation(server):
    before = metrics(server)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/v1/completions", body=json.dumps({
        "prompt": "go on forever", "max_tokens": 4000, "temperature": 0, "ignore_eos": True}),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    time.sleep(0.3)
    conn.sock.shutdown(2)  # gone before the answer
    conn.close()
    assert_cancelled_early(server, before)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def test_bounded_load_only_deliberate_429s(tiny_model):
    # 4 sequences at once and 4 waiting: 16 clients must see some 429s, and nothing else go wrong — over
    # every generating API (chat streamed, completions, Responses streamed, Anthropic's Messages).
    s = start(tiny_model, "--parallel", "4", "--queue", "4", "--ctx", "256")
    try:
        def one(i):
            c = client(s, key="unused")
            try:
                if i % 4 == 1:
                    r = c.completions.create(model="tiny", prompt=f"load {i % 5}", max_tokens=8, temperature=0)
                    return r.usage.completion_tokens
                if i % 4 == 2:
                    events = list(c.responses.create(model="tiny", input=f"load {i % 5}", max_output_tokens=8,
                                                     temperature=0, stream=True))
                    assert events[-1].type in ("response.completed", "response.incomplete")
                    return len(events)
                if i % 4 == 3:
                    m = anthropic.Anthropic(base_url=s.base, api_key="unused", max_retries=0).messages.create(
                        model="tiny", max_tokens=8, messages=[{"role": "user", "content": f"load {i % 5}"}])
                    return m.usage.output_tokens
                parts = list(chat(c, f"load {i % 5}", max_tokens=8, stream=True))
                return len(parts)
            except (openai.RateLimitError, anthropic.RateLimitError) as e:
                assert e.response.headers.get("retry-after") == "1"
                return "429"

        rss = []
        outcomes = []
        for _ in range(3):
            with cf.ThreadPoolExecutor(16) as pool:
                outcomes += list(pool.map(one, range(48)))
            assert_no_leaks(s)
            rss.append(rss_kb(s.proc.pid))
        assert "429" in outcomes
        assert sum(1 for o in outcomes if o != "429") >= 24
        assert rss[2] - rss[0] < 32 * 1024, rss  # memory flat across repeats (KiB)
        m = metrics(s)
        assert m['dsinfer_requests_rejected_total{reason="queue_full"}'] == outcomes.count("429")
        assert m['dsinfer_requests_finished_total{reason="error"}'] == 0
    finally:
        assert s.stop() == 0


def test_sigterm_ends_streams_and_exits_zero(tiny_model):
    s = start(tiny_model, "--parallel", "2", "--ctx", "8192")
    got = {}

    def stream():
        parts = list(chat(client(s, key="unused"), "long answer", max_tokens=8000, stream=True,
                          extra_body={"ignore_eos": True}))
        got["n"] = len(parts)
        got["finish"] = [p.choices[0].finish_reason for p in parts if p.choices and p.choices[0].finish_reason]

    t = threading.Thread(target=stream)
    t.start()
    time.sleep(0.5)
    assert s.stop() == 0
    t.join(timeout=30)
    assert not t.is_alive()
    assert got["finish"] == ["stop"]  # the stream ended cleanly with a finish chunk and [DONE]


# A scripted answer (serve --scripted-answer: the tokens of this text replace what the random model samples)
# with two tool calls, one in each DeepSeek markup form.
WEATHER_ARGS = '{"location": "San Francisco, CA", "unit": "celsius", "days": [1, 2, 3], "note": "``` <b>"}'
TIME_ARGS = '{"timezone": "America/Los_Angeles"}'
SCRIPTED_CALLS = ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
                  + WEATHER_ARGS + "\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>" + TIME_ARGS
                  + "<｜tool▁call▁end｜><｜tool▁calls▁end｜>")
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
              "location": {"type": "string"}, "unit": {"type": "string"}}}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {
             "timezone": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def scripted_server(tiny_model):
    s = start(tiny_model, "--parallel", "2", "--ctx", "1024", "--scripted-answer", SCRIPTED_CALLS)
    yield s
    assert s.stop() == 0, s.log_text()


def accumulate(chunks):
    """What clients do with streamed tool calls: the first chunk of a call brings its id, type and name
    (arguments ""), later ones only the index and a piece of the arguments. Returns the calls and how many
    arguments pieces each got."""
    calls, pieces = [], []
    for ch in chunks:
        for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
            if tc.id is not None:
                assert tc.index == len(calls)
                assert tc.type == "function" and tc.function.name and tc.function.arguments == ""
                calls.append({"id": tc.id, "name": tc.function.name, "arguments": ""})
                pieces.append(0)
            else:
                assert tc.index == len(calls) - 1 and tc.type is None and tc.function.name is None
                calls[tc.index]["arguments"] += tc.function.arguments
                pieces[tc.index] += 1
    return calls, pieces


def test_streamed_tool_calls_arrive_in_pieces_that_add_up(scripted_server):
    c = client(scripted_server, key="unused")
    whole = chat(c, "Weather and time in San Francisco?", tools=TOOLS, max_tokens=300)
    msg = whole.choices[0].message
    assert whole.choices[0].finish_reason == "tool_calls"
    assert msg.content is None
    assert [(t.type, t.function.name, t.function.arguments) for t in msg.tool_calls] == [
        ("function", "get_weather", WEATHER_ARGS), ("function", "get_time", TIME_ARGS)]

    chunks = list(chat(c, "Weather and time in San Francisco?", tools=TOOLS, max_tokens=300, stream=True))
    calls, pieces = accumulate(chunks)
    assert [(t["name"], t["arguments"]) for t in calls] == [(t.function.name, t.function.arguments)
                                                            for t in msg.tool_calls]
    assert all(n > 1 for n in pieces), pieces  # streamed piecewise, not in one chunk
    assert all(t["id"].startswith("call_") for t in calls) and calls[0]["id"] != calls[1]["id"]
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == ""
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["tool_calls"]

    # The openai package's own stream accumulation gives the non-streamed message.
    with c.chat.completions.stream(model="tiny", messages=[{"role": "user", "content": "Weather?"}], tools=TOOLS,
                                   max_tokens=300, temperature=0) as stream:
        final = stream.get_final_completion()
    assert [(t.function.name, t.function.arguments) for t in final.choices[0].message.tool_calls] == [
        (t.function.name, t.function.arguments) for t in msg.tool_calls]
    assert final.choices[0].finish_reason == "tool_calls"


def test_tool_call_cut_by_max_tokens(scripted_server, tiny_model):
    # Cut at a token boundary inside the first call's arguments.
    out = subprocess.run([dsinfer_bin(), "tokenize", "-m", str(tiny_model), "--no-bos", "--json", SCRIPTED_CALLS],
                         check=True, capture_output=True, text=True).stdout
    pieces = [t["piece"] for t in json.loads(out)]
    args_at = SCRIPTED_CALLS.index(WEATHER_ARGS)
    n, text = 0, ""
    while len(text) < args_at + 20:
        text += pieces[n]
        n += 1
    c = client(scripted_server, key="unused")
    whole = chat(c, "Weather?", tools=TOOLS, max_tokens=n)
    assert whole.choices[0].finish_reason == "length"
    (call,) = whole.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert WEATHER_ARGS.startswith(call.function.arguments) and 0 < len(call.function.arguments) < len(WEATHER_ARGS)
    chunks = list(chat(c, "Weather?", tools=TOOLS, max_tokens=n, stream=True))
    calls, _ = accumulate(chunks)
    assert [(t["name"], t["arguments"]) for t in calls] == [(call.function.name, call.function.arguments)]
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["length"]
