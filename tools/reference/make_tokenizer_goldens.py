#!/usr/bin/env python3
"""Golden outputs for dsinfer's tokenizer tests, made with the Hugging Face implementations.

Writes into tests/tokenizer/golden/:
  deepseek_v3_corpus.json  - a broad corpus encoded by `tokenizers` with the bundled DeepSeek-V3
                             tokenizer.json: ids without BOS, with BOS and with special tokens not parsed
                             (encode_special_tokens = True). BOS comes from a TemplateProcessing
                             post-processor built from tokenizer_config.json (add_bos_token, bos_token),
                             which is what transformers 4's LlamaTokenizerFast.update_post_processor does;
                             transformers 5 loads this tokenizer without adding BOS.
  onig_classes.json        - the code points Oniguruma (the regex engine inside `tokenizers`) puts in
                             \\p{L}, \\p{N}, \\p{P}, \\p{S}, \\p{M} and \\s, as ranges; the C++ test checks
                             that PCRE2 agrees, since the pre-tokenizer regexes depend on these classes.
  src/tokenizer/unicode_newer.inc (with `unicode`) - the code points Oniguruma puts in those classes
                             but this Python's (and PCRE2 10.42's) Unicode 14 leaves unassigned; the
                             pre-tokenizer adds them to PCRE2's classes.
  chat_templates.json      - conversations rendered with jinja2 from assets/chat-templates/*.jinja the
                             way transformers' apply_chat_template does.

Run: /work/refvenv/bin/python tools/reference/make_tokenizer_goldens.py   (needs tokenizers, transformers,
jinja2). The corpus is deterministic (fixed seed).
"""

import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.path.join(ROOT, "assets")
OUT = os.path.join(ROOT, "tests", "tokenizer", "golden")
TOKENIZER_DIR = os.path.join(ASSETS, "tokenizers", "deepseek-v3")

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"


