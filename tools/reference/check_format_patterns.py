#!/usr/bin/env python3
"""Checks the JSON Schema "format" patterns of src/runtime/byte_regex.cpp (format_pattern) against the
validators clients run on generated strings: every string a pattern matches must be a valid value.

For each format, hypothesis.strategies.from_regex(pattern, fullmatch=True) makes random matching strings
(plus a few hand-made edge cases: longest labels, longest values); each must pass jsonschema's draft 2020-12
FormatChecker for the format and the pydantic types:

  hostname  jsonschema "hostname" (fqdn.FQDN(s, min_labels=1).is_valid) and pydantic HttpUrl as the host of
            "http://<s>/" (the uri pattern embeds it)
  email     jsonschema "email" and pydantic EmailStr (email-validator, no deliverability check)
  uri       jsonschema "uri" (rfc3986_validator, rule URI), pydantic AnyUrl and HttpUrl
  ipv6      jsonschema "ipv6" (ipaddress.IPv6Address, no zone id) and pydantic IPv6Address
  duration  jsonschema "duration" (isoduration.parse_duration) and pydantic timedelta
  date, time, date-time  jsonschema's (rfc3339-validator, date.fromisoformat) and pydantic date / time / datetime
  uuid4, uuid7 (the uuid1..uuid8 pattern)  pydantic UUID4 / UUID7 (jsonschema has no checker for them)
  ipvanyaddress  pydantic IPvAnyAddress (and jsonschema "ipv4" or "ipv6")
  base64, base64url  pydantic Base64Str and Base64Bytes / Base64UrlStr and Base64UrlBytes

Strings longer than format_max_length (hostname 253, email 254, uri 2083) are skipped and counted: the
schema compiler cuts generation there. The patterns are written in the subset where ECMAScript and
Python `re` agree.

  python3 -m venv /tmp/fmtvenv && /tmp/fmtvenv/bin/pip install hypothesis 'jsonschema[format-nongpl]' 'pydantic[email]'
  /tmp/fmtvenv/bin/python tools/reference/check_format_patterns.py [-n 3000] [format ...]

Exits 1 if any string fails. Written with hypothesis 6.170, jsonschema 4.26, pydantic 2.14 (core 2.50),
email-validator 2.4, fqdn 1.6, isoduration 20.11, rfc3986-validator 0.1.1.
"""

import argparse
import datetime
import re
import sys
from ipaddress import IPv6Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import (UUID4, UUID7, AnyUrl, Base64Bytes, Base64Str, Base64UrlBytes, Base64UrlStr, EmailStr, HttpUrl,
                      IPvAnyAddress, TypeAdapter)

# A copy of format_pattern()'s patterns in src/runtime/byte_regex.cpp (same names): keep the two the same.
LABEL_REST = "([a-z0-9]|[a-z0-9-]([a-z0-9]|[a-z0-9-][a-z0-9]|([a-z0-9-][a-z0-9]|[a-z0-9]-)[a-z0-9-]{0,58}[a-z0-9]))?"
HOSTNAME = "([a-z0-9]" + LABEL_REST + "\\.)*[a-z]" + LABEL_REST
LOCAL = "[A-Za-z0-9_+-]([A-Za-z0-9_+-]|\\.[A-Za-z0-9_+-]){0,31}"
TLD = ("([a-z]{2,3}|[b-su-z][a-z]{3}|a([a-qs-z][a-z]{2}|r([a-oq-z][a-z]|p[b-z]))|"
       "t([a-df-z][a-z]{2}|e([a-rt-z][a-z]|s[a-su-z]))|[a-km-np-z][a-z]{4}|"
       "l([a-np-z][a-z]{3}|o([abd-z][a-z]{2}|c([b-z][a-z]|a[a-km-z])))|"
       "o([a-mo-z][a-z]{3}|n([a-hj-z][a-z]{2}|i([a-np-z][a-z]|o[a-mo-z])))|[a-z]{6})")
PCHAR = "-A-Za-z0-9._~!$&'()*+,;=:@"
G = "[0-9a-f]{1,4}"
GC = "(" + G + ":)"
CG = "(:" + G + ")"
N = "[0-9]{1,4}"
DUR_TIME = "T(" + N + "H(" + N + "M(" + N + "S)?)?|" + N + "M(" + N + "S)?|" + N + "S)"

DATE = ("[1-9][0-9]{3}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|"
        "02-(0[1-9]|1[0-9]|2[0-8]))")
TIME = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = "(" + OCTET + "\\.){3}" + OCTET
IPV6 = ("(" + GC + "{7}" + G + "|" + GC + "{1,7}:|" + GC + "{1,6}:" + G + "|" + GC + "{1,5}" + CG + "{1,2}|" + GC +
        "{1,4}" + CG + "{1,3}|" + GC + "{1,3}" + CG + "{1,4}|" + GC + "{1,2}" + CG + "{1,5}|" + G + ":" + CG +
        "{1,6}|:(" + CG + "{1,7}|:))")
