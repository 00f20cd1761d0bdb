"""The one parser per kind of caller input: JSON documents, GUIDs, RFC 3339 timestamps, request
ids and free texts (labels, notes, names).

Every public surface (HTTP bodies and parameters, the intake queues, the CLI) goes through these,
so a limit or a fix lands everywhere at once. Each accepts any value and either returns a clean
one or raises; nothing here lets a caller's bytes reach storage keys, the JSON parser's recursion,
or `datetime` arithmetic unchecked. The limits are the README's "Limits" table.

Field parsers raise `ValueError` whose message completes "<field> ..." ("must be ..."), so a
request validator can name every bad field at once; the document parser raises `RequestInvalid`.
Standard library only: the function app imports this on its first invocation.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import RequestInvalid

# A queue message holds 64 KiB of text (reference 1.5); an HTTP body gets the same bound, so a
# request that one surface accepts, the other accepts too.
MAX_DOCUMENT_BYTES = 64 * 1024
# Requests are flat objects; a little room for nesting, far below the parser's recursion limit.
MAX_DEPTH = 16
MAX_REQUEST_ID = 200
# Key-safe everywhere (reference 2.2 forbids / \ # ? and control characters in keys; ' and %
# have caused query trouble): a request id can never break a key, a filter or a URL.
REQUEST_ID_CHARACTERS = "letters A-Z a-z, digits and . _ : @ + = ~ -"
# Table Storage holds dates from 1601 (and .NET, the platform's, to 9999), in UTC.
MIN_YEAR = 1601
MAX_YEAR = 9999
# Texts longer than this are cut when a field name or value is quoted back in an error.
_QUOTE = 40

DOCUMENT_CODE = "InvalidJson"
TOO_LARGE_CODE = "RequestTooLarge"

# A GUID in its canonical spelling; also the platform client's environment id check.
GUID_PATTERN = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_GUID = re.compile(GUID_PATTERN)
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,127}", re.ASCII)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=~-]+", re.ASCII)
# One pattern for caller and platform timestamps; `parse_timestamp` tells which parts callers
# must give (RFC 3339: seconds and an offset) and the platform may leave out.
_TIMESTAMP = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[Tt ]"
    r"(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?:(?P<sep>[.,])(?P<fraction>\d{1,32}))?"
    r"\s*(?P<zone>[Zz]|(?P<sign>[+-])(?P<oh>\d{2})(?::?(?P<om>\d{2}))?)?",
    re.ASCII,
)
# What our own records write (operations.format_time): read by `datetime.fromisoformat`, about a
# tenth of the general parse's cost; a history listing reads a few hundred of them per page.
_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
# The characters that open or close strings and containers, or escape inside strings.
_STRUCTURE = re.compile(r'["\\\[\]{}]')
_SURROGATE = re.compile("[\ud800-\udfff]")
# One-line text holds no control character and no line break, the Unicode line and paragraph
# separators included; text of several lines may hold tabs and line breaks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A label is what an operator reads to choose the backup a restore goes back to, and what they
# type to name it again: it must read as it is stored. Three kinds of characters stand in the way.
# Those that reorder what a person reads: the embeddings, overrides and isolates of bidirectional
# text (a label "Before release \u202e2.4" reads as "Before release 4.2"). Refused.
REORDERING = "\u202a-\u202e\u2066-\u2069"
# The direction marks: text that mixes right-to-left and left-to-right needs them; text without a
# right-to-left letter does not, and there they only move its neutrals ("Release \u200f1 - 2\u200f"
# reads as "Release 2 - 1"). Refused in such text.
DIRECTION_MARKS = "\u200e\u200f\u061c"
# Those that show nothing and change nothing a person reads: zero-width space (Thai, Khmer, Lao
# and Myanmar text holds it between words), soft hyphen (pasted from word processors), Mongolian
# vowel separator, word joiner and invisible operators, the deprecated format characters, byte
# order mark (from files), interlinear annotation, and the tag characters (they hide ASCII text;
# their one use is a subdivision flag's name). Removed, so that what is kept is what is seen.
# The joiners (U+200C, U+200D: Persian, Indic scripts, emoji sequences) are kept.
INVISIBLE = ("\u00ad\u180e\u200b\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb"
             "\U000e0000-\U000e007f")
_REORDERING = re.compile(f"[{REORDERING}]")
_MARK = re.compile(f"[{DIRECTION_MARKS}]")
_INVISIBLE = re.compile(f"[{INVISIBLE}]")


# ------------------------------------------------------------------------------------ documents


def decode_json(data: bytes | str, *, what: str = "request", base64_fallback: bool = False) -> Any:
    """The JSON document in `data`, within the size and depth limits; RequestInvalid otherwise.

    UTF-8 only (a UTF-8 byte order mark is allowed); duplicate names, NaN/Infinity and strings
    that are not valid Unicode (lone surrogate escapes) are refused. `base64_fallback`: queue
    messages may arrive base64-encoded (the Azure portal's default), so a body that is not JSON
    is tried as base64 of JSON text.
    """
    raw = data if isinstance(data, bytes) else _utf8(data, what)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise RequestInvalid(
            TOO_LARGE_CODE,
            f"The {what} is {len(raw):,} bytes; the limit is {MAX_DOCUMENT_BYTES:,} bytes.",
        )
    try:
        return _document(raw, what)
    except RequestInvalid as error:
        if not base64_fallback:
            raise
        unwrapped = _base64(raw)
        if unwrapped is None:
            raise
        try:
            return _document(unwrapped, what)
        except RequestInvalid as inner:
            # Base64 of text: the caller meant the wrapped document, so its problem is the one.
            raise (inner if _is_utf8(unwrapped) else error) from None


def _document(raw: bytes, what: str) -> Any:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestInvalid(
            DOCUMENT_CODE, f"The {what} is not UTF-8 text (bad byte at offset {error.start})."
        ) from None
    if not text.strip():
        raise RequestInvalid(DOCUMENT_CODE, f"The {what} is empty; send a JSON object.")
    if _max_depth(text) > MAX_DEPTH:
        raise RequestInvalid(
            DOCUMENT_CODE,
            f"The {what} nests more than {MAX_DEPTH} levels deep, the limit "
            "(a request is a flat JSON object).",
        )
    try:
        value = json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except _Refused as error:
        raise RequestInvalid(DOCUMENT_CODE, f"The {what} is not valid JSON: {error}") from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError, over-long integers
        reason = str(error).split(": ")[0] if "digits" in str(error) else str(error)
        raise RequestInvalid(DOCUMENT_CODE, f"The {what} is not valid JSON: {reason}") from None
    if has_surrogate(value):
        raise RequestInvalid(
            DOCUMENT_CODE,
            f"The {what} holds an escape of an unpaired surrogate (\\ud800-\\udfff), which is "
            "not a character; send text as UTF-8.",
        )
    return value


class _Refused(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _Refused(f"the name {quote(name)} appears twice in one object")
        result[name] = value
    return result


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _max_depth(text: str) -> int:
    """How deep `text` nests, up to MAX_DEPTH + 1, in one pass and without the parser's recursion.

    A state machine over the structural characters only; a pattern matching whole strings would
    backtrack quadratically on a body of unterminated, escaped quotes.
    """
    depth = deepest = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(text):
        at, char = match.start(), match.group()
        if in_string:
            if at == escaped_at:
                continue
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest  # enough to refuse; no need to scan a hostile body further
        elif char in "]}":
            depth -= 1
    return deepest


def has_surrogate(value: Any) -> bool:
    """Whether a text anywhere in `value` (a JSON-like document) holds an unpaired surrogate,
    which no UTF-8 encoder writes."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestInvalid(
            DOCUMENT_CODE, f"The {what} is not valid Unicode text (an unpaired surrogate)."
        ) from None


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _base64(raw: bytes) -> bytes | None:
    try:
        return base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


