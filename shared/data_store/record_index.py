"""The record index: which frame of which point holds a record's version (pure encoding).

Per table, `INDEX_SHARDS` append blobs; a record belongs to the shard of its id's hash. Each
chunk written appends one block to every shard it touches: a header naming the point, table, chunk
and the chunk's write id, then `(hash, kind, offset, length)` for each record. A record's history
is then ONE read of its shard, and one ranged read per point where the record changed.

Blocks of chunks that were rewritten (a re-run after a crash) or of points that never completed
stay in the shard; readers keep a block only if its point is complete, its chunk is within the
committed count, and its write id is the chunk's current one.
"""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from shared.data_store.compression import compress, decompress
from shared.data_store.layout import record_digest

_ENTRY = struct.Struct(">IBII")
_REST = struct.Struct(">BII")  # an entry after its hash
_LENGTH = struct.Struct(">I")
KIND_ROW = 0
KIND_DELETED = 1


@dataclass(frozen=True, slots=True)
class IndexEntry:
    hashed: int
    kind: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class IndexBlock:
    point_id: str
    table: str
    chunk: str  # `rows-000003` / `deleted-000000`
    write_id: str
    id_column: str
    entries: tuple[IndexEntry, ...]


def encode_block(block: IndexBlock) -> bytes:
    return encode_packed(
        block.point_id, block.table, block.chunk, block.write_id, block.id_column,
        b"".join(_ENTRY.pack(e.hashed, e.kind, e.offset, e.length) for e in block.entries),
    )


def encode_packed(
    point_id: str, table: str, chunk: str, write_id: str, id_column: str, packed: bytes
) -> bytes:
    """A block of entries already packed (`pack_by_shard`)."""
    header = json.dumps(
        {"p": point_id, "t": table, "c": chunk, "w": write_id, "i": id_column},
        separators=(",", ":"),
    ).encode()
    payload = _LENGTH.pack(len(header)) + header + compress(packed)
    return _LENGTH.pack(len(payload)) + payload


def pack_by_shard(
    frames: Iterable[tuple[Iterable[str], int, int]], kind: int, shards: int
) -> dict[int, bytes]:
    """Per shard (a record hash modulo `shards`), the packed entries of the records of
    `frames` ((record ids, offset, length) each), in order.

    What a writer runs for every record it stores: no entry object is made, the hash's bytes
    are the entry's first field, and the rest of an entry is the same for a whole frame (a
    third of the time of packing `IndexEntry`s)."""
    parts: dict[int, list[bytes]] = defaultdict(list)
    for keys, offset, length in frames:
        rest = _REST.pack(kind, offset, length)
        for key in keys:
            digest = record_digest(key)
            parts[int.from_bytes(digest, "big") % shards].append(digest + rest)
    return {shard: b"".join(packed) for shard, packed in parts.items()}


def decode_blocks(data: bytes, *, only_hash: int | None = None) -> Iterator[IndexBlock]:
    """Blocks of a shard blob; with `only_hash`, each block keeps just that record's entries."""
    position = 0
    while position + _LENGTH.size <= len(data):
        (size,) = _LENGTH.unpack_from(data, position)
        payload = data[position + _LENGTH.size : position + _LENGTH.size + size]
        position += _LENGTH.size + size
        if len(payload) != size:
            return  # appends are atomic; a short tail can only be a torn read
        (header_size,) = _LENGTH.unpack_from(payload, 0)
        header = json.loads(payload[_LENGTH.size : _LENGTH.size + header_size])
        body = decompress(payload[_LENGTH.size + header_size :])
        entries = _all_entries(body) if only_hash is None else _entries_of(body, only_hash)
        yield IndexBlock(
            header["p"], header["t"], header["c"], header["w"], header["i"], entries
        )


def _all_entries(body: bytes) -> tuple[IndexEntry, ...]:
    return tuple(IndexEntry(*_ENTRY.unpack_from(body, start))
                 for start in range(0, len(body), _ENTRY.size))


def _entries_of(body: bytes, hashed: int) -> tuple[IndexEntry, ...]:
    # A year of points puts millions of entries in a shard; searching the bytes for the one
    # hash (and keeping only hits on an entry boundary) is what keeps a lookup cheap.
    needle = hashed.to_bytes(4, "big")
    found = []
    position = body.find(needle)
    while position != -1:
        if position % _ENTRY.size == 0:
            found.append(IndexEntry(*_ENTRY.unpack_from(body, position)))
        position = body.find(needle, position + 1)
    return tuple(found)
