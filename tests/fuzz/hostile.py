"""Hypothesis strategies for what a hostile (or merely careless) caller sends.

Every strategy draws a `Hostile` value: the input itself and, when the generator knows it, that
no valid request can be made of it (`must_reject`), so a test can insist on a refusal instead of
trusting the parser under test to say which inputs are bad.
"""

from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from shared.inputs import MAX_DEPTH, MAX_DOCUMENT_BYTES

ENV = "51f48b59-205a-4945-aa35-a0d6a2fe05ea"
OTHER_ENV = "0b6f3c2e-7d1a-4c8e-9f10-2a3b4c5d6e7f"

BACKUP_FIELDS = ("environmentId", "label", "notes", "requestedBy", "requestId")
RESTORE_FIELDS = (
    "targetEnvironmentId", "sourceEnvironmentId", "backupId", "backupLabel",
    "restorePointDateTime", "latest", "skipAuditData", "safetyBackup", "confirmProduction",
    "dryRun", "requestedBy", "reason", "requestId",
)


@dataclass(frozen=True)
class Hostile:
    value: Any
    must_reject: bool = False
    what: str = ""


# ----------------------------------------------------------------------------------------- texts

# Characters that break things: controls (C0, DEL, C1), what Table Storage forbids in keys,
# quotes and percent signs (OData and URL trouble), separators, bidi overrides, a BOM, non-ASCII
# digits (which `\d` and `int()` accept), a non-character, and lone surrogates.
NASTY_CHARACTERS = (
    "\x00", "\x01", "\x07", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9f",
    "/", "\\", "#", "?", "'", '"', "%", "&", "=", "+", " ", "\u00a0", "\u2028", "\u202e",
    "\ufeff", "\ufffe", "\uffff", "\u0663", "\uff10", "²", "\U0001f4a5", "\ud800", "\udfff",
    "{", "[",
)
nasty_chars = st.sampled_from(NASTY_CHARACTERS) | st.characters(codec="utf-8") | st.characters(
    categories=("Cs", "Cc", "Cf", "Zl", "Zp", "Co", "Cn")
)
nasty_text = st.text(nasty_chars, max_size=40) | st.text(max_size=20)
long_text = st.builds(
    lambda c, n: c * n, st.sampled_from(["x", "é", "\U0001f4a5", "/", "\x00"]),
    st.sampled_from([199, 200, 201, 256, 257, 1000, 2000, 2001, 10_000, 40_000]),
)


def _guid_like(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from([ENV, OTHER_ENV, ENV.upper(), ENV.replace("-", "")]))
    form = draw(st.sampled_from(["plain", "braces", "urn", "spaces", "unicode", "underscore",
                                 "short", "long", "hyphens", "zero"]))
    return {
        "plain": base,
        "braces": "{" + base + "}",
        "urn": "urn:uuid:" + base,
        "spaces": "  " + base + "\t",
        "unicode": base.replace("5", "\u0665"),
        "underscore": base.replace("-", "_"),
        "short": base[:-1],
        "long": base + "0",
        "hyphens": base.replace("-", "")[:30] + "------",
        "zero": "00000000-0000-0000-0000-000000000000",
    }[form]


guid_like = st.composite(_guid_like)()


def _date_like(draw: st.DrawFn) -> str:
    """RFC 3339 look-alikes, every part possibly out of range."""
    def two(low: int = 0, high: int = 99) -> str:
        return f"{draw(st.integers(low, high)):02d}"

    year = draw(st.sampled_from(["0000", "0001", "1600", "1601", "1969", "2026", "9999", "10000",
                                 "\u0662\u0660\u0662\u0666", "-001"]))
    fraction = draw(st.sampled_from(["", ".1", ".123", ".123456789", ".1234567890", ",5", "."]))
    zone = draw(
        st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+0100", "+01", " Z"])
        | st.builds(
            lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
            st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 99),
        )
    )
    sep = draw(st.sampled_from(["T", "t", " ", "_", ""]))
    return f"{year}-{two()}-{two()}{sep}{two()}:{two()}:{two()}{fraction}{zone}"


date_like = st.composite(_date_like)()

huge_numbers = st.sampled_from(
    [2**31, 2**63, -(2**63) - 1, 2**64, 10**300, -(10**4000), 1e308, -1e-320, 0.1]
) | st.integers() | st.floats(allow_nan=False)

text_values = nasty_text | long_text | guid_like | date_like

json_scalars = (
    st.none() | st.booleans() | huge_numbers | text_values
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=10,
)

