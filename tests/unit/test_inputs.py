"""The one parser per input kind: every input gets a value or a refusal that names the problem."""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import RequestInvalid
from shared.inputs import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    TOO_LARGE_CODE,
    decode_json,
    is_guid,
    is_table_name,
    parse_guid,
    parse_request_id,
    parse_text,
    parse_timestamp,
    readable,
)

GUID = "51f48b59-205a-4945-aa35-a0d6a2fe05ea"


# ------------------------------------------------------------------------------------ documents


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_refused(data: bytes) -> None:
    try:
        decode_json(data, base64_fallback=True)
    except RequestInvalid as error:
        assert error.code in ("InvalidJson", TOO_LARGE_CODE)
        assert error.message


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 200_000 // 2])
def test_deep_nesting_is_refused_before_parsing(depth: int) -> None:
    body = ("[" * depth + "]" * depth).encode()
    with pytest.raises(RequestInvalid, match="levels deep"):
        decode_json(body[:MAX_DOCUMENT_BYTES])


def test_nesting_up_to_the_limit_and_brackets_inside_strings_are_fine() -> None:
    assert decode_json(("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()) is not None
    assert decode_json(json.dumps({"a": "[" * 10_000}).encode()) == {"a": "[" * 10_000}
    assert decode_json(b'{"a": "\\"[[[["}') == {"a": '"[[[['}


def depth_of(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


tricky_text = st.text(alphabet='[]{}"\\\\ab\n', max_size=12)
nested = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=30,
)


@given(nested)
def test_depth_counts_containers_not_brackets_inside_strings(value: object) -> None:
    body = json.dumps(value).encode()
    if depth_of(value) <= MAX_DEPTH:
        assert decode_json(body) == value
    else:
        with pytest.raises(RequestInvalid, match="levels deep"):
            decode_json(body)


@pytest.mark.parametrize(
    "body",
    # Unterminated strings of escaped quotes: a scanner that backtracks takes minutes on these.
    [b'"' + b'\\"' * 21_000, b'"\\' * 30_000, b'["' * 30_000, b'{"a": "' + b"\\" * 60_000],
)
def test_pathological_strings_are_refused_in_one_pass(body: bytes) -> None:
    with pytest.raises(RequestInvalid):
        decode_json(body)


def test_size_limit_is_in_bytes_and_its_own_code() -> None:
    fits = json.dumps({"a": "x" * (MAX_DOCUMENT_BYTES - 9)}).encode()
    assert len(fits) == MAX_DOCUMENT_BYTES
    assert decode_json(fits)
    with pytest.raises(RequestInvalid) as caught:
        decode_json(fits + b" ")
    assert caught.value.code == TOO_LARGE_CODE
    assert f"{MAX_DOCUMENT_BYTES:,}" in caught.value.message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"a": 1, "a": 2}', "appears twice"),
        (b'{"a": NaN}', "not a JSON number"),
        (b'{"a": -Infinity}', "not a JSON number"),
        (b'{"a": "\\ud800"}', "surrogate"),
        (b'{"\\udfff": 1}', "surrogate"),
        (b"\xff{}", "not UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "not UTF-8"),
        (b"1" * 5000, "digits"),
        (b"  ", "empty"),
        (b"{'a': 1}", "not valid JSON"),
    ],
)
def test_what_json_parsers_disagree_on_is_refused(body: bytes, says: str) -> None:
    with pytest.raises(RequestInvalid, match=says) as caught:
        decode_json(body)
    assert "Traceback" not in caught.value.message


def test_base64_of_json_is_read_only_when_asked() -> None:
    wrapped = base64.b64encode(b'{"a": 1}')
    assert decode_json(wrapped, base64_fallback=True) == {"a": 1}
    with pytest.raises(RequestInvalid):
        decode_json(wrapped)
    # A base64 wrapper does not get around the limits.
    with pytest.raises(RequestInvalid, match="levels deep"):
        decode_json(base64.b64encode(b"[" * 100 + b"]" * 100), base64_fallback=True)


def test_a_utf8_byte_order_mark_is_allowed() -> None:
    assert decode_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


# --------------------------------------------------------------------------------------- fields


@pytest.mark.parametrize(
    "value",
    [GUID.upper(), f" {GUID} ", GUID],
)
def test_guids_are_canonical(value: str) -> None:
    assert parse_guid(value) == GUID


@pytest.mark.parametrize(
    "value",
    ["{" + GUID + "}", "urn:uuid:" + GUID, GUID.replace("-", ""), GUID.replace("-", "_"),
     GUID.replace("5", "\u0665"), GUID[:-1], GUID + "0", "1111_111-2222-3333-4444-555555555555",
     3, None, ["x"]],
)
def test_guid_look_alikes_are_refused(value: object) -> None:
    assert not is_guid(value)
    with pytest.raises(ValueError, match="GUID"):
        parse_guid(value)


