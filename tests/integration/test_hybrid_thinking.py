"""DeepSeek-V3.1's hybrid chat format (serve --chat-format deepseek-v3.1, what a V3.1 model's template is
detected as): no thinking unless a request asks for it — chat_template_kwargs, DeepSeek's `thinking`,
reasoning_effort, the Responses API's reasoning.effort, Anthropic's `thinking` —, and V3.1's own tool-call
markup, forced or written by the model."""

import json

import anthropic
import pytest

from api_helpers import assert_no_leaks, chat, client, tokens_of
from conftest import start


@pytest.fixture(scope="module")
def hybrid(tiny_model):
    s = start(tiny_model, "--chat-format", "deepseek-v3.1", "--parallel", "4", "--ctx", "1024")
    yield s
    assert s.stop() == 0, s.log_text()


def test_thinking_only_when_asked(hybrid):
    c = client(hybrid, key="unused")
    plain = chat(c, "Why is the sky blue?", max_tokens=10)
    assert plain.choices[0].message.content and not getattr(plain.choices[0].message, "reasoning_content", None)
    assert plain.usage.completion_tokens_details.reasoning_tokens == 0
    # The generation prompt opens "<think>" instead of closing it: the random model never writes
    # "</think>", so every token is reasoning.
    for ask in [{"chat_template_kwargs": {"thinking": True}}, {"thinking": {"type": "enabled"}}, {"reasoning_effort": "high"}]:
        r = chat(c, "Why is the sky blue?", max_tokens=10, extra_body=ask)
        assert r.choices[0].message.reasoning_content and not r.choices[0].message.content, ask
        assert r.usage.completion_tokens_details.reasoning_tokens == r.usage.completion_tokens > 0
        assert r.usage.prompt_tokens == plain.usage.prompt_tokens  # "<think>" for "</think>"
    streamed = list(chat(c, "Why is the sky blue?", max_tokens=10, stream=True, extra_body={"thinking": {"type": "enabled"}}))
    assert "".join(getattr(ch.choices[0].delta, "reasoning_content", None) or "" for ch in streamed if ch.choices)

    r = c.responses.create(model="tiny", input="Why is the sky blue?", max_output_tokens=10, temperature=0,
                           reasoning={"effort": "medium"})
    assert [o.type for o in r.output] == ["reasoning"] and r.usage.output_tokens_details.reasoning_tokens > 0
    m = anthropic.Anthropic(base_url=hybrid.base, api_key="unused", max_retries=0).messages.create(
        model="tiny", max_tokens=10, messages=[{"role": "user", "content": "Why is the sky blue?"}],
        thinking={"type": "enabled", "budget_tokens": 1024}, extra_body={"temperature": 0})
    assert [b.type for b in m.content] == ["thinking"]
    assert_no_leaks(hybrid)


def test_forced_calls_use_the_v31_markup(hybrid, server):
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("get_weather", "get_time")]
    (empty_id,) = tokens_of("{}")
    forced = dict(tools=tools, tool_choice={"type": "function", "function": {"name": "get_time"}},
                  logit_bias={str(empty_id): 100}, max_tokens=40)
    r = chat(client(hybrid, key="unused"), "What time is it?", **forced)
    assert r.choices[0].finish_reason == "tool_calls"
    assert [(t.function.name, t.function.arguments) for t in r.choices[0].message.tool_calls] == [("get_time", "{}")]
    # V3.1's form is V3's without the "function" type and the ```json fences: fewer tokens for the same call.
    v3 = chat(client(server), "What time is it?", **forced)
    assert [(t.function.name, t.function.arguments) for t in v3.choices[0].message.tool_calls] == [("get_time", "{}")]
    assert r.usage.completion_tokens < v3.usage.completion_tokens - 3, (r.usage, v3.usage)
    assert_no_leaks(hybrid)


ARGS = '{"location": "Paris"}'
SCRIPT = ("Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>" + ARGS
          + "<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁calls▁end｜>")


def test_calls_the_model_writes_in_the_v31_form(tiny_model):
    s = start(tiny_model, "--chat-format", "deepseek-v3.1", "--parallel", "1", "--ctx", "512", "--scripted-answer", SCRIPT)
    try:
        c = client(s, key="unused")
        tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("get_weather", "get_time")]
        r = chat(c, "Weather and time?", tools=tools, max_tokens=100)
        msg = r.choices[0].message
        assert r.choices[0].finish_reason == "tool_calls" and msg.content == "Let me check."
        assert [(t.function.name, json.loads(t.function.arguments)) for t in msg.tool_calls] == [
            ("get_weather", json.loads(ARGS)), ("get_time", {})]
        # The conversation goes on in V3.1's form: the calls, their outputs, and the answer after them.
        history = [{"role": "user", "content": "Weather and time?"}, msg.model_dump(exclude_none=True)] + [
            {"role": "tool", "tool_call_id": t.id, "content": "ok"} for t in msg.tool_calls]
        again = c.chat.completions.create(model="tiny", messages=history, tools=tools, max_tokens=100, temperature=0)
        assert again.usage.prompt_tokens > r.usage.prompt_tokens + 20
    finally:
        assert s.stop() == 0