X = "[0-9a-fA-F]"


def uuid_version(v):
    return "^" + X + "{8}-" + X + "{4}-" + v + X + "{3}-[89abAB]" + X + "{3}-" + X + "{12}$"


def base64(alphabet):
    top0, mid0, low0 = "[A-Za-f]", "[A-HQ-Xg-nw-z0-3]", "[ABEFIJMNQRUVYZcdghklopstwx014589]"
    return "^(" + top0 + mid0 + low0 + alphabet + ")*(" + top0 + "[AQgw]==|" + top0 + mid0 + "[AEIMQUYcgkosw048]=)?$"


PATTERNS = {
    "date": "^" + DATE + "$",
    "time": "^" + TIME + "$",
    "date-time": "^" + DATE + "[Tt]" + TIME + "$",
    "hostname": "^" + HOSTNAME + "$",
    "email": "^" + LOCAL + "@([a-z0-9]" + LABEL_REST + "\\.)+" + TLD + "$",
    "uri": "^https?://" + HOSTNAME + "(:[1-9][0-9]{0,3})?(/[" + PCHAR + "/]*)?(\\?[" + PCHAR + "/?]*)?(#[" + PCHAR +
           "/?]*)?$",
    "ipv6": "^" + IPV6 + "$",
    "ipvanyaddress": "^(" + IPV4 + "|" + IPV6 + ")$",
    "uuid4": uuid_version("4"),
    "uuid7": uuid_version("7"),
    "base64": base64("[A-Za-z0-9+/]"),
    "base64url": base64("[A-Za-z0-9_-]"),
    "duration": "^P((" + N + "D|" + N + "M(" + N + "D)?|" + N + "Y(" + N + "M(" + N + "D)?)?)(" + DUR_TIME + ")?|" +
                DUR_TIME + "|" + N + "W)$",
}
MAX_LENGTH = {"hostname": 253, "email": 254, "uri": 2083}  # format_max_length()

# Hand-made matching strings at the edges (the random ones are mostly short).
LABEL63 = "a" + "b-c" * 20 + "de"
EDGES = {
    "date": ["1000-01-01", "9999-12-31", "2023-02-28", "2024-04-30", "2024-07-31"],
    "time": ["00:00:00Z", "23:59:59.999999999+23:59", "12:00:00z", "12:00:00-00:00"],
    "date-time": ["2023-02-28T23:59:59Z", "1999-12-31t00:00:00.5+05:30"],
    "hostname": ["a", "localhost", "a.b.c", "0.a", "a1-b", "ab-c.com", "a-b.c-d", LABEL63,
                 ".".join([LABEL63] * 3) + "." + "x" * 61,  # 253
                 "1.2.3.a", "0x1.a0x1", "x.y--z", "abc--d.efg---h"],
    "email": ["a@b.co", "A.B+c_d-e@x-y.z.com", "-@0.io", "+@a.info", "_._@q.arpb", "x@y.tess", "x@y.locak",
              "x@y.onioo", "x@y.invali", "x@y.zzzzzz", ("a." * 31) + "b@" + LABEL63 + ".com",
              ("a." * 31) + "b@" + ".".join([LABEL63] * 2) + "." + "x" * 58 + ".net",  # 254
              "x@xn.com", "x@ab-c.com", "x@a-b.com", "x@abc--d.com"],
    "uri": ["http://a", "https://a.b:1/", "http://localhost:9999/a/b/../c?x=1&y=(2)#f/?", "http://a.com?", "http://a.com#",
            "https://x.io/:@!$&'()*+,;=~._-", "http://a.com/" + "'" * 2070, "http://a.com/?" + "'" * 2069,
            "http://a.com/#" + "'" * 2069, "http://a.com//x", "http://a.com/./x", "http://a.com:80/", "https://a.com:443"],
    "ipv6": ["::", "::1", "1::", "fe80::1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "ffff::ffff:ffff",
             "0:0:0:0:0:0:0:0", "1::8", "1:2:3:4:5:6::8", "1::3:4:5:6:7:8"],
    "ipvanyaddress": ["0.0.0.0", "255.255.255.255", "::", "1:2:3:4:5:6:7:8"],
    "uuid4": ["00000000-0000-4000-8000-000000000000", "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF"],
    "uuid7": ["00000000-0000-7000-a000-000000000000"],
    "base64": ["", "AA==", "AAA=", "YWJj", "f38w", "fw==", "f38=", "YWI=", "Zm9vYmFy", "AAB+", "AAB/"],
    "base64url": ["", "AA==", "AAB-", "AAB_", "fw==", "f38=", "YWJj"],
    "duration": ["P1D", "P1M", "P1Y", "P1W", "PT1S", "PT1M", "PT1H", "P9999Y9999M9999DT9999H9999M9999S", "P0D",
                 "PT0S", "P1MT1S", "P9999W", "P1Y2M", "P1M2D", "PT1H2M", "PT1M2S", "P0001DT0000H"],
}