@given(st.text())
def test_table_names_are_whole_lowercase_logical_names(value: str) -> None:
    # What the store builds blob names from: nothing else may pass, not even a trailing newline
    # (a `$`-anchored pattern lets "account\n" through).
    if is_table_name(value):
        assert value[0].isascii() and value[0].islower()
        assert len(value) <= 128 and set(value) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")


@pytest.mark.parametrize("value", ["account\n", "account\r\n", " account", "_account",
                                   "Account", "acc'ount", "$filter", "", "a" * 129, 3, None])
def test_table_name_look_alikes_are_refused(value: object) -> None:
    assert not is_table_name(value)


@pytest.mark.parametrize("value", ["account", "new_project_contact", "msdyn_x1", "a" * 128])
def test_table_names(value: str) -> None:
    assert is_table_name(value)


@given(st.text())
def test_request_ids_are_key_safe_or_refused(value: str) -> None:
    try:
        parsed = parse_request_id(value)
    except ValueError as error:
        assert "must" in str(error) or "may hold only" in str(error)
        return
    if parsed is not None:
        assert 1 <= len(parsed) <= 200
        assert not set(parsed) & set("/\\#?'% ")
        assert parsed.isascii() and parsed.isprintable()


@pytest.mark.parametrize("value", ["a/b", "a#b", "a?b", "a\\b", "a\x00b", "a b", "é", "'", "%"])
def test_request_ids_refuse_what_keys_and_filters_cannot_hold(value: str) -> None:
    with pytest.raises(ValueError, match="may hold only"):
        parse_request_id(value)


# What reorders or hides text (inputs.REORDERING, INVISIBLE, DIRECTION_MARKS), spelled out here so
# that a change there shows.
REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE = frozenset(
    "\u00ad\u180e\u200b\u2060\u2061\u2062\u2063\u2064\u206a\u206b\u206c\u206d\u206e\u206f"
    "\ufeff\ufff9\ufffa\ufffb"
) | {chr(c) for c in range(0xE0000, 0xE0080)}
MARKS = frozenset("\u200e\u200f\u061c")


def right_to_left(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text if c not in MARKS)


@given(st.text(), st.booleans())
def test_texts_are_clean_or_refused(value: str, multiline: bool) -> None:
    try:
        text = parse_text(value, max_length=50, multiline=multiline)
    except ValueError:
        return
    if text is not None:
        assert len(text) <= 50
        text.encode("utf-8")  # no lone surrogates
        allowed = {"\t", "\n", "\r", "\u2028", "\u2029"} if multiline else set()
        assert all(c.isprintable() or c in allowed or (not c.isascii() and ord(c) > 0x9F)
                   for c in text)
        assert multiline or not {"\u2028", "\u2029"} & set(text)
        assert not (REORDERING | INVISIBLE) & set(text)
        assert right_to_left(text) or not MARKS & set(text)


@pytest.mark.parametrize(
    ("value", "says"),
    [("a\x00b", "control"), ("a\nb", "control"), ("a\x85b", "control"),
     ("a\u2028b", "line breaks"), ("\ud800", "surrogate"), ("x" * 51, "at most 50"),
     (3, "not a number"), (True, "not a boolean")],
)
def test_texts_say_why_they_are_refused(value: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_text(value, max_length=50)


def test_notes_may_have_lines() -> None:
    assert parse_text(" a\n\tb\r\n ", max_length=50, multiline=True) == "a\n\tb"
    assert parse_text("a\u2028b", max_length=50, multiline=True) == "a\u2028b"


@pytest.mark.parametrize("character", sorted(REORDERING))
@pytest.mark.parametrize("multiline", [False, True])
def test_texts_that_reorder_what_they_say_are_refused(character: str, multiline: bool) -> None:
    with pytest.raises(ValueError, match=rf"change the direction of text "
                                         rf"\(U\+{ord(character):04X} at character 16\)"):
        parse_text(f"Before release {character}2.4", max_length=50, multiline=multiline)


@pytest.mark.parametrize("character", sorted(INVISIBLE))
def test_what_shows_nothing_is_left_out(character: str) -> None:
    assert parse_text(f"{character}Before{character} release 4.2{character}",
                      max_length=50) == "Before release 4.2"


def test_a_direction_mark_needs_right_to_left_text() -> None:
    # "Release \u200f1 - 2\u200f" is laid out as "Release 2 - 1".
    with pytest.raises(ValueError, match=r"U\+200F at character 9, in text without "
                                         r"right-to-left letters"):
        parse_text("Release \u200f1 - 2\u200f", max_length=50)


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        # Persian: a zero-width non-joiner.
        ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", None),
        ("Release \U0001f469\u200d\U0001f4bb done", None),  # an emoji sequence: a joiner
        ("\u05e9\u05d7\u05e8\u05d5\u05e8 4.2\u200f", None),  # Hebrew and a digit: a mark
        ("\u0627\u0644\u0625\u0635\u062f\u0627\u0631\u061c 4.2", None),  # Arabic: its mark
        # Thai and Khmer, their words apart by zero-width spaces: the spaces go, the words stay.
        ("\u0e2a\u0e27\u0e31\u0e2a\u200b\u0e14\u0e35", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35"),
        ("\u1797\u17b6\u179f\u17b6\u200b\u1781\u17d2\u1798\u17c2\u179a",
         "\u1797\u17b6\u179f\u17b6\u1781\u17d2\u1798\u17c2\u179a"),
        ("Stra\u00dfen\u00adbau", "Stra\u00dfenbau"),  # German, with a soft hyphen pasted in
    ],
)
def test_scripts_keep_what_they_need(value: str, kept: str | None) -> None:
    assert parse_text(value, max_length=50) == (kept or value)