def fixed_corpus():
    c = []
    c += [
        "Hello world",
        " Hello world",
        "Hello, world! How are you doing today?",
        "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! the_quick-brown.fox",
        "It's a test: don't, won't, I'm, you're, they've, we'll, he'd. 'quoted' \"double\"",
        "In 1969, Neil Armstrong walked on the Moon; 600 million people watched it live on TV.",
        "Prices: $3.50, €12,99, £7, ¥1000, 50% off!!! (limited time) [see terms] {promo}",
        "e-mail: someone@example.com, URL: https://example.org/path?q=1&r=two#frag",
        "Dr. Smith's 2nd-year students (n=42) scored 97.5±1.2 on average — impressive…",
    ]
    c += [
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n",
        "#include <stdio.h>\n\nint main(int argc, char** argv) {\n\tfor (int i = 0; i < argc; ++i) {\n\t\tprintf(\"%s\\n\", argv[i]);\n\t}\n\treturn 0;\n}\n",
        "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n",
        "const f = async (a, b) => { await sleep(100); return a ?? b; };\nexport default f;\n",
        "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
        "<html><body><div class=\"x\">Hello &amp; welcome</div></body></html>",
        "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true, \"c\": \"\\u00e9\"}}",
        "x = a**2 + b**2; y = x // 3; z = ~y & 0xFF | 0b1010 ^ 0o17; w = z << 2 >> 1",
        "    indented with spaces\n\tindented with a tab\n  \t mixed\n",
        "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\"; done | sort -u > out.log 2>&1\n",
    ]
    c += [
        "1234567890",
        "3.14159265358979323846264338327950288419716939937510",
        "0000000000000000000000000000000000001",
        "99999999999999999999999999999999999999999999999999999999999999999999999",
        "Phone: +1 (555) 123-4567, ZIP 90210-1234, ISBN 978-3-16-148410-0",
        "١٢٣٤٥٦٧٨٩٠ ०१२३४५६७८९ ١٢٣ 一二三 ①②③ ⅠⅡⅢ ¹²³ ½¾",
        "2024-01-15T12:34:56.789Z 192.168.0.1:8080 v1.2.3-rc.4",
    ]
    c += [
        "你好，世界！今天天气很好，我们去公园散步吧。",
        "深度求索（DeepSeek）是一家人工智能公司，成立于2023年。",
        "日本語のテキスト：こんにちは、世界！カタカナとひらがなと漢字。",
        "東京は日本の首都です。ﾊﾝｶｸｶﾀｶﾅも。",
        "한국어 텍스트: 안녕하세요, 세계! 반갑습니다.",
        "مرحبا بالعالم! هذه جملة باللغة العربية مع أرقام ١٢٣.",
        "नमस्ते दुनिया! यह हिंदी में एक वाक्य है।",
        "ሰላም ለዓለም! ይህ በአማርኛ የተጻፈ ዓረፍተ ነገር ነው።",
        "નમસ્તે વિશ્વ! આ ગુજરાતીમાં એક વાક્ય છે.",
        "สวัสดีชาวโลก! นี่คือประโยคภาษาไทย",
        "Привет, мир! Это предложение на русском языке.",
        "Γειά σου Κόσμε! Αυτή είναι μια ελληνική πρόταση.",
        "שלום עולם! זה משפט בעברית.",
        "Xin chào thế giới! Đây là một câu tiếng Việt.",
        "Zażółć gęślą jaźń. Příliš žluťoučký kůň úpěl ďábelské ódy. Größe, Äpfel, Füße.",
        "தமிழ் வணக்கம் উদাহরণ বাংলা ਪੰਜਾਬੀ ಕನ್ನಡ മലയാളം తెలుగు",
        "ᠮᠣᠩᠭᠣᠯ ᏣᎳᎩ ᐃᓄᒃᑎᑐᑦ ꦗꦮ ⵜⴰⵎⴰⵣⵉⵖⵜ",
        "Mixed: English 中文 日本語 한국어 العربية हिन्दी — all in one line!",
        "中文English混合123数字４５６全角ＡＢＣ",
    ]
    c += [
        "👋🌍 Hello! 😀😃😄😁",
        "Family: 👨‍👩‍👧‍👦 Couple: 👩‍❤️‍💋‍👨 Flag: 🏳️‍🌈 🇺🇸🇯🇵🇨🇳",
        "Skin tones: 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿 🧑🏽‍💻",
        "Keycaps: 1️⃣ #️⃣ *️⃣ and variation selectors ✔︎ ✔️",
        "Combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0368\u0368\u035c\u0352a\u0315\u0354l\u0322g\u0327o\u0327",
        "Zero width: a\u200bb\u200cc\u200dd\u2060e\ufefff",
    ]
    c += [
        "\t", "\n", "\r\n", "  ", "   \n", "a\r\nb\r\nc", "\n\n\n\n", "\t\t\tx", "x     y", "x\u00a0y\u3000z",
        "line1\nline2\n\nline4\r\n\r\nline6\r", "trailing spaces   ", "   leading spaces",
        " \n \n \n", "\u2028line sep\u2029para sep", "NEL\u0085here", "vt\u000bff\u000c", "\x1c\x1d\x1e\x1f seps",
        "a\t\tb\n\t\nc \t \n d",
    ]
    c += [
        BOS + "Hello",
        BOS + BOS,
        "<｜User｜>Hi there<｜Assistant｜>Hello! How can I help?" + EOS,
        BOS + "You are helpful.<｜User｜>What is 2+2?<｜Assistant｜>",
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
        "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{\"temp\": 21}<｜tool▁output▁end｜><｜tool▁outputs▁end｜>",
        "<think>\nLet me think.\n</think>\n\nThe answer is 42.",
        "<｜fim▁begin｜>def f():\n<｜fim▁hole｜>\n<｜fim▁end｜>",
        "not special: <｜User|> <|User｜> <｜begin of sentence｜> <｜User｜",
        "<｜place▁holder▁no▁0｜><｜place▁holder▁no▁799｜>",
        "x<｜end▁of▁sentence｜>y<｜▁pad▁｜>z",
    ]
    c += [
        "\U0001F600\U0010FFFF\U000E0001\U000E007F",
        "\uFFFD\uFFFE\uFEFF",
        "\u0000nul\u0001\u007f",
        "\U0001D400\U0001D41A math bold \U0001D7CE\U0001D7CF",
        "ﬁ ﬂ ﬀ ligatures, Å vs Å, Ω vs Ω",
        "\ue000\uf8ff private use \U000F0000",
        "a" * 300,
        "ab" * 200,
        "的" * 300,
        "🙂" * 50,
        " " * 100,
        "\n" * 50,
        "-" * 120 + "\n" + "=" * 80,
        "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    ]
    # Whitespace probes: which characters the regexes treat as \s.
    for ch in ["\u0085", "\u00a0", "\u1680", "\u180e", "\u2000", "\u200a", "\u200b", "\u2028", "\u202f", "\u205f",
               "\u3000", "\ufeff", "\x1c", "\x0b"]:
        c.append("x" + ch + ch + "\n" + ch + "y " + ch + "!" + ch)
    return c


BLOCKS = [
    (0x20, 0x7E), (0xA0, 0x24F), (0x250, 0x2FF), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
    (0x530, 0x58F), (0x590, 0x5FF), (0x600, 0x6FF), (0x700, 0x74F), (0x900, 0x97F), (0x980, 0x9FF),
    (0xA80, 0xAFF), (0xB80, 0xBFF), (0xE00, 0xE7F), (0xF00, 0xFFF), (0x1000, 0x109F), (0x10A0, 0x10FF),
    (0x1100, 0x11FF), (0x1200, 0x137F), (0x13A0, 0x13FF), (0x1780, 0x17FF), (0x1E00, 0x1EFF),
    (0x2000, 0x206F), (0x2070, 0x209F), (0x20A0, 0x20CF), (0x2100, 0x214F), (0x2190, 0x21FF),
    (0x2200, 0x22FF), (0x2500, 0x257F), (0x2600, 0x26FF), (0x2700, 0x27BF), (0x3000, 0x303F),
    (0x3040, 0x309F), (0x30A0, 0x30FF), (0x3100, 0x312F), (0x3130, 0x318F), (0x4E00, 0x9FFF),
    (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x10000, 0x1007F),
    (0x1D400, 0x1D7FF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F900, 0x1F9FF), (0x20000, 0x2A6DF),
]


def random_corpus(rng, n):
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 6)):
            lo, hi = rng.choice(BLOCKS)
            parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 12))))
            parts.append(rng.choice(["", " ", "  ", "\n", "\t", "\r\n", " \n", "123", ".", ", "]))
        s = "".join(parts)
        # Surrogates cannot be encoded; everything else in the blocks is a valid scalar value.
        out.append("".join(ch for ch in s if not 0xD800 <= ord(ch) <= 0xDFFF))
    return out