# The draft 2020-12 checkers (a bare FormatChecker() holds every draft's, later ones winning: draft 3's "time").
FORMATS = Draft202012Validator.FORMAT_CHECKER
EMAIL = TypeAdapter(EmailStr)
ANY_URL = TypeAdapter(AnyUrl)
HTTP_URL = TypeAdapter(HttpUrl)
IPV6 = TypeAdapter(IPv6Address)
IP_ANY = TypeAdapter(IPvAnyAddress)
TIMEDELTA = TypeAdapter(datetime.timedelta)
DATE_ = TypeAdapter(datetime.date)
TIME_ = TypeAdapter(datetime.time)
DATETIME = TypeAdapter(datetime.datetime)
PYDANTIC_ONLY = {"uuid4": [TypeAdapter(UUID4)], "uuid7": [TypeAdapter(UUID7)],
                 "base64": [TypeAdapter(Base64Str), TypeAdapter(Base64Bytes)],
                 "base64url": [TypeAdapter(Base64UrlStr), TypeAdapter(Base64UrlBytes)]}


def problems(fmt, s):
    """The validators that refuse s (empty: valid)."""
    out = []

    def check(name, f):
        try:
            if f() is False:
                out.append(name)
        except Exception as e:  # noqa: BLE001 - any exception is a refusal
            out.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")

    if fmt in FORMATS.checkers:
        check(f"jsonschema {fmt}", lambda: FORMATS.conforms(s, fmt))
    for adapter in PYDANTIC_ONLY.get(fmt, []):
        check(f"pydantic {adapter.core_schema.get('ref', fmt)}", lambda a=adapter: a.validate_python(s))
    if fmt == "ipvanyaddress":
        check("pydantic IPvAnyAddress", lambda: IP_ANY.validate_python(s))
        check("jsonschema ipv4 or ipv6", lambda: FORMATS.conforms(s, "ipv4") or FORMATS.conforms(s, "ipv6"))
    elif fmt == "hostname":
        def host_in_url():
            url = HTTP_URL.validate_python(f"http://{s}/")
            if url.host != s:
                raise ValueError(f"host became {url.host!r}")
        check("pydantic HttpUrl host", host_in_url)
    elif fmt == "email":
        check("pydantic EmailStr", lambda: EMAIL.validate_python(s))
    elif fmt == "uri":
        check("pydantic AnyUrl", lambda: ANY_URL.validate_python(s))
        check("pydantic HttpUrl", lambda: HTTP_URL.validate_python(s))
    elif fmt == "ipv6":
        check("pydantic IPv6Address", lambda: IPV6.validate_python(s))
        check("pydantic IPvAnyAddress", lambda: IP_ANY.validate_python(s))
    elif fmt == "duration":
        check("pydantic timedelta", lambda: TIMEDELTA.validate_python(s))
    elif fmt == "date":
        check("pydantic date", lambda: DATE_.validate_python(s))
    elif fmt == "time":
        check("pydantic time", lambda: TIME_.validate_python(s))
    elif fmt == "date-time":
        check("pydantic datetime", lambda: DATETIME.validate_python(s))
    return out


def run(fmt, n):
    pattern = PATTERNS[fmt]
    # The Python regex must agree with the C++ one; hypothesis generates from it.
    assert fmt in FORMATS.checkers or fmt in PYDANTIC_ONLY or fmt == "ipvanyaddress", \
        f"jsonschema has no checker for {fmt} (install jsonschema[format-nongpl])"
    compiled = re.compile(pattern)
    strings = list(EDGES[fmt])
    for s in EDGES[fmt]:
        assert compiled.fullmatch(s), f"{fmt}: edge case {s!r} does not match the pattern"

    @settings(max_examples=n, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.from_regex(pattern, fullmatch=True))
    def collect(s):
        strings.append(s)

    collect()
    limit = MAX_LENGTH.get(fmt)
    checked = failed = too_long = 0
    longest = 0
    for s in strings:
        assert compiled.fullmatch(s), f"{fmt}: hypothesis made {s!r}, which does not match"
        if limit is not None and len(s) > limit:
            too_long += 1
            continue
        checked += 1
        longest = max(longest, len(s))
        bad = problems(fmt, s)
        if bad:
            failed += 1
            if failed <= 10:
                print(f"  FAIL {fmt} {s!r}: {'; '.join(bad)}")
    print(f"{fmt:9s} {checked:5d} checked ({len(set(strings)) - too_long} distinct, longest {longest}), {too_long} over the length "
          f"limit skipped, {failed} failed")
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=3000, help="random strings per format")
    ap.add_argument("formats", nargs="*", default=list(PATTERNS))
    args = ap.parse_args()
    failed = sum(run(f, args.n) for f in args.formats)
    print("all valid" if failed == 0 else f"{failed} failures")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
