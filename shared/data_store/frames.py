"""Row files: JSON lines in independently compressed frames (pure).

A chunk is a run of compressed frames (`shared.data_store.compression`: Zstandard, and zlib in
files written before it), each holding up to `FRAME_ROWS` rows or about `FRAME_BYTES` of JSON.
Frames are what make a record readable on its own: the record index names a frame's offset and
length, and one ranged read of a few kilobytes returns the record. Frames of 256 rows store
Dataverse rows at about a tenth of their JSON at ~1 GB/s (docs/data-store.md, "Format choice").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from shared.data_store.compression import compress, decompress, frames_of

FRAME_ROWS = 256
FRAME_BYTES = 1 << 20

Row = dict[str, Any]


# One encoder for every row: `json.dumps` with options builds a new one per call, a quarter of
# the encoding time of a page (the same output: dumps is this encoder's `encode`).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_row(row: Row) -> bytes:
    # surrogatepass: a lone surrogate the Web API sent as an escape survives as it came.
    return _ENCODER.encode(row).encode("utf-8", "surrogatepass")


# What JSON escapes in a string (with ensure_ascii off): a quote, a backslash, control characters.
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def deleted_line(record_id: str) -> bytes:
    """`encode_row({"id": record_id})`, the line of a deleted record, without the encoder for
    an id that needs no escape (every GUID): deleted ids come by the thousand in a page."""
    if _NEEDS_ESCAPE.search(record_id) is None:
        return b'{"id":"' + record_id.encode("utf-8", "surrogatepass") + b'"}'
    return encode_row({"id": record_id})


def decode_row(line: bytes) -> Row:
    value = json.loads(line.decode("utf-8", "surrogatepass"))
    if not isinstance(value, dict):
        raise ValueError("a row file line is not a JSON object")
    return value


@dataclass(frozen=True, slots=True)
class Frame:
    offset: int
    length: int
    keys: tuple[str, ...]  # the record ids in this frame, in order


@dataclass(frozen=True, slots=True)
class EncodedChunk:
    data: bytes
    frames: tuple[Frame, ...]
    rows: int
    raw_bytes: int


def encode_chunk(rows: Iterable[Row], key_of: Callable[[Row], Any]) -> EncodedChunk:
    """Compress rows into frames; `key_of(row)` names each row's record id."""
    return encode_lines((str(key_of(row)), encode_row(row)) for row in rows)


def encode_lines(keyed_lines: Iterable[tuple[str, bytes]]) -> EncodedChunk:
    """Compress (record id, JSON line) pairs into frames."""
    out = bytearray()
    frames: list[Frame] = []
    pending: list[bytes] = []
    keys: list[str] = []
    size = 0
    total_rows = 0
    raw = 0

    def flush() -> None:
        nonlocal size
        if not pending:
            return
        data = compress(b"\n".join(pending))
        frames.append(Frame(len(out), len(data), tuple(keys)))
        out.extend(data)
        pending.clear()
        keys.clear()
        size = 0

    for key, line in keyed_lines:
        pending.append(line)
        keys.append(key)
        size += len(line) + 1
        total_rows += 1
        raw += len(line) + 1
        if len(pending) >= FRAME_ROWS or size >= FRAME_BYTES:
            flush()
    flush()
    return EncodedChunk(bytes(out), tuple(frames), total_rows, raw)


def decode_frame(data: bytes) -> list[Row]:
    return [decode_row(line) for line in decompress(data).split(b"\n")]


def count_rows(data: bytes) -> int:
    """How many rows a chunk holds, without decoding one (a frame is never empty)."""
    return sum(text.count(b"\n") + 1 for text in frames_of(data))


def iter_chunk(data: bytes) -> Iterator[Row]:
    """Every row of a chunk, frame after frame."""
    for text in frames_of(data):
        for line in text.split(b"\n"):
            yield decode_row(line)
