"""Structured outputs (response_format json_schema) with the official openai client: the random tiny model's
sampled answers, held to each schema by the server, validated by Python's jsonschema (a reference nobody
here wrote); pydantic models through client.chat.completions.parse; key order; errors."""

import datetime
import json
import uuid
from decimal import Decimal
from ipaddress import IPv6Address
from pathlib import Path
from typing import Literal, Optional, Union

import jsonschema
import openai
import pytest
from pydantic import UUID4, Base64Str, BaseModel, EmailStr, Field, HttpUrl, IPvAnyAddress, SecretStr, constr

from api_helpers import assert_no_leaks, chat, client, tokens_of
from conftest import start

SCHEMAS = [
    # An order: enums, a bounded list of objects from $defs, an optional nullable note, a boolean.
    {"$defs": {"Item": {"type": "object", "additionalProperties": False, "required": ["name", "qty"],
                        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 6},
                                       "qty": {"type": "integer"}}}},
     "type": "object", "additionalProperties": False, "required": ["kind", "items", "ok"],
     "properties": {"kind": {"enum": ["pickup", "delivery", 7]},
                    "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 1, "maxItems": 3},
                    "note": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
                    "ok": {"type": "boolean"}}},
    # Alternatives that start alike, numbers, a type list, a const.
    {"type": "object", "additionalProperties": False, "required": ["shape", "v"],
     "properties": {"shape": {"oneOf": [
         {"type": "object", "properties": {"r": {"type": "number", "exclusiveMinimum": 0, "maximum": 10}}, "required": ["r"], "additionalProperties": False},
         {"type": "object", "properties": {"w": {"type": "integer", "minimum": -3}, "h": {"type": "integer", "maximum": 1000}}, "required": ["w", "h"],
          "additionalProperties": False}]},
         "v": {"const": "1.0"}, "tag": {"type": ["string", "null"], "maxLength": 3}}},
    # Patterns and formats (checked by jsonschema's FormatChecker: date, uuid, ipv4).
    {"type": "object", "additionalProperties": False, "required": ["day", "id", "code", "host"],
     "properties": {"day": {"type": "string", "format": "date"}, "id": {"type": "string", "format": "uuid"},
                    "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{1,4}$"}, "host": {"format": "ipv4"},
                    "at": {"type": "string", "format": "date-time"}}},
    # The other formats (FormatChecker with jsonschema's format-nongpl extra checks every one of them), one
    # with a length limit of its own.
    {"type": "object", "additionalProperties": False, "required": ["host", "mail", "site", "ip6", "gap"],
     "properties": {"host": {"type": "string", "format": "hostname"}, "mail": {"type": "string", "format": "email"},
                    "site": {"type": "string", "format": "uri", "maxLength": 40}, "ip6": {"type": "string", "format": "ipv6"},
                    "gap": {"type": "string", "format": "duration"}}},
    # A tuple, whole multiples, a pattern with length limits.
    {"type": "object", "additionalProperties": False, "required": ["pair", "n", "slug"],
     "properties": {"pair": {"type": "array", "minItems": 2, "items": False, "prefixItems": [
         {"type": "integer", "multipleOf": 5, "minimum": -20, "maximum": 95}, {"enum": ["a", "b"]}]},
         "n": {"type": "number", "multipleOf": 3}, "slug": {"type": "string", "pattern": "^[a-z]+(-[a-z]+)*$",
                                                            "minLength": 3, "maxLength": 9}}},
    # A recursive tree with bounded fan-out.
    {"$defs": {"Node": {"type": "object", "additionalProperties": False, "required": ["id"],
                        "properties": {"id": {"type": "integer"},
                                       "kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}, "maxItems": 2}}}},
     "$ref": "#/$defs/Node"},
]


def json_schema(schema, name="answer"):
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def test_sampled_answers_follow_the_schema(server):
    c = client(server)
    finished = 0
    for i, schema in enumerate(SCHEMAS):
        for seed in range(6):
            r = chat(c, "Reply in JSON", max_tokens=160, temperature=1.0, seed=seed, response_format=json_schema(schema))
            text = r.choices[0].message.content
            assert text.startswith("{"), text
            if r.choices[0].finish_reason == "stop":  # (else cut by max_tokens: a prefix)
                jsonschema.validate(json.loads(text), schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
                finished += 1
    assert finished >= 16, finished
    assert_no_leaks(server)


def test_streamed_answer_is_the_same(server):
    c = client(server)
    fmt = json_schema(SCHEMAS[0])
    whole = chat(c, "Reply in JSON", max_tokens=160, temperature=1.0, seed=3, response_format=fmt)
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chat(
        c, "Reply in JSON", max_tokens=160, temperature=1.0, seed=3, response_format=fmt, stream=True) if ch.choices)
    assert streamed == whole.choices[0].message.content


def test_properties_come_in_the_schemas_order(server):
    schema = {"type": "object", "additionalProperties": False, "required": ["zeta", "alpha", "mid"],
              "properties": {"zeta": {"type": "boolean"}, "alpha": {"enum": [1, 2]}, "mid": {"type": "null"}}}
    r = chat(client(server), "Reply in JSON", max_tokens=120, temperature=1.0, seed=1, response_format=json_schema(schema))
    assert r.choices[0].finish_reason == "stop"
    assert list(json.loads(r.choices[0].message.content)) == ["zeta", "alpha", "mid"]


def parse(c, model, prompt, seed, max_tokens=200, **kw):
    """client.chat.completions.parse with a pydantic model, sampled at temperature 1 with a seed."""
    return c.chat.completions.parse(model="tiny", messages=[{"role": "user", "content": prompt}], response_format=model,
                                    max_tokens=max_tokens, temperature=1.0, seed=seed, **kw)


class Step(BaseModel):
    op: Literal["add", "sub"]
    amount: int = Field(ge=1, le=99)


class Plan(BaseModel):
    steps: list[Step] = Field(min_length=1, max_length=3)
    label: str = Field(max_length=8)
    note: Optional[str] = Field(max_length=4)
    done: bool
    confidence: float = Field(ge=0, le=1)


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Reading(BaseModel):
    pet: Union[Cat, Dog] = Field(discriminator="kind")  # (a oneOf with pydantic's discriminator beside it)
    point: tuple[int, bool]
    bucket: int = Field(multiple_of=10, ge=0, le=1000)
    tag: str = Field(pattern=r"^#[a-z]+$", min_length=3, max_length=6)


class Contact(BaseModel):  # formats as pydantic writes them (HttpUrl: format uri with maxLength 2083)
    site: HttpUrl
    mail: EmailStr
    addr: IPv6Address
    gap: datetime.timedelta


class Upload(BaseModel):  # pydantic's own formats: password, binary, path, uuid4, ipvanyaddress, base64
    key: SecretStr = Field(max_length=12)
    blob: bytes = Field(max_length=12)
    where: Path
    ref: UUID4
    peer: IPvAnyAddress
    data: Base64Str


class Ticket(BaseModel):
    code: str = Field(pattern=r"^[A-Z]{3}-\d{2}$")
    opened: datetime.datetime
    due: datetime.date
    ref: uuid.UUID


def test_pydantic_models_through_parse(server):
    c = client(server)
    parsed = 0
    for seed in range(4):
        r = parse(c, Plan, "Plan it", seed)
        if r.choices[0].finish_reason == "stop":
            assert isinstance(r.choices[0].message.parsed, Plan)
            parsed += 1
    assert parsed >= 2
    # Dates, times, UUIDs and patterns: pydantic parses each answer (a time zone is always there).
    for seed in range(3):
        r = parse(c, Ticket, "A ticket", seed)
        assert r.choices[0].finish_reason == "stop"
        t = r.choices[0].message.parsed
        assert isinstance(t, Ticket) and t.opened.tzinfo is not None
    # Tagged unions, tuples, multiples, patterns with length limits; URLs, emails, IPv6 addresses, durations;
    # secrets, bytes, paths, UUID4s, IP addresses, base64 (a URL may be 2083 characters long and a path any:
    # the quote is favoured, so that the random model ends its strings).
    quote = {str(tokens_of('"')[0]): 20}
    for model, bias in [(Reading, None), (Contact, quote), (Upload, quote)]:
        for seed in range(3):
            r = parse(c, model, "Fill it in", seed, max_tokens=300, logit_bias=bias)
            assert r.choices[0].finish_reason == "stop", r.choices[0].message.content
            assert isinstance(r.choices[0].message.parsed, model)


class Tally(BaseModel):  # maps whose keys are held too: propertyNames, patternProperties
    votes: dict[Literal["yes", "no"], int]
    words: dict[constr(pattern=r"^[a-z]+$", max_length=5), int]


def test_map_keys_follow_their_schema(server):
    c = client(server)
    done = 0
    for seed in range(4):
        r = parse(c, Tally, "Count", seed)
        if r.choices[0].finish_reason != "stop":
            continue
        raw = json.loads(r.choices[0].message.content)
        jsonschema.validate(raw, Tally.model_json_schema())
        assert isinstance(r.choices[0].message.parsed, Tally)
        done += 1
    assert done >= 2


class Price(BaseModel):  # fractional multiples, as pydantic writes them
    amount: float = Field(multiple_of=0.01, ge=0, le=1000)
    step: float = Field(multiple_of=0.25)
    third: float = Field(multiple_of=0.3, ge=-3, le=3)


def test_fractional_multiples_are_exact_decimal_multiples(server):
    # Checked in decimal arithmetic, as JSON Schema defines multipleOf (jsonschema's float division would
    # call 0.07 no multiple of 0.01), and by pydantic.
    c = client(server)
    fractions = 0
    for seed in range(4):
        r = parse(c, Price, "Price it", seed, max_tokens=120)
        assert r.choices[0].finish_reason == "stop", r.choices[0].message.content
        assert isinstance(r.choices[0].message.parsed, Price)
        raw = json.loads(r.choices[0].message.content, parse_float=Decimal, parse_int=Decimal)
        for key, m in [("amount", "0.01"), ("step", "0.25"), ("third", "0.3")]:
            assert raw[key] % Decimal(m) == 0, (key, raw[key])
            fractions += raw[key] != raw[key].to_integral_value()
    assert fractions > 0  # (not only whole numbers, which would be multiples anyway)


class Labels(BaseModel):  # sets, as pydantic writes them: arrays with uniqueItems
    tags: set[str] = Field(min_length=3, max_length=5)
    colors: set[Literal["red", "green", "blue"]] = Field(min_length=1)
    flags: frozenset[bool]
    pages: set[int] = Field(max_length=6)


def test_sets_never_repeat_an_item(server):
    # The quote is favoured, so that the random model would end each string at once: "" again and again,
    # which uniqueItems allows only once. Validated by jsonschema (uniqueItems compares values) and pydantic.
    c = client(server)
    quote = {str(tokens_of('"')[0]): 20}
    for seed in range(3):
        r = parse(c, Labels, "Label it", seed, logit_bias=quote)
        assert r.choices[0].finish_reason == "stop", r.choices[0].message.content
        raw = json.loads(r.choices[0].message.content)
        jsonschema.validate(raw, Labels.model_json_schema())
        assert isinstance(r.choices[0].message.parsed, Labels)
        assert 3 <= len(raw["tags"]) == len(r.choices[0].message.parsed.tags)


def test_schemas_it_cannot_hold_answers_to_are_refused(server):
    c = client(server)
    for schema, words in [
        ({"type": "object", "properties": {"n": {"type": "number", "multipleOf": 1.5}}}, "'multipleOf' is supported for whole numbers"),
        ({"type": "object", "properties": {"s": {"type": "array", "uniqueItems": True}}}, "'uniqueItems' is supported only for"),
        ({"type": "array"}, "the root must be an object"),
        ({"$ref": "#/$defs/Missing"}, "does not resolve"),
    ]:
        with pytest.raises(openai.BadRequestError) as e:
            chat(c, "hi", response_format=json_schema(schema))
        assert e.value.body["param"] == "response_format"
        assert words in e.value.body["message"], e.value.body
    with pytest.raises(openai.BadRequestError):
        chat(c, "hi", response_format={"type": "json_schema", "json_schema": {"name": "has space", "schema": {}}})
    assert_no_leaks(server)


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city", "strict": True,
    "parameters": {"type": "object", "additionalProperties": False, "required": ["city", "unit", "days"],
                   "properties": {"city": {"type": "string", "maxLength": 12},
                                  "unit": {"enum": ["celsius", "fahrenheit"]},
                                  "days": {"type": "integer"}}}}}


