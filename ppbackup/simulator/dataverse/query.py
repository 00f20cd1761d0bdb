"""The request side of the Web API dialect: `Prefer`, `$select`, a small `$filter`, keys, and the
paging / delta tokens (opaque to the client, reference §3.1 and §4.2)."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ppbackup.simulator.dataverse.errors import bad_query, invalid_token
from ppbackup.simulator.errors import SimError

MAX_PAGE_SIZE = 5000


# ---------------------------------------------------------------------------- Prefer


@dataclass(frozen=True, slots=True)
class Prefer:
    max_page_size: int | None = None
    annotations: tuple[str, ...] = ()
    track_changes: bool = False
    return_representation: bool = False
    continue_on_error: bool = False

    def wants(self, term: str) -> bool:
        """Does `odata.include-annotations` ask for annotation `term`?"""
        wanted = False
        for pattern in self.annotations:
            negate = pattern.startswith("-")
            body = pattern[1:] if negate else pattern
            hit = body == "*" or body == term or (
                body.endswith(".*") and term.startswith(body[:-1])) or (
                body.endswith("*") and term.startswith(body[:-1]))
            if hit:
                wanted = not negate
        return wanted


def _split_preferences(header: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def parse_prefer(headers: Mapping[str, str]) -> Prefer:
    raw = ",".join(v for k, v in headers.items() if k.lower() == "prefer")
    size: int | None = None
    annotations: tuple[str, ...] = ()
    track = representation = continue_on_error = False
    for pref in _split_preferences(raw):
        name, _, value = pref.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"')
        if name in ("odata.maxpagesize", "maxpagesize"):
            if not value.isdigit() or int(value) < 1:
                raise bad_query(f"The Prefer odata.maxpagesize value '{value}' is not valid.")
            size = min(int(value), MAX_PAGE_SIZE)
        elif name in ("odata.include-annotations", "include-annotations"):
            annotations = tuple(a.strip() for a in value.split(",") if a.strip())
        elif name in ("odata.track-changes", "track-changes"):
            track = True
        elif name == "return" and value == "representation":
            representation = True
        elif name in ("odata.continue-on-error", "continue-on-error"):
            continue_on_error = True
    return Prefer(size, annotations, track, representation, continue_on_error)


# ---------------------------------------------------------------------------- $filter


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<typed>[A-Za-z][\w.]*'(?:[^']|'')*')"
    r"|(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<paren>[()])|(?P<word>[A-Za-z_@][\w./@]*))"
)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}
_OR = re.compile(r"\s+or\s+")
_ID_TERM = re.compile(
    r"^\s*(?P<open>[(\s]*)(?P<name>[A-Za-z_]\w*)\s+eq\s+"
    r"(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"(?P<close>[)\s]*)$"
)

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Filter:
    predicate: Predicate
    key_in: tuple[str, tuple[str, ...]] | None
    """(property, guids) when the whole filter is `<property> eq <guid>` or a disjunction of
    such terms on one property (parentheses allowed): answered by direct lookups."""
    properties: tuple[str, ...]


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise bad_query(f"Syntax error at position {pos} in $filter '{text}'.")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _literal(kind: str, value: str) -> Any:
    if kind == "str":
        return value[1:-1].replace("''", "'")
    if kind == "typed":  # Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'
        return value[value.index("'") + 1:-1].replace("''", "'")
    if kind == "guid":
        return value.lower()
    if kind == "num":
        return float(value) if "." in value else int(value)
    if value in ("true", "false"):
        return value == "true"
    if value == "null":
        return None
    raise bad_query(f"'{value}' is not a literal.")


def _lookup(row: Mapping[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value.lower() if isinstance(value, str) and _is_guid(value) else value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"gt": left > right, "ge": left >= right, "lt": left < right,
                     "le": left <= right}[op])
    except TypeError:
        return False


def parse_filter(text: str) -> Filter:
    """`a eq 'x' and (b ne 1 or c/Value eq true)`, `not`; comparisons only (no functions)."""
    ids = _id_disjunction(text)
    if ids is not None:
        name, wanted = ids
        members = frozenset(wanted)
        return Filter(lambda row: _lookup(row, name) in members, ids, (name,))
    tokens = _tokens(text)
    pos = 0
    props: list[str] = []

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise bad_query(f"Unexpected end of $filter '{text}'.")
        pos += 1
        return tokens[pos - 1]

    def primary() -> Predicate:
        kind, value = take()
        if kind == "paren" and value == "(":
            inner = disjunction()
            if take() != ("paren", ")"):
                raise bad_query(f"Missing ')' in $filter '{text}'.")
            return inner
        if kind == "word" and value == "not":
            operand = primary()
            return lambda row: not operand(row)
        if kind != "word":
            raise bad_query(f"Expected a property name in $filter '{text}', got '{value}'.")
        op_kind, op = take()
        if op_kind != "word" or op not in _OPS:
            raise bad_query(f"Unsupported operator '{op}' in $filter '{text}' "
                            "(the simulator knows eq, ne, gt, ge, lt, le, and, or, not).")
        lit_kind, lit = take()
        right = _literal(lit_kind, lit)
        props.append(value)
        path = value
        return lambda row: _compare(op, _lookup(row, path), right)

    def conjunction() -> Predicate:
        parts = [primary()]
        while peek() == ("word", "and"):
            take()
            parts.append(primary())
        return lambda row: all(p(row) for p in parts)

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while peek() == ("word", "or"):
            take()
            parts.append(conjunction())
        return lambda row: any(p(row) for p in parts)

    predicate = disjunction()
    if pos != len(tokens):
        raise bad_query(f"Unexpected '{tokens[pos][1]}' in $filter '{text}'.")
    return Filter(predicate, None, tuple(props))


def _id_disjunction(text: str) -> tuple[str, tuple[str, ...]] | None:
    """`p eq <guid> or (p eq <guid>) or ...` -> (p, guids), without the general parser: the
    record-restore planner sends a million ids this way. With `or` the only connective and `eq`
    the only comparison, grouping cannot change the meaning; parentheses only have to nest."""
    name = None
    ids: dict[str, None] = {}
    depth = 0
    for term in _OR.split(text):
        match = _ID_TERM.match(term)
        if match is None or (name is not None and match.group("name") != name):
            return None
        name = match.group("name")
        depth += match.group("open").count("(")
        depth -= match.group("close").count(")")
        if depth < 0:
            return None
        ids[match.group("guid").lower()] = None
    return (name, tuple(ids)) if name is not None and depth == 0 else None


# ---------------------------------------------------------------------------- keys


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def parse_key(text: str, primary_id: str, resource: str) -> str:
    """`<guid>` or `<primary id>=<guid>` -> the lower-case guid (reference §5.4)."""
    name, sep, value = text.partition("=")
    candidate = value if sep else name
    if (sep and name.strip() != primary_id) or not _is_guid(candidate.strip()):
        raise SimError(400, "0x80060888",
                       f"The key in the request URI is not valid for resource '{resource}'. "
                       "The simulator addresses rows by primary key only.")
    return candidate.strip().lower()


def parse_guid(text: Any, what: str) -> str:
    if not isinstance(text, str) or not _is_guid(text):
        raise SimError(400, "0x0", f"{what}: '{text}' is not a valid Guid.")
    return text.lower()


# ---------------------------------------------------------------------------- tokens


def encode_skiptoken(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_skiptoken(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error) as exc:
        raise invalid_token("$skiptoken") from exc
    if not isinstance(value, dict):
        raise invalid_token("$skiptoken")
    return value


def encode_deltatoken(version: int, issued: datetime) -> str:
    """Shaped like the platform's `919042!08/22/2017 08:10:44` (reference §4.2)."""
    return f"{version}!{issued.astimezone(UTC):%m/%d/%Y %H:%M:%S}"


def decode_deltatoken(token: str) -> tuple[int, datetime]:
    version, sep, stamp = token.partition("!")
    try:
        issued = datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC)
        if not sep or not version.isdigit():
            raise ValueError(token)
    except ValueError as exc:
        raise invalid_token("$deltatoken") from exc
    return int(version), issued
