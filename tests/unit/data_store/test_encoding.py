"""Row frames and record index blocks encode and decode losslessly (pure)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.data_store.compression import decompress
from shared.data_store.frames import (
    FRAME_ROWS,
    decode_frame,
    decode_row,
    encode_chunk,
    encode_lines,
    iter_chunk,
)
from shared.data_store.record_index import IndexBlock, IndexEntry, decode_blocks, encode_block

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
rows = st.lists(
    st.dictionaries(st.text(max_size=8), json_values, max_size=6).map(
        lambda d: {"id": "x", **d}), max_size=FRAME_ROWS * 2 + 3)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_a_chunk_gives_back_its_rows_and_each_frame_its_own(data: list[dict[str, Any]]) -> None:
    keyed = [dict(row, id=f"r{n}") for n, row in enumerate(data)]
    chunk = encode_chunk(keyed, lambda row: row["id"])
    assert list(iter_chunk(chunk.data)) == keyed
    assert chunk.rows == len(keyed)
    seen = []
    for frame in chunk.frames:
        part = decode_frame(chunk.data[frame.offset:frame.offset + frame.length])
        assert tuple(row["id"] for row in part) == frame.keys
        seen += part
    assert seen == keyed


entries = st.lists(st.builds(IndexEntry, st.integers(0, 2**32 - 1), st.integers(0, 1),
                             st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), max_size=50)


@settings(max_examples=100, deadline=None)
@given(st.lists(entries, max_size=4), st.integers(0, 2**32 - 1))
def test_index_blocks_decode_and_a_lookup_finds_exactly_its_hash(
    blocks: list[list[IndexEntry]], probe: int
) -> None:
    encoded = [IndexBlock(f"p{n}", "account", f"rows-{n:06d}", "w", "accountid", tuple(e))
               for n, e in enumerate(blocks)]
    data = b"".join(encode_block(b) for b in encoded)
    assert list(decode_blocks(data)) == encoded
    for block in encoded:
        for entry in block.entries[:3]:
            [hit] = [b for b in decode_blocks(data, only_hash=entry.hashed)
                     if b.point_id == block.point_id]
            assert hit.entries == tuple(e for e in block.entries if e.hashed == entry.hashed)
    for hit in decode_blocks(data, only_hash=probe):
        assert all(e.hashed == probe for e in hit.entries)


def test_rows_read_as_texts_are_stored_as_those_texts() -> None:
    texts = ['{"id":"a","revenue":1.50}', '{"id":"b","name":"\\ud800 caf\u00e9"}']
    chunk = encode_lines(zip(["a", "b"], (t.encode() for t in texts), strict=True))
    lines = decompress(chunk.data).split(b"\n")
    assert lines == [t.encode() for t in texts]  # as they came
    assert [decode_row(line) for line in lines] == [json.loads(t) for t in texts]
    assert [frame.keys for frame in chunk.frames] == [("a", "b")]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(st.uuids().map(str), max_size=20),
                          st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), max_size=6),
       st.sampled_from([1, 4, 16]), st.integers(0, 1))
def test_entries_packed_by_shard_decode_as_the_entries_of_each_record(
    frames_: list[tuple[list[str], int, int]], shards: int, kind: int
) -> None:
    from shared.data_store.layout import record_hash
    from shared.data_store.record_index import encode_packed, pack_by_shard

    packed = pack_by_shard(frames_, kind, shards)
    expected: dict[int, list[IndexEntry]] = {}
    for keys, offset, length in frames_:
        for key in keys:
            hashed = record_hash(key)
            expected.setdefault(hashed % shards, []).append(
                IndexEntry(hashed, kind, offset, length))
    assert set(packed) == set(expected)
    for shard, data in packed.items():
        (block,) = decode_blocks(encode_packed("p", "account", "rows-000000", "w", "accountid",
                                               data))
        assert list(block.entries) == expected[shard]
        assert (block.point_id, block.chunk, block.write_id) == ("p", "rows-000000", "w")


@settings(max_examples=300, deadline=None)
@given(st.text() | st.uuids().map(str))
def test_a_deleted_records_line_is_the_row_encoders(record_id: str) -> None:
    from shared.data_store.frames import deleted_line, encode_row

    assert deleted_line(record_id) == encode_row({"id": record_id})
