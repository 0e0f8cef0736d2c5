"""Anthropic's Messages API (POST /v1/messages), which DeepSeek's own API also serves, against the official
anthropic client: the same answers as chat completions, streamed events that the client's own accumulation
accepts, stop sequences, token counting, tool use with its results, thinking blocks, structured outputs,
Anthropic-shaped errors and the x-api-key header."""

import http.client
import json
from typing import Literal

import anthropic
import pytest
from pydantic import BaseModel

from api_helpers import assert_no_leaks, chat, client, tokens_of
from conftest import API_KEY, TIME_ARGS, WEATHER_ARGS

GREEDY = {"temperature": 0}  # (the current anthropic package no longer sends sampling fields itself)


def amsg(server, key=API_KEY):
    return anthropic.Anthropic(base_url=server.base, api_key=key, max_retries=0, timeout=60)


def create(c, content, **kw):
    kw.setdefault("max_tokens", 12)
    kw.setdefault("extra_body", GREEDY)
    return c.messages.create(model="tiny", messages=[{"role": "user", "content": content}], **kw)


def text_of(m):
    return "".join(b.text for b in m.content if b.type == "text")


def test_a_message_is_the_chat_completions_answer(server):
    c, o = amsg(server), client(server)
    m = create(c, "Tell me a story", max_tokens=16)
    w = chat(o, "Tell me a story", max_tokens=16)
    assert m.type == "message" and m.role == "assistant" and m.model == "tiny" and m.id.startswith("msg_")
    assert text_of(m) == w.choices[0].message.content and [b.type for b in m.content] == ["text"]
    assert (m.usage.input_tokens, m.usage.output_tokens) == (w.usage.prompt_tokens, w.usage.completion_tokens)
    assert m.stop_reason == ("max_tokens" if w.choices[0].finish_reason == "length" else "end_turn")
    # a system prompt, as a string or as text blocks, is the chat's system message
    sys = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story"}]
    w = o.chat.completions.create(model="tiny", messages=sys, max_tokens=12, temperature=0)
    assert text_of(create(c, "Tell me a story", system="Be brief.")) == w.choices[0].message.content
    m = create(c, [{"type": "text", "text": "Tell me a story"}], system=[{"type": "text", "text": "Be brief."}])
    assert text_of(m) == w.choices[0].message.content
    assert c.messages.count_tokens(model="tiny", system="Be brief.", messages=[
        {"role": "user", "content": "Tell me a story"}]).input_tokens == w.usage.prompt_tokens
    assert_no_leaks(server)


def test_models_list_for_anthropic_clients(server):
    (m,) = amsg(server).models.list().data
    assert m.id == "tiny" and m.type == "model" and m.display_name == "tiny" and m.created_at.year >= 2026


def test_streamed_events_build_the_same_message(server):
    c = amsg(server)
    whole = create(c, "Tell me a story", max_tokens=10)
    with c.messages.stream(model="tiny", max_tokens=10, messages=[{"role": "user", "content": "Tell me a story"}],
                           extra_body=GREEDY) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1 and "".join(pieces) == text_of(whole) == text_of(final)
    assert final.stop_reason == whole.stop_reason and final.usage.output_tokens == whole.usage.output_tokens

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/v1/messages", body=json.dumps({
        "model": "tiny", "max_tokens": 10, "temperature": 0, "stream": True,
        "messages": [{"role": "user", "content": "Tell me a story"}]}),
        headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01", "Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200
    frames = [dict(line.split(": ", 1) for line in f.split("\n")) for f in r.read().decode().split("\n\n") if f.strip()]
    conn.close()
    names = [f["event"] for f in frames]
    assert all(json.loads(f["data"])["type"] == f["event"] for f in frames)
    n = names.count("content_block_delta")
    assert names == ["message_start", "content_block_start"] + ["content_block_delta"] * n + [
        "content_block_stop", "message_delta", "message_stop"]
    assert json.loads(frames[0]["data"])["message"]["usage"]["input_tokens"] == whole.usage.input_tokens
    assert_no_leaks(server)


def test_stop_sequences_say_which_one_ended_it(server):
    c = amsg(server)
    free = text_of(create(c, "Once upon a time", max_tokens=24))
    stop = next(free[i:i + 3] for i in range(4, len(free) - 3) if free[i:i + 3].strip())
    m = create(c, "Once upon a time", max_tokens=24, stop_sequences=["never-there", stop])
    assert text_of(m) == free[:free.find(stop)]
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == stop


class Verdict(BaseModel):
    ok: bool
    level: Literal["low", "high"]


def test_structured_output_with_messages_parse(server):
    c = amsg(server)
    for seed in range(3):
        m = c.messages.parse(model="tiny", max_tokens=80, messages=[{"role": "user", "content": "Judge it"}],
                             output_format=Verdict, extra_body={"temperature": 1.0, "seed": seed})
        assert m.stop_reason == "end_turn" and isinstance(m.parsed_output, Verdict)
    assert_no_leaks(server)


