"""One page of a table read, and where the read goes on (reference §3.1, §4).

A read is a chain of pages. Each page answers one request, so an invocation reads one page and
hands the `PageCursor` on (it is plain JSON for a queue message or a table entity); no caller
ever needs to hold a whole table. The last page of a change-tracking read carries the delta
link that starts the next incremental read.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_PAGE_SIZE = 5000  # the Web API's default and maximum (reference §3.1)
FORMATTED_VALUE = "@OData.Community.Display.V1.FormattedValue"
# The `Prefer` member of every row read: only the lookup annotations the backup keeps (target
# table, navigation property). Formatted values would almost triple every answer (labels derived
# from the columns, dropped by `clean_row` anyway) and have been reported to lose the last page's
# delta link (reference 3.2). `@odata.etag` comes without asking.
LOOKUP_ANNOTATIONS = 'odata.include-annotations="Microsoft.Dynamics.CRM.*"'
_DELETED_CONTEXT = "$deletedEntity"


def check_page_size(page_size: int) -> int:
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not (1 <= page_size <= MAX_PAGE_SIZE)
    ):
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}; got {page_size!r}")
    return page_size


@dataclass(frozen=True, slots=True)
class PageCursor:
    """The next request of a read: a URL the server gave (followed verbatim) or built by the
    client, and the preferences every page of the read repeats."""

    url: str
    page_size: int = MAX_PAGE_SIZE
    track_changes: bool = False

    def __post_init__(self) -> None:
        check_page_size(self.page_size)
        if not isinstance(self.url, str) or not self.url.startswith(("https://", "http://")):
            raise ValueError("a page cursor needs an absolute URL")

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "pageSize": self.page_size, "trackChanges": self.track_changes}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PageCursor:
        url, size, track = data.get("url"), data.get("pageSize"), data.get("trackChanges")
        if not isinstance(url, str) or not isinstance(size, int) or not isinstance(track, bool):
            raise ValueError("a page cursor is {url: str, pageSize: int, trackChanges: bool}")
        return cls(url, size, track)


@dataclass(frozen=True, slots=True)
class DeletedRow:
    """A row gone since the delta link was issued (`reason` is `deleted` in Dataverse)."""

    id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Page:
    """One answer. `rows` are new or changed rows (all of them on a full read), as the Web API
    returns them less formatted values; `deleted` only comes in delta reads. `next` is None on
    the last page, which carries `delta_link` when the read tracks changes and the table has
    change tracking on. `dop_hint` is the server's recommended degree of parallelism."""

    rows: tuple[Mapping[str, Any], ...]
    deleted: tuple[DeletedRow, ...]
    next: PageCursor | None
    delta_link: str | None
    dop_hint: int | None
    request_id: str
    # Read for a backup (`parse_page(id_column=...)`): each row's JSON as the server sent it,
    # one UTF-8 line, and its id, instead of `rows`: what the backup stores, with no second
    # encoding of every row (and a decimal keeps every digit it came with).
    lines: tuple[bytes, ...] = ()
    ids: tuple[str, ...] = ()

    @property
    def row_count(self) -> int:
        return len(self.rows) or len(self.lines)

    @property
    def last(self) -> bool:
        return self.next is None


def clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as the backup keeps it: every column, lookup annotations and the ETag; not the
    formatted values (labels in the reader's language, derived from the columns)."""
    return {k: v for k, v in row.items() if not k.endswith(FORMATTED_VALUE)}


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
# A cleaned row's text: compact, as the rows a server sends.
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def read_collection(text: str, each: Callable[[Any, str], None]) -> tuple[dict[str, Any], bool]:
    """A collection answer read item by item: `each(item, item_text)` for every `value` item in
    order, with the text it was read from; returns the other members, and whether `value` was
    an array. Parsed as `json.loads` would; ValueError when the text is not one JSON object. No
    item outlives its call unless `each` keeps it."""
    decode = _DECODER.raw_decode

    def skip(at: int) -> int:
        found = _SPACE.match(text, at)
        return found.end() if found else at

    def expect(at: int, token: str) -> int:
        if text[at:at + 1] != token:
            raise ValueError(f"expected {token!r} at character {at}")
        return skip(at + 1)

    members: dict[str, Any] = {}
    listed = False
    at = skip(0)
    if text[at:at + 1] != "{":
        raise ValueError("the answer is not a JSON object")
    at = skip(at + 1)
    closed = text[at:at + 1] == "}"
    at += closed
    while not closed:
        key, at = decode(text, at)
        if not isinstance(key, str):
            raise ValueError(f"a member name is not a string at character {at}")
        at = expect(skip(at), ":")
        if key == "value" and text[at:at + 1] == "[":
            if listed:
                raise ValueError("two 'value' arrays")
            listed = True
            members.pop(key, None)
            at = skip(at + 1)
            done = text[at:at + 1] == "]"
            at += done
            while not done:
                start = at
                item, at = decode(text, at)
                each(item, text[start:at])
                at = skip(at)
                done = text[at:at + 1] == "]"
                at = at + 1 if done else expect(at, ",")
        else:
            members[key], at = decode(text, at)
            if key == "value" and listed:
                raise ValueError("two 'value' members")
        at = skip(at)
        closed = text[at:at + 1] == "}"
        at = at + 1 if closed else expect(at, ",")
    if skip(at) != len(text):
        raise ValueError(f"extra data at character {at}")
    return members, listed


def parse_page(
    answer: str | bytes, cursor: PageCursor, *, dop_hint: int | None, request_id: str,
    id_column: str | None = None,
) -> Page:
    """A page from one answer's text (or its UTF-8 bytes); ValueError when it is not a
    collection answer.

    With `id_column`, the page is read as a backup keeps it: `lines` (each row's JSON as the
    server sent it, one line) and `ids`, and no `rows`: no row is ever a dict, so a page in
    memory is its text, not three times that."""
    if id_column is None:
        body, rows, deleted = _read_rows(_text(answer))
        lines: list[bytes] = []
        ids: list[str] = []
    else:
        rows = []
        body, lines, ids, deleted = (_split_rows(answer, id_column)
                                     or _walk_rows(_text(answer), id_column))
    next_link = body.get("@odata.nextLink")
    delta_link = body.get("@odata.deltaLink")
    if next_link is not None and not isinstance(next_link, str):
        raise ValueError("'@odata.nextLink' is not a string")
    if delta_link is not None and not isinstance(delta_link, str):
        raise ValueError("'@odata.deltaLink' is not a string")
    return Page(
        rows=tuple(rows),
        deleted=tuple(deleted),
        next=PageCursor(next_link, cursor.page_size, cursor.track_changes) if next_link else None,
        delta_link=delta_link if not next_link and delta_link else None,
        dop_hint=dop_hint,
        request_id=request_id,
        lines=tuple(lines),
        ids=tuple(ids),
    )


_Rows = tuple[dict[str, Any], list[bytes], list[str], list[DeletedRow]]


def _text(answer: str | bytes) -> str:
    # Bytes that are not UTF-8 read as the text httpx would have made of them.
    return answer if isinstance(answer, str) else answer.decode("utf-8", errors="replace")


def _deleted_row(item: Any) -> DeletedRow | None:
    """The deleted row an item names, or None for a row; ValueError for no object."""
    if not isinstance(item, Mapping):
        raise ValueError("a 'value' item is not an object")
    context = item.get("@odata.context")
    if not (isinstance(context, str) and context.endswith(_DELETED_CONTEXT)):
        return None
    row_id = item.get("id")
    if not isinstance(row_id, str) or not row_id:
        raise ValueError("a deleted-row item without 'id'")
    reason = item.get("reason")
    return DeletedRow(row_id, reason if isinstance(reason, str) else "deleted")


def _read_rows(text: str) -> tuple[dict[str, Any], list[Mapping[str, Any]], list[DeletedRow]]:
    """The whole answer at once: json.loads shares the column names between the rows."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ValueError("the answer is not a JSON object")
    items = body.get("value")
    if not isinstance(items, list):
        raise ValueError("the answer has no 'value' list")
    rows: list[Mapping[str, Any]] = []
    deleted: list[DeletedRow] = []
    for item in items:
        gone = _deleted_row(item)
        if gone is None:
            rows.append(clean_row(item))
        else:
            deleted.append(gone)
    return body, rows, deleted


def _row_line(item: Mapping[str, Any] | None, item_text: bytes) -> bytes:
    """A row's text as stored: as it came, unless it has labels to drop (a server that sent
    more than was asked) or spreads over lines (then the cleaned row, compact, on one line)."""
    if _FORMATTED in item_text or b"\n" in item_text or b"\r" in item_text:
        row = item if item is not None else json.loads(item_text.decode("utf-8", "surrogatepass"))
        return _ROW_ENCODER.encode(clean_row(row)).encode("utf-8", "surrogatepass")
    return item_text


def _walk_rows(text: str, id_column: str) -> _Rows:
    """`_split_rows` for any answer it leaves: the standard library's parser, item by item
    (`read_collection`); its errors say what is wrong with the answer."""
    lines: list[bytes] = []
    ids: list[str] = []
    deleted: list[DeletedRow] = []

    def keep(item: Any, item_text: str) -> None:
        gone = _deleted_row(item)
        if gone is not None:
            deleted.append(gone)
            return
        row_id = item.get(id_column)
        if not isinstance(row_id, str) or not row_id:
            raise ValueError(f"a row without its id column {id_column!r}")
        # surrogatepass: an escaped lone surrogate is text; a raw one survives as it came.
        lines.append(_row_line(item, item_text.encode("utf-8", "surrogatepass")))
        ids.append(row_id)

    body, listed = read_collection(text, keep)
    if not listed:
        raise ValueError("the answer has no 'value' list")
    return body, lines, ids, deleted


def _split_rows(answer: str | bytes, id_column: str) -> _Rows | None:
    """A backup's read of the answer: each row's text cut out as it came and only its id and
    deletion members decoded, by msgspec (in C: a fifth of the walk's time, and no row becomes
    a dict). None for whatever it does not read as `_walk_rows` would (malformed answers, an
    escaped lone surrogate, an id that is no string): `_walk_rows` reads it or says why not."""
    import msgspec

    if id_column in _ITEM_MEMBERS:
        return None
    read_answer, read_item = _split_decoders(id_column)
    # (One look at the whole answer spares one per row: a server sends compact rows, and
    # labels only when asked.)
    if isinstance(answer, str):
        as_sent = FORMATTED_VALUE not in answer and "\n" not in answer and "\r" not in answer
    else:
        # Rows are kept as their bytes came: bytes that are not UTF-8 (which msgspec does not
        # look at inside a row) are read by `_walk_rows` from the text httpx would make.
        if not answer.isascii():
            try:
                answer.decode("utf-8")
            except UnicodeDecodeError:
                return None
        as_sent = _FORMATTED not in answer and b"\n" not in answer and b"\r" not in answer
    try:
        read = read_answer.decode(answer)
        lines: list[bytes] = []
        ids: list[str] = []
        deleted: list[DeletedRow] = []
        for raw in read.value:
            item = read_item.decode(raw)
            context = item.context
            if isinstance(context, str) and context.endswith(_DELETED_CONTEXT):
                if not isinstance(item.id, str) or not item.id:
                    return None
                deleted.append(DeletedRow(
                    item.id, item.reason if isinstance(item.reason, str) else "deleted"))
                continue
            if not isinstance(item.row_id, str) or not item.row_id:
                return None
            lines.append(bytes(raw) if as_sent else _row_line(None, bytes(raw)))
            ids.append(item.row_id)
    except (msgspec.DecodeError, UnicodeEncodeError, ValueError):
        return None
    body: dict[str, Any] = {"@odata.nextLink": read.next_link,
                            "@odata.deltaLink": read.delta_link}
    return body, lines, ids, deleted


_FORMATTED = FORMATTED_VALUE.encode()
# The members `_split_rows` decodes of a row (beside its id column).
_ITEM_MEMBERS = frozenset({"@odata.context", "id", "reason"})


@functools.lru_cache(maxsize=256)
def _split_decoders(id_column: str) -> tuple[Any, Any]:
    """msgspec decoders of an answer (its rows left as raw text) and of a row (the members that
    say whether it is a deleted row, and its id)."""
    import msgspec

    answer = msgspec.defstruct("Answer", [
        ("value", list[msgspec.Raw]),
        ("next_link", Any, msgspec.field(name="@odata.nextLink", default=None)),
        ("delta_link", Any, msgspec.field(name="@odata.deltaLink", default=None)),
    ])
    item = msgspec.defstruct("Item", [
        ("context", Any, msgspec.field(name="@odata.context", default=None)),
        ("id", Any, None),
        ("reason", Any, None),
        ("row_id", Any, msgspec.field(name=id_column, default=None)),
    ])
    return msgspec.json.Decoder(answer), msgspec.json.Decoder(item)


def parse_dop_hint(value: str | None) -> int | None:
    """`x-ms-dop-hint`: a positive integer, else None."""
    if value is None:
        return None
    text = value.strip()
    return int(text) if text.isdecimal() and 0 < int(text) <= 10_000 else None
