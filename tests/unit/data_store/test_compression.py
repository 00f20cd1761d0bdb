"""The store's compressor: what it writes reads back, files written with zlib before it still
read (points are kept for years), and broken or misaligned frames are errors, never short reads."""

from __future__ import annotations

import json
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.data_store.compression import ZSTD_MAGIC, compress, decompress, frames_of
from shared.data_store.frames import FRAME_ROWS, decode_frame, encode_lines, iter_chunk
from shared.data_store.record_index import (
    IndexBlock,
    IndexEntry,
    decode_blocks,
    encode_block,
    pack_by_shard,
)

payloads = st.binary(max_size=4096) | st.text(max_size=2048).map(str.encode)
rows = st.lists(
    st.fixed_dictionaries({"id": st.uuids().map(str), "name": st.text(max_size=40)},
                          optional={"notes": st.none() | st.text(max_size=400)}),
    max_size=FRAME_ROWS + 5,
)


def _lines(table_rows: list[dict[str, object]]) -> list[bytes]:
    return [json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogatepass")
            for row in table_rows]


@given(st.lists(payloads, max_size=6))
def test_frames_written_read_back_one_by_one_and_as_a_run(contents: list[bytes]) -> None:
    written = [compress(content) for content in contents]
    assert all(frame.startswith(ZSTD_MAGIC) for frame in written)
    assert [decompress(frame) for frame in written] == contents
    assert list(frames_of(b"".join(written))) == contents


@given(st.lists(st.tuples(payloads, st.sampled_from(["zstd", *range(10)])), max_size=6))
def test_zlib_frames_of_files_written_before_zstandard_still_read(
    contents: list[tuple[bytes, str | int]],
) -> None:
    # Any zlib level an earlier version used (3 for rows, 6 for index blocks and a restore's
    # files), beside new frames.
    written = [compress(c) if how == "zstd" else zlib.compress(c, int(how)) for c, how in contents]
    assert [decompress(frame) for frame in written] == [c for c, _ in contents]
    assert list(frames_of(b"".join(written))) == [c for c, _ in contents]


@settings(deadline=None)
@given(rows)
def test_a_row_file_written_with_zlib_reads_as_it_was_written(
    table_rows: list[dict[str, object]],
) -> None:
    lines = _lines(table_rows)
    chunk = encode_lines(zip((str(r["id"]) for r in table_rows), lines, strict=True))
    # The same frames as an earlier version wrote them: zlib level 3, frame by frame.
    legacy = [zlib.compress(decompress(chunk.data[f.offset:f.offset + f.length]), 3)
              for f in chunk.frames]
    assert list(iter_chunk(b"".join(legacy))) == [json.loads(line) for line in lines]
    for frame, old in zip(chunk.frames, legacy, strict=True):
        assert [row["id"] for row in decode_frame(old)] == list(frame.keys)


def test_an_index_block_written_with_zlib_reads_as_it_was_written() -> None:
    ids = [f"{n:08d}-0000-0000-0000-000000000000" for n in range(40)]
    packed = pack_by_shard([(ids, 0, 100)], kind=0, shards=1)[0]
    header = json.dumps({"p": "p1", "t": "account", "c": "rows-000000", "w": "w1",
                         "i": "accountid"}, separators=(",", ":")).encode()
    payload = len(header).to_bytes(4, "big") + header + zlib.compress(packed, 6)
    legacy = len(payload).to_bytes(4, "big") + payload
    [block] = decode_blocks(legacy)
    entries = tuple(IndexEntry(int.from_bytes(packed[i:i + 4], "big"), 0, 0, 100)
                    for i in range(0, len(packed), 13))
    assert block == IndexBlock("p1", "account", "rows-000000", "w1", "accountid", entries)
    assert list(decode_blocks(encode_block(block))) == [block]  # and as written now


@pytest.mark.parametrize("how", ["zstd", "zlib"])
def test_a_frame_cut_short_or_with_bytes_after_it_is_an_error(how: str) -> None:
    content = b'{"id":"a","name":"x"}\n' * 500
    frame = compress(content) if how == "zstd" else zlib.compress(content, 3)
    for cut in (len(frame) - 1, len(frame) // 2, 5):
        with pytest.raises(ValueError, match=r"ends before its end|does not decompress"):
            decompress(frame[:cut])
        with pytest.raises(ValueError, match=r"ends before its end|does not decompress"):
            list(frames_of(frame + frame[:cut]))
    with pytest.raises(ValueError, match="bytes after the end"):
        decompress(frame + b"\x00")  # an index entry's length read one too long


@given(st.binary(min_size=1, max_size=64))
def test_bytes_that_are_no_frame_are_an_error(data: bytes) -> None:
    try:
        decompress(data)
    except ValueError:
        return
    # A few random bytes can be a valid tiny frame; then they say what they hold, consistently.
    assert list(frames_of(data)) == [decompress(data)]


def test_threads_compressing_at_once_each_get_their_own_frames() -> None:
    # A backup compresses its tables at once; a shared Zstandard context would mix them.
    contents = [json.dumps({"table": n, "rows": list(range(n * 1000, n * 1000 + 5000))}).encode()
                for n in range(16)]

    def round_trip(content: bytes) -> bool:
        return all(decompress(compress(content)) == content for _ in range(20))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(round_trip, contents))
