"""The Responses API (POST /v1/responses) against the official openai client: the same answers as chat
completions, streamed events that the client's own stream accumulation accepts, conversations continued
with previous_response_id, function calls and their outputs, reasoning items, structured outputs, errors."""

import http.client
import json
from typing import Literal

import openai
import pytest
from pydantic import BaseModel

from api_helpers import assert_no_leaks, chat, client, metrics, wait_idle
from conftest import API_KEY, TIME_ARGS, WEATHER_ARGS, start


def respond(c, input, **kw):
    kw.setdefault("temperature", 0)
    kw.setdefault("max_output_tokens", 12)
    return c.responses.create(model="tiny", input=input, **kw)


def sse_events(server, body):
    """A streamed response read as raw Server-Sent Events: (event name, data) pairs."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/v1/responses", body=json.dumps({**body, "stream": True}),
                 headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream")
    events = []
    for frame in r.read().decode().split("\n\n"):
        if not frame.strip():
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    conn.close()
    return events


def test_a_response_is_the_chat_completions_answer(server):
    c = client(server)
    r = respond(c, "Tell me a story", max_output_tokens=16)
    w = chat(c, "Tell me a story", max_tokens=16)
    assert r.object == "response" and r.id.startswith("resp_") and r.model == "tiny"
    assert r.output_text == w.choices[0].message.content
    assert (r.usage.input_tokens, r.usage.output_tokens) == (w.usage.prompt_tokens, w.usage.completion_tokens)
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    if w.choices[0].finish_reason == "length":
        assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    else:
        assert r.status == "completed" and r.incomplete_details is None
    (msg,) = r.output
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert [p.type for p in msg.content] == ["output_text"]
    assert r.max_output_tokens == 16 and r.temperature == 0 and r.tools == [] and r.tool_choice == "auto"

    # instructions are a system message; a developer message is one too
    sys = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story"}]
    w = c.chat.completions.create(model="tiny", messages=sys, max_tokens=12, temperature=0)
    r = respond(c, "Tell me a story", instructions="Be brief.")
    assert r.output_text == w.choices[0].message.content and r.instructions == "Be brief."
    r = respond(c, [{"role": "developer", "content": "Be brief."},
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Tell me a story"}]}])
    assert r.output_text == w.choices[0].message.content and r.usage.input_tokens == w.usage.prompt_tokens

    # logprobs of the text, as chat completions reports them
    r = respond(c, "Tell me a story", include=["message.output_text.logprobs"], top_logprobs=2)
    w = chat(c, "Tell me a story", logprobs=True, top_logprobs=2)
    got = r.output[0].content[0].logprobs
    want = w.choices[0].logprobs.content
    assert [(g.token, g.logprob, [t.token for t in g.top_logprobs]) for g in got] == [
        (x.token, x.logprob, [t.token for t in x.top_logprobs]) for x in want] and len(got) > 0
    assert_no_leaks(server)


def test_streamed_events_build_the_same_response(server):
    c = client(server)
    whole = respond(c, "Tell me a story", max_output_tokens=10)
    events = sse_events(server, {"model": "tiny", "input": "Tell me a story", "max_output_tokens": 10, "temperature": 0})
    assert all(name == data["type"] for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    names = [name for name, _ in events]
    deltas = [data["delta"] for name, data in events if name == "response.output_text.delta"]
    assert names == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added"] + ["response.output_text.delta"] * len(deltas) + [
                     "response.output_text.done", "response.content_part.done", "response.output_item.done",
                     "response.completed" if whole.status == "completed" else "response.incomplete"]
    assert len(deltas) > 1 and "".join(deltas) == whole.output_text
    assert events[0][1]["response"]["status"] == "in_progress" and events[0][1]["response"]["output"] == []
    last = events[-1][1]["response"]
    assert last["status"] == whole.status and last["usage"]["output_tokens"] == whole.usage.output_tokens
    assert last["output"][0]["content"][0]["text"] == whole.output_text
    assert events[-2][1]["item"]["status"] == ("completed" if whole.status == "completed" else "incomplete")

    # The openai package's stream accumulation (which checks item identities and order) accepts them.
    with c.responses.stream(model="tiny", input="Tell me a story", max_output_tokens=10, temperature=0) as stream:
        got = list(stream)
    text_done = [e for e in got if e.type == "response.output_text.done"]
    assert len(text_done) == 1 and text_done[0].text == whole.output_text
    assert_no_leaks(server)


def test_previous_response_id_continues_the_conversation(server):
    c = client(server)
    first = respond(c, "Hello there", max_output_tokens=6)
    second = respond(c, "And then?", previous_response_id=first.id, max_output_tokens=6)
    history = [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": first.output_text},
               {"role": "user", "content": "And then?"}]
    by_hand = respond(c, history, max_output_tokens=6, store=False)
    w = c.chat.completions.create(model="tiny", messages=history, max_tokens=6, temperature=0)
    assert second.output_text == by_hand.output_text == w.choices[0].message.content
    assert second.usage.input_tokens == by_hand.usage.input_tokens == w.usage.prompt_tokens
    assert second.previous_response_id == first.id

    assert c.responses.retrieve(first.id).output_text == first.output_text
    # the items each request sent (newest first; the client's pagination walks the pages)
    assert [i.content[0].text if isinstance(i.content, list) else i.content for i in
            c.responses.input_items.list(second.id)] == ["And then?"]
    stored = respond(c, [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
                         {"role": "user", "content": "three"}], max_output_tokens=2)
    pages = c.responses.input_items.list(stored.id, limit=2, order="asc")
    assert len(pages.data) == 2 and pages.has_more
    assert [i.role for i in pages] == ["user", "assistant", "user"]  # iterating fetches the next page
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(by_hand.id)  # store: false
    c.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(first.id)
    with pytest.raises(openai.BadRequestError) as e:
        respond(c, "Again", previous_response_id=first.id)
    assert e.value.body["param"] == "previous_response_id" and e.value.body["code"] == "previous_response_not_found"
    assert_no_leaks(server)


def test_auto_truncation_drops_the_oldest_turns(server):
    c = client(server)
    long_turn = [{"role": "user", "content": "word " * 3000}, {"role": "assistant", "content": "ok"}]
    recent = [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hi"},
              {"role": "user", "content": "And then?"}]
    with pytest.raises(openai.BadRequestError) as e:  # the context is 4096 tokens
        respond(c, long_turn * 2 + recent, max_output_tokens=6)
    assert e.value.body["code"] == "context_length_exceeded"
    r = respond(c, long_turn * 2 + recent, max_output_tokens=6, truncation="auto")
    alone = respond(c, long_turn + recent, max_output_tokens=6)  # one long turn fits: only one is dropped
    assert r.truncation == "auto" and r.output_text == alone.output_text
    assert r.usage.input_tokens == alone.usage.input_tokens < 4096 - 6
    assert [i.role for i in c.responses.input_items.list(r.id, order="asc")] == ["user", "assistant"] + [
        m["role"] for m in recent]  # what was kept
    with pytest.raises(openai.BadRequestError):  # the last turn alone is too long: nothing to drop
        respond(c, recent + [{"role": "user", "content": "word " * 5000}], truncation="auto")
    assert_no_leaks(server)


def test_a_server_can_keep_no_responses(tiny_model):
    s = start(tiny_model, "--responses-store-mb", "0", "--parallel", "1", "--ctx", "256")
    try:
        c = client(s, key="unused")
        r = respond(c, "Hello there", max_output_tokens=2)
        assert r.status in ("completed", "incomplete")
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(r.id)
        with pytest.raises(openai.BadRequestError):
            respond(c, "More", previous_response_id=r.id)
    finally:
        assert s.stop() == 0


class Verdict(BaseModel):
    ok: bool
    level: Literal["low", "high"]


def test_structured_output_with_responses_parse(server):
    c = client(server)
    for seed in range(3):
        r = c.responses.parse(model="tiny", input="Judge it", text_format=Verdict, max_output_tokens=80,
                              temperature=1.0, extra_body={"seed": seed})
        assert r.status == "completed"
        assert isinstance(r.output_parsed, Verdict)
        assert Verdict.model_validate_json(r.output_text) == r.output_parsed
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 5}}, "required": ["n"],
              "additionalProperties": False}
    r = respond(c, "A number", max_output_tokens=40, text={"format": {"type": "json_schema", "name": "num", "schema": schema}})
    assert json.loads(r.output_text)["n"] in (3, 4, 5) and r.text.format.type == "json_schema"
    assert_no_leaks(server)


def test_bad_responses_requests_get_openai_errors(server):
    c = client(server)
    cases = [
        ({"model": "tiny"}, "input"),
        ({"input": 7}, "input"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]},
         "input[0].content[0].type"),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input[0].type"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"input": "hi", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"input": "hi", "tool_choice": "sometimes"}, "tool_choice"),
        ({"input": "hi", "text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format"),
        ({"input": "hi", "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object", "properties": {"a": {"type": "string", "pattern": "(a)\\1"}}}}}}, "text.format"),
        ({"input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "hi", "temperature": 9}, "temperature"),
        ({"input": "hi", "background": True}, "background"),
        ({"input": "hi", "previous_response_id": "resp_nope"}, "previous_response_id"),
        ({"input": "word " * 5000, "max_output_tokens": 4}, "input"),
    ]
    for body, param in cases:
        with pytest.raises(openai.BadRequestError) as e:
            c.post("/responses", body=body, cast_to=object)
        # the param names the field, down to the item or part (as the OpenAI API names them)
        assert e.value.status_code == 400 and e.value.body["param"].startswith(param), (body, e.value.body)
        assert e.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve("resp_unknown")
    assert_no_leaks(server)


def test_a_vanished_client_cancels_its_response(server):
    before = metrics(server)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/v1/responses", body=json.dumps({
        "input": "go on forever", "max_output_tokens": 4000, "temperature": 0, "stream": True, "ignore_eos": True}),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200
    r.fp.readline()  # the first event arrived
    conn.sock.shutdown(2)
    conn.close()
    m = wait_idle(server)
    assert m['dsinfer_requests_finished_total{reason="cancelled"}'] > before['dsinfer_requests_finished_total{reason="cancelled"}']
    assert m["dsinfer_generated_tokens_total"] - before["dsinfer_generated_tokens_total"] < 4000
    assert_no_leaks(server)


# Tools for the scripted answer of conftest.reasoning_server.
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather of a place",
          "parameters": {"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string"}}}},
         {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}}}]


def test_reasoning_text_and_function_calls_are_items(reasoning_server):
    c = client(reasoning_server, key="unused")
    r = respond(c, "Weather and time in Paris?", tools=TOOLS, max_output_tokens=300)
    assert r.status == "completed"
    assert [o.type for o in r.output] == ["reasoning", "message", "function_call", "function_call"]
    reasoning, message, weather, time_ = r.output
    assert [p.text for p in reasoning.content] == ["The user wants the weather and the time."]
    assert r.output_text == "Let me check."
    assert [(f.name, f.arguments) for f in (weather, time_)] == [("get_weather", WEATHER_ARGS), ("get_time", TIME_ARGS)]
    assert weather.call_id != time_.call_id and weather.id.startswith("fc_")
    assert r.usage.output_tokens_details.reasoning_tokens > 0
    assert [t.name for t in r.tools] == ["get_weather", "get_time"]

    # Streamed: the openai package's accumulation gives the same items; the arguments come in pieces.
    with c.responses.stream(model="tiny", input="Weather and time in Paris?", tools=TOOLS, max_output_tokens=300,
                            temperature=0) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [(o.type, getattr(o, "arguments", None)) for o in final.output] == [
        (o.type, getattr(o, "arguments", None)) for o in r.output]
    assert final.output_text == r.output_text and final.output[0].content[0].text == reasoning.content[0].text
    assert sum(e.type == "response.function_call_arguments.delta" for e in events) > 2
    assert sum(e.type == "response.reasoning_text.delta" for e in events) > 2
    done = [e.arguments for e in events if e.type == "response.function_call_arguments.done"]
    assert done == [WEATHER_ARGS, TIME_ARGS]

    # The calls' outputs go back as items: with the whole conversation, or after previous_response_id.
    outputs = [{"type": "function_call_output", "call_id": weather.call_id, "output": "18 C, sunny"},
               {"type": "function_call_output", "call_id": time_.call_id, "output": "14:05"}]
    history = [{"role": "user", "content": "Weather and time in Paris?"}] + [o.model_dump(exclude_none=True) for o in r.output]
    by_hand = respond(c, history + outputs, tools=TOOLS, max_output_tokens=300)
    continued = respond(c, outputs, previous_response_id=r.id, tools=TOOLS, max_output_tokens=300)
    assert by_hand.usage.input_tokens == continued.usage.input_tokens > r.usage.input_tokens + 10
    assert_no_leaks(reasoning_server)