def test_forced_tool_calls_follow_the_parameters(server):
    c = client(server)
    params = WEATHER["function"]["parameters"]
    called = 0
    for seed in range(4):
        r = chat(c, "Weather?", tools=[WEATHER], tool_choice="required", parallel_tool_calls=False,
                 max_tokens=120, temperature=1.0, seed=seed)
        calls = r.choices[0].message.tool_calls
        if r.choices[0].finish_reason == "tool_calls":
            assert len(calls) == 1 and calls[0].function.name == "get_weather"
            args = json.loads(calls[0].function.arguments)
            jsonschema.validate(args, params)
            assert list(args) == ["city", "unit", "days"]  # the client's order, not sorted
            called += 1
    assert called >= 2
    # Parameters it cannot hold calls to: refused for a strict function, any JSON object otherwise.
    loose = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "array", "uniqueItems": True}}}}}
    r = chat(c, "hi", tools=[loose], tool_choice="required", max_tokens=40, temperature=1.0, seed=1)
    assert r.choices[0].message.content or r.choices[0].message.tool_calls is not None
    with pytest.raises(openai.BadRequestError) as e:
        chat(c, "hi", tools=[{"type": "function", "function": {**loose["function"], "strict": True}}], tool_choice="required")
    assert e.value.body["param"] == "tools" and "'uniqueItems' is supported only for" in e.value.body["message"]
    assert_no_leaks(server)