def ascii_noise(rng, n):
    alphabet = "abcXYZ019 \t\n\r.,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(n)]


def make_corpus():
    from tokenizers import Tokenizer, processors

    rng = random.Random(20240607)
    texts = fixed_corpus() + random_corpus(rng, 160) + ascii_noise(rng, 60)
    tok = Tokenizer.from_file(os.path.join(TOKENIZER_DIR, "tokenizer.json"))
    tok_plain = Tokenizer.from_file(os.path.join(TOKENIZER_DIR, "tokenizer.json"))
    tok_plain.encode_special_tokens = True
    with open(os.path.join(TOKENIZER_DIR, "tokenizer_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["add_bos_token"] and config["bos_token"]["content"] == BOS
    tok_bos = Tokenizer.from_file(os.path.join(TOKENIZER_DIR, "tokenizer.json"))
    tok_bos.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1", special_tokens=[(BOS, tok.token_to_id(BOS))])
    cases = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=False).ids
        ids_bos = tok_bos.encode(t).ids
        ids_plain = tok_plain.encode(t, add_special_tokens=False).ids
        assert tok.decode(ids, skip_special_tokens=False) == t, repr(t)
        cases.append({"text": t, "ids": ids, "ids_bos": ids_bos, "ids_no_special": ids_plain})
    total = sum(len(t.encode()) for t in texts)
    write("deepseek_v3_corpus.json", {
        "tokenizer": "assets/tokenizers/deepseek-v3/tokenizer.json",
        "made_with": f"tokenizers {__import__('tokenizers').__version__}",
        "cases": cases,
    })
    print(f"corpus: {len(cases)} texts, {total} bytes")


def make_classes():
    from tokenizers import Regex
    from tokenizers.pre_tokenizers import Split

    classes = {"L": r"\p{L}", "N": r"\p{N}", "P": r"\p{P}", "S": r"\p{S}", "M": r"\p{M}", "s": r"\s"}
    cps = [cp for cp in range(1, 0x110000) if not 0xD800 <= cp <= 0xDFFF]
    result = {}
    for name, pattern in classes.items():
        split = Split(Regex(pattern), behavior="isolated")
        members = []
        chunk = 20000
        for k in range(0, len(cps), chunk):
            block = cps[k:k + chunk]
            # Separate code points with NUL (in none of the classes), so a piece equal to one code point
            # is exactly a match.
            text = "".join(chr(cp) + "\x00" for cp in block)
            for piece, _ in split.pre_tokenize_str(text):
                if len(piece) == 1 and piece != "\x00":
                    members.append(ord(piece))
        ranges = []
        for cp in members:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
        result[name] = ranges
        print(f"class {name}: {len(members)} code points in {len(ranges)} ranges")
    write("onig_classes.json", result)


def make_unicode_extra():
    import unicodedata

    with open(os.path.join(OUT, "onig_classes.json"), encoding="utf-8") as f:
        classes = json.load(f)
    lines = [
        "// Generated by tools/reference/make_tokenizer_goldens.py unicode; do not edit.",
        f"// Code points that Oniguruma (inside Hugging Face tokenizers) puts in each class but Unicode "
        f"{unicodedata.unidata_version}",
        "// (PCRE2 10.42) leaves unassigned, as PCRE2 class items.",
    ]
    for name in ["L", "N", "P", "S", "M"]:
        items = []
        for a, b in classes[name]:
            run = None
            for cp in range(a, b + 1):
                if unicodedata.category(chr(cp)) == "Cn":
                    if run and run[1] == cp - 1:
                        run[1] = cp
                    else:
                        run = [cp, cp]
                        items.append(run)
        text = "".join(f"\\\\x{{{x:x}}}" if x == y else f"\\\\x{{{x:x}}}-\\\\x{{{y:x}}}" for x, y in items)
        lines.append(f'{{"{name}", "{text}"}},')
    path = os.path.join(ROOT, "src", "tokenizer", "unicode_newer.inc")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {path}")


def render(template_text, messages, add_generation_prompt, tools=None, thinking=None):
    # As transformers' chat template rendering (utils/chat_template_utils.py): an immutable sandbox with
    # trim_blocks and lstrip_blocks, raise_exception and a tojson filter.
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    kwargs = {"messages": messages, "add_generation_prompt": add_generation_prompt, "bos_token": BOS,
              "eos_token": EOS}
    if tools is not None:
        kwargs["tools"] = tools
    if thinking is not None:  # DeepSeek-V3.1's switch (apply_chat_template(..., thinking=True))
        kwargs["thinking"] = thinking
    return env.from_string(template_text).render(**kwargs)


def call(id_, name, args):
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


WEATHER_TOOL = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def conversations():
    sys1 = {"role": "system", "content": "You are a helpful assistant."}
    sys2 = {"role": "system", "content": "Answer in French."}
    u1 = {"role": "user", "content": "Hello!"}
    a1 = {"role": "assistant", "content": "Hi! How can I help you today?"}
    u2 = {"role": "user", "content": "What's the weather in Paris and in Lyon?"}
    tc_one = {"role": "assistant", "content": None, "tool_calls": [call("call_1", "get_weather", {"city": "Paris"})]}
    tc_two = {"role": "assistant", "content": None, "tool_calls": [
        call("call_1", "get_weather", {"city": "Paris"}), call("call_2", "get_weather", {"city": "Lyon"})]}
    tc_text = {"role": "assistant", "content": "Let me check.", "tool_calls": [
        call("call_1", "get_weather", {"city": "Paris"})]}
    t1 = {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21, \"sky\": \"sunny\"}"}
    t2 = {"role": "tool", "tool_call_id": "call_2", "content": "{\"temp\": 18, \"sky\": \"cloudy\"}"}
    a_after = {"role": "assistant", "content": "Paris: 21°C and sunny. Lyon: 18°C, cloudy."}
    r1 = {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHello! 😊",
          "reasoning_content": "The user greets me."}
    r2 = {"role": "assistant", "content": "<think>a</think>b</think>\n\nfinal part"}
    u3 = {"role": "user", "content": "Thanks. And 2+2?\nAnswer briefly."}
    multiline = {"role": "user", "content": "  Line one\n\nLine two\twith tab\r\n中文 🙂  "}
    return [
        ("single_user", [u1], None),
        ("system_user", [sys1, u1], None),
        ("two_systems", [sys1, sys2, u1], None),
        ("system_after_user", [u1, sys2], None),
        ("multi_turn", [sys1, u1, a1, u3], None),
        ("multiline_unicode", [multiline], None),
        ("empty_messages", [], None),
        ("tool_call_one", [sys1, u2, tc_one, t1], WEATHER_TOOL),
        ("tool_call_two", [sys1, u2, tc_two, t1, t2], WEATHER_TOOL),
        ("tool_round_trip", [sys1, u2, tc_two, t1, t2, a_after], WEATHER_TOOL),
        ("tool_round_trip_more", [u2, tc_one, t1, a_after, u3], WEATHER_TOOL),
        ("two_tool_turns", [u2, tc_one, t1, a_after, u3, tc_two, t1, t2], WEATHER_TOOL),
        ("reasoning_history", [u1, r1, u3], None),
        ("reasoning_multiple_closers", [u1, r2, u3], None),
        ("tool_call_with_text", [u2, tc_text, t1], WEATHER_TOOL),
        ("unknown_role", [{"role": "developer", "content": "ignored?"}, u1], None),
        ("assistant_last", [u1, a1], None),
        ("user_null_content", [{"role": "user", "content": None}], None),
        ("empty_tool_calls", [u1, {"role": "assistant", "content": "Sure.", "tool_calls": []}, u3], None),
        ("tool_then_user", [u2, tc_one, t1, u3], WEATHER_TOOL),
        # DeepSeek's chat prefix completion (the answer continues the last message; V3.1 reads the flag)
        ("assistant_prefix", [sys1, u1, {"role": "assistant", "content": "Sure, here is", "prefix": True}], None),
    ]


def make_chat():
    cases = []
    for fmt, thinking_modes in [("deepseek-v3", [None]), ("deepseek-r1", [None]), ("deepseek-v3.1", [False, True])]:
        with open(os.path.join(ASSETS, "chat-templates", fmt + ".jinja"), encoding="utf-8") as f:
            template = f.read()
        for name, messages, tools in conversations():
            for agp in [False, True]:
                for thinking in thinking_modes:
                    try:
                        text = render(template, messages, agp, tools, thinking)
                        error = None
                    except Exception as e:  # the template itself fails on this conversation
                        text, error = None, f"{type(e).__name__}: {e}"
                    cases.append({"format": fmt, "name": name, "add_generation_prompt": agp, "thinking": bool(thinking),
                                  "messages": messages, "tools": tools, "rendered": text, "error": error})
    # The V3 template in tokenizer_config.json must be the bundled deepseek-v3.jinja.
    with open(os.path.join(TOKENIZER_DIR, "tokenizer_config.json"), encoding="utf-8") as f:
        shipped = json.load(f)["chat_template"]
    with open(os.path.join(ASSETS, "chat-templates", "deepseek-v3.jinja"), encoding="utf-8") as f:
        assert render(shipped, conversations()[9][1], True) == render(f.read(), conversations()[9][1], True)
    write("chat_templates.json", {"bos_token": BOS, "cases": cases})
    print(f"chat: {len(cases)} renderings, {sum(c['error'] is not None for c in cases)} template errors")


def write(name, obj):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    what = sys.argv[1:] or ["corpus", "classes", "chat"]
    if "corpus" in what:
        make_corpus()
    if "classes" in what:
        make_classes()
    if "unicode" in what:
        make_unicode_extra()
    if "chat" in what:
        make_chat()