# --------------------------------------------------------------------------------------- requests


def valid_backup(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"environmentId": ENV, "label": draw(st.sampled_from(
        ["Before release 4.2", "Pre-update", "ünïcødé 💥", "x" * 200]))}
    if draw(st.booleans()):
        body["requestId"] = draw(st.from_regex(r"[A-Za-z0-9._:@+=~-]{1,40}", fullmatch=True))
    return body


def valid_restore(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"targetEnvironmentId": OTHER_ENV, "dryRun": True}
    source = draw(st.sampled_from(["latest", "backupLabel", "restorePointDateTime", "backupId"]))
    body[source] = {
        "latest": True,
        "backupLabel": "Before release 4.2",
        "restorePointDateTime": "2026-11-20T09:00:00+01:00",
        "backupId": "backup-1",
    }[source]
    if draw(st.booleans()):
        body["requestId"] = draw(st.from_regex(r"[A-Za-z0-9._:@+=~-]{1,40}", fullmatch=True))
    return body


def request_object(draw: st.DrawFn, fields: tuple[str, ...], valid: Any) -> Hostile:
    """A request close to valid, with fields changed, added, removed or mistyped."""
    body: dict[str, Any] = draw(st.composite(valid)())
    must_reject = False
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["set", "set", "add", "drop", "type"]))
        name = draw(st.sampled_from(fields))
        if action == "set":
            body[name] = draw(text_values)
        elif action == "add":
            unknown = draw(nasty_text.filter(lambda n: n not in fields))
            body[unknown] = draw(json_values)
            must_reject = True  # unknown fields are refused
        elif action == "drop":
            body.pop(name, None)
        else:
            body[name] = draw(json_values)
    return Hostile(body, must_reject, "object")


def backup_objects() -> st.SearchStrategy[Hostile]:
    return st.composite(lambda d: request_object(d, BACKUP_FIELDS, valid_backup))()


def restore_objects() -> st.SearchStrategy[Hostile]:
    return st.composite(lambda d: request_object(d, RESTORE_FIELDS, valid_restore))()


def restore_dates() -> st.SearchStrategy[Hostile]:
    """Valid restores but for the date: most of these dates are not real instants."""
    def build(draw: st.DrawFn) -> Hostile:
        body = {"targetEnvironmentId": OTHER_ENV, "dryRun": True,
                "restorePointDateTime": draw(date_like),
                "requestId": draw(st.from_regex(r"[a-z0-9-]{8,20}", fullmatch=True))}
        return Hostile(body, False, "date")
    return st.composite(build)()


# ------------------------------------------------------------------------------------------ bytes


def _encode(draw: st.DrawFn, value: Any) -> bytes:
    """JSON text of `value` the way different clients write it (lone surrogates as escapes)."""
    style = draw(st.sampled_from(["ascii", "utf8", "pretty", "bom"]))
    try:
        indent = 2 if style == "pretty" else None
        text = json.dumps(value, ensure_ascii=style != "utf8", indent=indent)
    except ValueError:  # an integer past Python's conversion limit: send such a number as text
        text = "1" * 5000
    raw = text.encode("utf-8", "surrogatepass")
    return b"\xef\xbb\xbf" + raw if style == "bom" else raw


