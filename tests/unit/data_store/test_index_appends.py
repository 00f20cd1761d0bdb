"""Index blocks held back go out as few appends as Blob Storage allows, in order, and read back
as the blocks they were (pure)."""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import given
from hypothesis import strategies as st

from shared.data_store import store
from shared.data_store.record_index import IndexBlock, IndexEntry, decode_blocks, encode_block
from shared.data_store.store import IndexAppends

LIMIT = 120  # bytes per append in these tests (4 MiB in Blob Storage)

blocks = st.lists(
    st.tuples(st.sampled_from(["a/00", "a/01", "b/s0"]), st.binary(min_size=1, max_size=150)),
    max_size=30,
)


@given(blocks)
def test_held_blocks_go_out_in_order_in_appends_within_the_limit(
    added: list[tuple[str, bytes]],
) -> None:
    held = IndexAppends()
    for name, block in added:
        held.add({name: block})
    with patch.object(store, "MAX_APPEND_BYTES", LIMIT):
        appends = held.take()
    for name in {n for n, _ in added}:
        mine = [data for n, data in appends if n == name]
        assert b"".join(mine) == b"".join(b for n, b in added if n == name)
        # Each append is within the limit, unless it is one block larger than the limit.
        sizes = [len(data) for data in mine]
        assert all(size <= LIMIT or any(size == len(b) for _, b in added) for size in sizes)
    assert len({n for n, _ in appends}) == len({n for n, _ in added})
    assert held.take() == []  # taken: the buffer is empty


def test_several_chunks_blocks_in_one_append_read_as_each_block() -> None:
    held = IndexAppends()
    made = [IndexBlock("p1", "account", f"rows-{seq:06d}", f"w{seq}", "accountid",
                       (IndexEntry(seq, 0, 10 * seq, 10),)) for seq in range(3)]
    for block in made:
        held.add({"env/index/account/s0": encode_block(block)})
    [(name, data)] = held.take()
    assert name == "env/index/account/s0"
    assert list(decode_blocks(data)) == made
