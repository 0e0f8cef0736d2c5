"""Ollama's native API (/api/chat, /api/generate, /api/tags, /api/show, /api/ps, /api/version) against the
official `ollama` client: the same answers as chat completions, newline-delimited streams that add up to
the whole answer, token counts, JSON format and schemas, thinking and tool calls with object arguments
(and their results going back), options, and Ollama-shaped errors."""

import json

import ollama
import pytest

from api_helpers import assert_no_leaks, chat, client, raw
from conftest import API_KEY, TIME_ARGS, WEATHER_ARGS

GREEDY = {"temperature": 0}


def oc(server, key=API_KEY):
    return ollama.Client(host=server.base, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def test_chat_is_the_chat_completions_answer(server):
    c, o = oc(server), client(server)
    r = c.chat(model="tiny", messages=[{"role": "user", "content": "Tell me a story"}], stream=False,
               options={**GREEDY, "num_predict": 16})
    w = chat(o, "Tell me a story", max_tokens=16)
    assert r.done and r.done_reason == "length" and r.model == "tiny" and r.created_at
    assert r.message.role == "assistant" and r.message.content == w.choices[0].message.content
    assert (r.prompt_eval_count, r.eval_count) == (w.usage.prompt_tokens, w.usage.completion_tokens)
    assert r.total_duration >= r.eval_duration > 0 and r.prompt_eval_duration > 0

    parts = list(c.chat(model="tiny", messages=[{"role": "user", "content": "Tell me a story"}], stream=True,
                        options={**GREEDY, "num_predict": 16}))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done and parts[-1].done_reason == "length"
    assert "".join(p.message.content for p in parts) == r.message.content
    assert parts[-1].eval_count == 16 and len(parts) > 2


def test_generate_with_system_and_raw_prompts(server):
    c, o = oc(server), client(server)
    g = c.generate(model="tiny", prompt="Tell me a story", system="Be brief.", options={**GREEDY, "num_predict": 10})
    w = o.chat.completions.create(model="tiny", max_tokens=10, temperature=0, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story"}])
    assert g.response == w.choices[0].message.content and g.eval_count == 10
    streamed = list(c.generate(model="tiny", prompt="Tell me a story", system="Be brief.", stream=True,
                               options={**GREEDY, "num_predict": 10}))
    assert "".join(p.response for p in streamed) == g.response
    r = c.generate(model="tiny", prompt="Once upon a time", raw=True, options={**GREEDY, "num_predict": 6})
    t = o.completions.create(model="tiny", prompt="Once upon a time", max_tokens=6, temperature=0)
    assert r.response == t.choices[0].text


def test_json_format_and_schema(server):
    c = oc(server)
    r = c.chat(model="tiny", messages=[{"role": "user", "content": "A person"}], format="json", stream=False,
               options={"num_predict": 200, "seed": 3})
    if r.done_reason == "stop":
        assert isinstance(json.loads(r.message.content), dict)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False}
    r = c.chat(model="tiny", messages=[{"role": "user", "content": "Well?"}], format=schema, stream=False,
               options={"num_predict": 40, "seed": 1})
    assert r.done_reason == "stop" and json.loads(r.message.content) in ({"ok": True}, {"ok": False})


def test_models_show_ps_version_and_root(server):
    c = oc(server)
    tags = c.list()
    assert [m.model for m in tags.models] == ["tiny"] and tags.models[0].details.family == "deepseek2"
    assert tags.models[0].size > 0 and tags.models[0].details.quantization_level == "F32"
    show = c.show("tiny")
    assert "completion" in show.capabilities and show.modelinfo["general.architecture"] == "deepseek2"
    assert show.modelinfo["deepseek2.kv_lora_rank"] == 16
    assert [m.model for m in c.ps().models] == ["tiny"]
    status, _, body = raw(server, "GET", "/api/version")
    assert status == 200 and json.loads(body)["version"]
    status, _, body = raw(server, "GET", "/")
    assert status == 200 and b"running" in body


def test_bad_requests_get_ollama_errors(server):
    c = oc(server)
    for kw, needle in [({"messages": []}, "'messages' must be a non-empty array"),
                       ({"messages": [{"role": "user", "content": "x"}], "options": {"num_predict": 0}}, "options.num_predict"),
                       ({"messages": [{"role": "user", "content": "x", "images": ["aGk="]}]}, "reads text only"),
                       ({"messages": [{"role": "user", "content": "x"}], "options": {"temperature": "hot"}}, "options.temperature"),
                       ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role")]:
        with pytest.raises(ollama.ResponseError) as e:
            c.chat(model="tiny", stream=False, **kw)
        assert e.value.status_code == 400 and needle in e.value.error, (kw, e.value.error)
    status, _, body = raw(server, "POST", "/api/chat", body=b"{not json")
    assert status == 400 and "error" in json.loads(body) and set(json.loads(body)) == {"error"}
    status, _, body = raw(server, "POST", "/api/chat", body=b"{}", key="wrong")
    assert status == 401 and set(json.loads(body)) == {"error"}
    with pytest.raises(ollama.ResponseError) as e:
        oc(server, key="wrong").list()
    assert e.value.status_code == 401
    assert_no_leaks(server)


# The scripted answer of conftest.reasoning_server: reasoning, a line of text, two tool calls.
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a place", "parameters": {
             "type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string"}}}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {
             "type": "object", "properties": {"timezone": {"type": "string"}}}}}]


def test_thinking_and_tool_calls(reasoning_server):
    c = oc(reasoning_server, key="unused")
    ask = [{"role": "user", "content": "Weather and time in Paris?"}]
    r = c.chat(model="tiny", messages=ask, tools=TOOLS, stream=False, options={"num_predict": 300})
    assert r.message.thinking == "The user wants the weather and the time." and r.message.content == "Let me check."
    assert [(t.function.name, dict(t.function.arguments)) for t in r.message.tool_calls] == [
        ("get_weather", json.loads(WEATHER_ARGS)), ("get_time", json.loads(TIME_ARGS))]
    assert r.done_reason == "stop"
    parts = list(c.chat(model="tiny", messages=ask, tools=TOOLS, stream=True, options={"num_predict": 300}))
    assert "".join(p.message.thinking or "" for p in parts) == r.message.thinking
    assert "".join(p.message.content for p in parts) == r.message.content
    calls = [t for p in parts for t in (p.message.tool_calls or [])]
    assert [(t.function.name, dict(t.function.arguments)) for t in calls] == [
        (t.function.name, dict(t.function.arguments)) for t in r.message.tool_calls]
    # The results go back as tool messages after the assistant's turn.
    turn = ask + [r.message.model_dump(exclude_none=True),
                  {"role": "tool", "content": "18 C, sunny", "tool_name": "get_weather"},
                  {"role": "tool", "content": "14:05", "tool_name": "get_time"}]
    again = c.chat(model="tiny", messages=turn, tools=TOOLS, stream=False, options={"num_predict": 300})
    assert again.prompt_eval_count > r.prompt_eval_count + 10
    assert_no_leaks(reasoning_server)