# --------------------------------------------------------------------------------------- fields


def parse_guid(value: object) -> str:
    """A GUID in its canonical 8-4-4-4-12 form, lower-cased; ValueError otherwise.

    Stricter than `uuid.UUID`, which also takes braces, `urn:uuid:`, misplaced hyphens and
    underscores: one spelling per id, because ids become table keys and lock names.
    """
    if isinstance(value, str):
        text = value.strip()
        if _GUID.fullmatch(text):
            return text.lower()
    raise ValueError("must be a GUID such as 00000000-0000-0000-0000-000000000000")


def is_guid(value: object) -> bool:
    try:
        parse_guid(value)
    except ValueError:
        return False
    return True


def is_table_name(value: object) -> bool:
    """A Dataverse table's logical name as the app stores and addresses it: lowercase letters,
    digits and '_', a letter first (system tables and publisher-prefixed ones alike). The whole
    text: a trailing newline is not a name's end (`$` would let one through into blob names)."""
    return isinstance(value, str) and _TABLE_NAME.fullmatch(value) is not None


def parse_text(value: object, *, max_length: int, multiline: bool = False) -> str | None:
    """Trimmed text without invisible characters (`INVISIBLE`), None when blank; ValueError for
    a non-string, an over-long text, control characters (tabs and line breaks too unless
    `multiline`), characters that reorder text (`REORDERING`), direction marks in text without a
    right-to-left letter, or invalid Unicode."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {json_type(value)}")
    if _SURROGATE.search(value):
        raise ValueError("must be valid Unicode (it holds an unpaired surrogate)")
    text = _INVISIBLE.sub("", value).strip()
    if not text:
        return None
    if len(text) > max_length:
        raise ValueError(f"must be at most {max_length} characters (got {len(text)})")
    if (_CONTROL_BUT_LINES if multiline else _CONTROL).search(text):
        raise ValueError("must not contain control characters other than tabs and line breaks"
                         if multiline else "must not contain control characters or line breaks")
    found = _REORDERING.search(text)
    where = ""
    if found is None and not _right_to_left(text):
        found, where = _MARK.search(text), ", in text without right-to-left letters"
    if found is not None:
        raise ValueError(
            f"must not contain characters that change the direction of text (U+"
            f"{ord(found.group()):04X} at character {found.start() + 1}{where}): type it as it "
            "should read")
    return text


def _right_to_left(text: str) -> bool:
    """Whether `text` holds a right-to-left letter (Hebrew, Arabic, Syriac, Thaana, ...)."""
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in _MARK.sub("", text))


def readable(text: str) -> str:
    """Text the app did not get from a person (an environment's name, put into a timer backup's
    label) made into what `parse_text` takes: control characters and line breaks become spaces,
    characters that are invisible or reorder text go (and direction marks where no right-to-left
    letter needs them), a lone surrogate becomes U+FFFD. A backup is never refused for its
    environment's name."""
    text = _CONTROL.sub(" ", _SURROGATE.sub("\ufffd", text))  # every line break, too
    text = _REORDERING.sub("", _INVISIBLE.sub("", text))
    return text if _right_to_left(text) else _MARK.sub("", text)