@given(st.text())
def test_readable_text_is_always_taken(value: str) -> None:
    text = readable(value)
    assert parse_text(text, max_length=len(value) + 1) == (text.strip() or None)
    try:
        taken = parse_text(value, max_length=len(value) + 1)
    except ValueError:
        return
    if taken == value:  # taken as it was: left as it was
        assert text == value


# ----------------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T09:00:00+01:00", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20t08:00:00.5z", datetime(2026, 11, 20, 8, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-20 08:00:00.123456789-00:30", datetime(2026, 11, 20, 8, 30, 0, 123456, UTC)),
        ("1601-01-01T00:00:00Z", datetime(1601, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2024-02-29T00:00:00+23:59", datetime(2024, 2, 28, 0, 1, tzinfo=UTC)),
    ],
)
def test_rfc3339_instants(value: str, expected: datetime) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("2026-13-01T00:00:00Z", "month 13"),
        ("2026-00-01T00:00:00Z", "month 00"),
        ("2025-02-29T00:00:00Z", "does not exist"),
        ("2026-11-20T24:00:00Z", "does not exist"),
        ("2026-11-20T23:60:00Z", "does not exist"),
        ("2026-11-20T23:59:60Z", "does not exist"),
        ("2026-11-20T09:00:00+24:00", "less than a day"),
        ("2026-11-20T09:00:00-99:99", "less than a day"),
        ("2026-11-20T09:00:00+01:60", "less than a day"),
        ("0000-01-01T00:00:00Z", "1601-9999"),
        ("0001-01-01T00:00:00+01:00", "1601-9999"),
        ("1600-12-31T23:59:59Z", "1601-9999"),
        ("9999-12-31T23:59:59-00:01", "1601-9999"),
        ("2026-11-20T09:00:00", "offset"),
        ("2026-11-20T09:00Z", "offset"),
        ("2026-11-20T09:00:00+0100", "offset"),
        ("2026-11-20T09:00:00.1234567890Z", "offset"),
        ("\u0662\u0660\u0662\u0666-11-20T09:00:00Z", "offset"),
        ("2026-11-20", "offset"),
    ],
)
def test_dates_out_of_range_are_named(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_timestamp(value)


@given(st.datetimes(min_value=datetime(1602, 1, 1), max_value=datetime(9998, 12, 31),
                    timezones=st.just(UTC)),
       st.integers(-(24 * 60 - 1), 24 * 60 - 1))
def test_every_instant_round_trips_through_any_offset(instant: datetime, minutes: int) -> None:
    offset = timedelta(minutes=minutes)
    local = (instant + offset).replace(tzinfo=None)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    text = f"{local.isoformat(timespec='microseconds')}{sign}{hours:02d}:{rest:02d}"
    assert parse_timestamp(text) == instant


@given(st.text(max_size=40))
def test_any_text_is_an_instant_or_refused(value: str) -> None:
    for platform in (False, True):
        try:
            parsed = parse_timestamp(value, platform=platform)
        except ValueError:
            continue
        assert parsed.tzinfo is UTC and 1601 <= parsed.year <= 9999


def test_the_platform_form_is_lenient_where_the_platform_is() -> None:
    assert parse_timestamp("2026-11-20T08:00:00.1234567", platform=True) == datetime(
        2026, 11, 20, 8, 0, 0, 123456, UTC
    )
    assert parse_timestamp("2026-11-20T09:00+0100", platform=True) == datetime(
        2026, 11, 20, 8, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="1601"):
        parse_timestamp("0001-01-01T00:00:00", platform=True)  # .NET's MinValue: no value


@given(st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z"))
def test_the_records_own_form_reads_as_the_general_parse_reads_it(text: str) -> None:
    # Our records' form takes a faster road; the same instant written with "+00:00" does not.
    def read(value: str) -> datetime | str:
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            return str(exc)

    assert read(text) == read(text[:-1] + "+00:00")