def test_reasoning_models_answer_in_json_after_thinking(tiny_model):
    # R1's prompt opens "<think>": the reasoning is free text, and the JSON (held to the schema) comes after
    # "</think>". The random model is steered towards the tokens of "</think>" (logit_bias), so that it
    # closes its reasoning at some point; then it can only answer with the object.
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False}
    bias = {str(t): 100 for t in tokens_of("</think>")}  # ("</", "think", ">")
    s = start(tiny_model, "--chat-format", "deepseek-r1", "--parallel", "2", "--ctx", "1024")
    try:
        c = client(s, key="unused")
        answered = 0
        for seed in range(6):
            r = chat(c, "Think, then answer", max_tokens=200, temperature=1.0, seed=seed, logit_bias=bias,
                     response_format=json_schema(schema))
            if r.choices[0].finish_reason == "stop":
                assert json.loads(r.choices[0].message.content) in ({"ok": True}, {"ok": False})
                assert "</think>" not in r.choices[0].message.content
                answered += 1
        assert answered >= 2, answered
        assert_no_leaks(s)
    finally:
        assert s.stop() == 0


def test_calls_the_model_begins_follow_the_markup_and_parameters(server):
    # tool_choice "auto": the answer may be text; once the model begins calls (steered here towards
    # <｜tool▁calls▁begin｜> with logit_bias), they are held to the markup and the parameters' schema.
    c = client(server)
    begin = tokens_of("<｜tool▁calls▁begin｜>")
    assert len(begin) == 1
    params = WEATHER["function"]["parameters"]
    called = 0
    for seed in range(4):
        r = chat(c, "Weather?", tools=[WEATHER], parallel_tool_calls=False, max_tokens=150, temperature=1.0, seed=seed,
                 logit_bias={str(begin[0]): 100})
        if r.choices[0].finish_reason == "tool_calls":
            for call in r.choices[0].message.tool_calls:
                assert call.function.name == "get_weather"
                jsonschema.validate(json.loads(call.function.arguments), params)
            called += 1
    assert called >= 2, called
    # Parallel calls until max_tokens cuts them (in a header or between calls): "length", and "tool_calls" only
    # for calls that ended (no markup left over in the content).
    lengths = 0
    for seed in range(4):
        r = chat(c, "Weather?", tools=[WEATHER], max_tokens=60, temperature=1.0, seed=seed, logit_bias={str(begin[0]): 100})
        if r.choices[0].finish_reason == "tool_calls":
            assert "<｜" not in (r.choices[0].message.content or "")
        lengths += r.choices[0].finish_reason == "length"
    assert lengths >= 1
    text = chat(c, "Weather?", tools=[WEATHER], max_tokens=20, temperature=1.0, seed=1)  # not steered: text
    assert text.choices[0].message.content and not text.choices[0].message.tool_calls
    assert_no_leaks(server)