def parse_request_id(value: object) -> str | None:
    """An idempotency key: None when blank; ValueError unless 1-200 key-safe characters."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {json_type(value)}")
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_REQUEST_ID:
        raise ValueError(f"must be at most {MAX_REQUEST_ID} characters (got {len(text)})")
    if not _REQUEST_ID.fullmatch(text):
        raise ValueError(f"may hold only {REQUEST_ID_CHARACTERS}")
    return text


def usable_request_id(raw: object) -> str | None:
    """The request id of a (possibly invalid) request object, if it is a valid one."""
    if not isinstance(raw, dict):
        return None
    try:
        return parse_request_id(raw.get("requestId"))
    except ValueError:
        return None


def parse_timestamp(value: object, *, platform: bool = False) -> datetime:
    """An aware UTC datetime; ValueError naming what is wrong otherwise.

    Callers must give RFC 3339 with seconds and an offset (`2026-11-20T09:00:00+01:00`,
    `...Z`). `platform=True` reads what the platform and our own records write: seconds and zone
    may be missing (no zone means UTC), fractions may be longer, offsets compact (`+0100`).
    Both refuse dates that do not exist (month 13), offsets of a day or more, and instants
    outside the years 1601-9999 UTC, which no table, and no platform, can hold.
    """
    rfc3339 = (
        "must be an RFC 3339 date-time with a UTC offset, e.g. 2026-11-20T09:00:00+01:00 or "
        "2026-11-20T08:00:00Z"
    )
    if not isinstance(value, str):
        raise ValueError(rfc3339)
    if _CANONICAL.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass  # a day that does not exist: the general parse below says which part is wrong
        else:
            if parsed.year >= MIN_YEAR:
                return parsed
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        raise ValueError(rfc3339)
    if not platform and not _RFC3339.fullmatch(value.strip()):
        raise ValueError(rfc3339)
    parts = match.groupdict()
    year, month, day = int(parts["year"]), int(parts["month"]), int(parts["day"])
    hour, minute = int(parts["hour"]), int(parts["minute"])
    second = int(parts["second"] or 0)
    micros = int((parts["fraction"] or "")[:6].ljust(6, "0"))
    if year < 1:
        raise ValueError(f"must lie in the years {MIN_YEAR}-{MAX_YEAR} (UTC)")
    if not 1 <= month <= 12:
        raise ValueError(f"has month {month:02d}; months run 01-12")
    try:
        datetime(year, month, day)
    except ValueError:
        raise ValueError(
            f"names a day that does not exist ({year:04d}-{month:02d}-{day:02d})"
        ) from None
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(
            f"has a time that does not exist ({hour:02d}:{minute:02d}:{second:02d}); "
            "hours run 00-23, minutes and seconds 00-59"
        )
    offset = timedelta(0)
    if parts["sign"]:
        oh, om = int(parts["oh"]), int(parts["om"] or 0)
        if oh > 23 or om > 59:
            raise ValueError(
                f"has the UTC offset {parts['zone']}; an offset is less than a day "
                "(-23:59 to +23:59)"
            )
        offset = timedelta(hours=oh, minutes=om) * (-1 if parts["sign"] == "-" else 1)
    local = datetime(year, month, day, hour, minute, second, micros)
    try:
        # Naive arithmetic: at the calendar's edges this overflows instead of wrapping.
        instant = local - offset
    except OverflowError:
        instant = datetime.min
    if not MIN_YEAR <= instant.year <= MAX_YEAR:
        raise ValueError(f"must lie in the years {MIN_YEAR}-{MAX_YEAR} (UTC)")
    return instant.replace(tzinfo=UTC)


# -------------------------------------------------------------------------------------- helpers


def quote(text: str) -> str:
    """`text` as it may appear in an error message: short, one line, printable."""
    shown = text if len(text) <= _QUOTE else text[:_QUOTE] + "…"
    return ascii(shown) if not shown.isprintable() else repr(shown)


def json_type(value: object) -> str:
    names: dict[type, str] = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)