def test_forced_tool_use(server):
    """tool_choice "tool" and "any" are enforced (the random model alone would never call)."""
    c = amsg(server)
    tools = [{"name": n, "input_schema": {"type": "object"}} for n in ("get_weather", "get_time")]
    (empty_id,) = tokens_of("{}")
    body = {"temperature": 0, "logit_bias": {str(empty_id): 100}}  # empty arguments, so that calls end soon
    m = create(c, "What time is it?", max_tokens=80, tools=tools, tool_choice={"type": "tool", "name": "get_time"},
               extra_body=body)
    assert m.stop_reason == "tool_use" and [(b.type, b.name, b.input) for b in m.content] == [("tool_use", "get_time", {})]
    m = create(c, "Help me", max_tokens=120, tools=tools, tool_choice={"type": "any", "disable_parallel_tool_use": True},
               extra_body=body)
    assert m.stop_reason == "tool_use" and len(m.content) == 1 and m.content[0].name in ("get_weather", "get_time")
    assert_no_leaks(server)


def test_bad_messages_requests_get_anthropic_errors(server):
    c = amsg(server)
    cases = [
        ({"model": "tiny", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "tiny", "max_tokens": 4, "messages": []}, "messages"),
        ({"model": "tiny", "max_tokens": 4, "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"model": "tiny", "max_tokens": 4, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]}]}, "messages[0].content[0].type"),
        ({"model": "tiny", "max_tokens": 4, "messages": [{"role": "user", "content": "x"}],
          "tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools[0].type"),
        ({"model": "tiny", "max_tokens": 4, "messages": [{"role": "user", "content": "x"}],
          "tools": [{"name": "f"}]}, "tools[0].input_schema"),
        ({"model": "tiny", "max_tokens": 4, "messages": [{"role": "user", "content": "x"}],
          "tool_choice": {"type": "any"}}, "tool_choice"),
        ({"model": "tiny", "max_tokens": 4, "messages": [{"role": "user", "content": "x"}],
          "stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
        ({"model": "tiny", "max_tokens": 4, "messages": [{"role": "user", "content": "word " * 5000}]}, "messages"),
    ]
    for body, field in cases:
        with pytest.raises(anthropic.BadRequestError) as e:
            c.post("/v1/messages", body=body, cast_to=object)
        err = e.value.body
        assert e.value.status_code == 400 and err["type"] == "error", body
        assert err["error"]["type"] == "invalid_request_error" and field in err["error"]["message"], (field, err)
    with pytest.raises(anthropic.AuthenticationError) as e:
        create(amsg(server, key="wrong"), "hi")
    assert e.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.NotFoundError) as e:
        c.get("/v1/messages/nothing", cast_to=object)
    assert e.value.body["type"] == "error"
    assert_no_leaks(server)


# Tools for the scripted answer of conftest.reasoning_server.
TOOLS = [{"name": "get_weather", "description": "Weather of a place",
          "input_schema": {"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string"}}}},
         {"name": "get_time", "input_schema": {"type": "object", "properties": {"timezone": {"type": "string"}}}}]


def test_thinking_text_and_tool_use_blocks(reasoning_server):
    c = amsg(reasoning_server, key="unused")
    ask = [{"role": "user", "content": "Weather and time in Paris?"}]
    m = c.messages.create(model="tiny", max_tokens=300, messages=ask, tools=TOOLS)
    assert m.stop_reason == "tool_use"
    assert [b.type for b in m.content] == ["thinking", "text", "tool_use", "tool_use"]
    thinking, text, weather, time_ = m.content
    assert thinking.thinking == "The user wants the weather and the time." and text.text == "Let me check."
    assert [(b.name, b.input) for b in (weather, time_)] == [("get_weather", json.loads(WEATHER_ARGS)),
                                                           ("get_time", json.loads(TIME_ARGS))]
    assert weather.id.startswith("toolu_") and weather.id != time_.id

    with c.messages.stream(model="tiny", max_tokens=300, messages=ask, tools=TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [(b.type, getattr(b, "input", None)) for b in m.content]
    assert final.content[0].thinking == thinking.thinking and final.stop_reason == "tool_use"
    deltas = [e.delta.type for e in events if e.type == "content_block_delta"]
    assert deltas.count("input_json_delta") > 2 and deltas.count("thinking_delta") > 2

    # The results go back as tool_result blocks after the assistant's turn.
    turn = ask + [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
                  {"role": "user", "content": [
                      {"type": "tool_result", "tool_use_id": weather.id, "content": "18 C, sunny"},
                      {"type": "tool_result", "tool_use_id": time_.id, "content": [{"type": "text", "text": "14:05"}]},
                      {"type": "text", "text": "Thanks!"}]}]
    again = c.messages.create(model="tiny", max_tokens=300, messages=turn, tools=TOOLS)
    # (as Anthropic counts them, input_tokens leaves out what the prompt cache held)
    prompt = again.usage.input_tokens + again.usage.cache_read_input_tokens
    assert prompt > m.usage.input_tokens + m.usage.cache_read_input_tokens + 10
    assert again.usage.cache_read_input_tokens > 0  # the first turn's prefix was reused
    assert c.messages.count_tokens(model="tiny", messages=turn, tools=TOOLS).input_tokens == prompt
    with pytest.raises(anthropic.BadRequestError) as e:  # forcing a call needs the answer to start with it
        c.messages.create(model="tiny", max_tokens=300, messages=ask, tools=TOOLS, tool_choice={"type": "tool", "name": "get_time"})
    assert "tool_choice" in e.value.body["error"]["message"]
    assert_no_leaks(reasoning_server)