def _deep(draw: st.DrawFn) -> Hostile:
    depth = draw(st.sampled_from([MAX_DEPTH + 1, 100, 1000, 5000, 50_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    inner = opener * depth + "1" + closer * depth
    if draw(st.booleans()):
        inner = '{"environmentId": ' + inner + "}"
    return Hostile(inner.encode(), True, "deep")


def _huge(draw: st.DrawFn) -> Hostile:
    size = draw(st.sampled_from([MAX_DOCUMENT_BYTES + 1, MAX_DOCUMENT_BYTES * 2, 1_000_000]))
    kind = draw(st.sampled_from(["label", "spaces", "keys"]))
    if kind == "label":
        body = json.dumps({"environmentId": ENV, "label": "x" * size}).encode()
    elif kind == "spaces":
        body = b"{" + b" " * size + b"}"
    else:
        body = json.dumps({f"k{i}": i for i in range(size // 8)}).encode()
    return Hostile(body, True, "huge")


def _many_fields(draw: st.DrawFn) -> Hostile:
    """Thousands of unknown fields within the size limit: the refusal must stay small."""
    count = draw(st.sampled_from([50, 1000, 5000]))
    body = {"environmentId": ENV, "label": "x"} | {f"f{i}": 0 for i in range(count)}
    return Hostile(json.dumps(body, separators=(",", ":")).encode(), True, "many-fields")


def _duplicate(draw: st.DrawFn, fields: tuple[str, ...]) -> Hostile:
    name = draw(st.sampled_from(fields))
    first, second = json.dumps(draw(text_values)), json.dumps(draw(text_values))
    body = f'{{"{name}": {first}, "label": "x", "{name}": {second}}}'
    return Hostile(body.encode("utf-8", "surrogatepass"), True, "duplicate")


def _lexical(draw: st.DrawFn) -> Hostile:
    """Bodies no JSON parser should accept, or that only Python's accepts."""
    body = draw(st.sampled_from([
        b"", b" ", b"\x00", b"\xff\xfe{}", b"\xfe\xff\x00{\x00}", b'{"a": NaN}',
        b'{"a": Infinity}', b'{"a": -Infinity}', b"1" * 5000, b'{"a": 1' + b"0" * 5000 + b"}",
        b'{"a": 1e999999}', b'{"a": "\\ud800"}', b'{"\\udc00": 1}', b'{"a": "\xed\xa0\x80"}',
        b"{'a': 1}", b'{"a": 1,}', b"[1, 2", b'"unterminated', b"\x80abc", b"null", b"true",
        b"[]", b'"a string"', b"42", b"{}",
        # Unterminated strings of escapes: quadratic for a scanner that backtracks.
        b'"' + b'\\"' * 21_000, b'"\\' * 30_000, b'{"a": "' + b"\\" * 60_000,
    ]) | st.binary(max_size=200))
    return Hostile(body, True, "lexical")


def bodies(fields: tuple[str, ...], objects: st.SearchStrategy[Hostile],
           extra: tuple[st.SearchStrategy[Hostile], ...] = ()) -> st.SearchStrategy[Hostile]:
    """Raw request bodies: encoded objects, and everything that is not one."""

    def encode_object(draw: st.DrawFn) -> Hostile:
        hostile = draw(objects)
        return Hostile(_encode(draw, hostile.value), hostile.must_reject, hostile.what)

    def any_json(draw: st.DrawFn) -> Hostile:
        value = draw(json_values)
        # Anything but an object is refused; an object of random names has unknown fields.
        return Hostile(_encode(draw, value), not isinstance(value, dict) or bool(value), "json")

    return st.one_of(
        st.composite(encode_object)(),
        st.composite(encode_object)(),
        st.composite(encode_object)(),
        st.composite(any_json)(),
        st.composite(_deep)(),
        st.composite(_huge)(),
        st.composite(_many_fields)(),
        st.composite(lambda d: _duplicate(d, fields))(),
        st.composite(_lexical)(),
        *extra,
    )


def _dumpable(value: Any) -> bool:
    try:
        json.dumps(value)
    except ValueError:
        return False
    return True


def as_queue_message(body: bytes, encode: bool) -> bytes:
    """Queue texts are sent plain or (the portal's default) base64-encoded."""
    return base64.b64encode(body) if encode else body


# ----------------------------------------------------------------------------- path and query


def _path_segment(draw: st.DrawFn) -> str:
    return draw(st.one_of(
        nasty_text,
        long_text,
        guid_like,
        st.sampled_from([
            "", ".", "..", "%2F", "%00", "backup-20261121T010000000Z-abcdef",
            "restore-20261321T010000000Z-abcdef", "backup-99999999T999999999Z-x",
            "backup-20261121T010000000Z-" + "a" * 65, "backup-20261121T010000000Z-ab/cd",
            "backup-2026112\uff11T010000000Z-abcdef", "restore-00000101T000000000Z-0",
            "backup-20261121T010000+12Z-abcdef", "backup-20261121T010000-12Z-abcdef",
        ]),
        st.text(string.printable, max_size=30),
    ))


path_segments = st.composite(_path_segment)()

query_names = st.sampled_from(
    ["environmentId", "kind", "limit", "continuationToken", "requestId", "code"]
)
query_values = st.one_of(
    nasty_text, long_text, guid_like,
    st.sampled_from(["backup", "restore", "BACKUP", "copy", "0", "1", "200", "201", "-1", "²",
                     "\u0663", "1e3", " 5", "5 ", "00050", "999999999999999999999", "AAAA", "=="]),
    st.from_regex(r"[A-Za-z0-9_-]{1,60}", fullmatch=True),
)
queries = st.dictionaries(query_names | nasty_text, query_values, max_size=5)
