"""One record's versions across points, read without reading whole tables."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.storage.blob import ContainerClient

from shared.data_store import FULL, INCREMENTAL, DataStore, TableCommit, new_point_id, record_index
from shared.data_store.frames import FRAME_ROWS
from shared.storage.connection import StorageTarget
from tests.integration.data_store.conftest import ENV

pytestmark = pytest.mark.azurite

T0 = datetime(2026, 1, 1, 2, tzinfo=UTC)


def counting_store(storage: str) -> tuple[DataStore, list[str]]:
    requests: list[str] = []
    target = StorageTarget.parse(storage)
    assert target.connection_string is not None
    container = ContainerClient.from_connection_string(
        target.connection_string, "ppbackup-data",
        raw_request_hook=lambda r: requests.append(f"{r.http_request.method} "
                                                   f"{r.http_request.url.split('?')[0]}"),
    )
    return DataStore(container), requests


def commit(store: DataStore, point: str, at: datetime, mode: str, chunks: int,
           deleted: int = 0, previous: str | None = None,
           rewritten: dict[str, str] | None = None) -> None:
    store.commit_point(ENV, point, at, None, [
        TableCommit("account", mode, "accountid", chunks, deleted, previous,
                    rewritten=rewritten or {})])


def test_versions_newest_first_across_full_and_incremental_points(
    store: DataStore, storage: str
) -> None:
    rng = random.Random(5)
    rows = [{"accountid": str(uuid.UUID(int=rng.getrandbits(128))), "name": f"a{n}", "n": n}
            for n in range(3 * FRAME_ROWS)]
    target = rows[FRAME_ROWS + 7]
    record = target["accountid"]
    history: list[tuple[str, str, dict[str, Any] | None]] = []

    p0 = new_point_id(T0)  # full: the record as first seen
    for seq in range(3):
        store.write_rows(ENV, p0, "account", seq, rows[seq * FRAME_ROWS:(seq + 1) * FRAME_ROWS],
                         id_column="accountid")
    commit(store, p0, T0, FULL, 3)
    history.append((p0, "present", target))

    p1 = new_point_id(T0 + timedelta(days=1))  # incremental: someone else changed
    store.write_rows(ENV, p1, "account", 0, [dict(rows[0], name="other")], id_column="accountid")
    commit(store, p1, T0 + timedelta(days=1), INCREMENTAL, 1, previous=p0)

    p2 = new_point_id(T0 + timedelta(days=2))  # incremental: the record changed
    renamed = dict(target, name="Renamed — Ü")
    store.write_rows(ENV, p2, "account", 0, [renamed, dict(rows[1], name="x")],
                     id_column="accountid")
    commit(store, p2, T0 + timedelta(days=2), INCREMENTAL, 1, previous=p1)
    history.append((p2, "present", renamed))

    p3 = new_point_id(T0 + timedelta(days=3))  # incremental: deleted
    store.write_rows(ENV, p3, "account", 0, [], id_column="accountid")
    store.write_deleted(ENV, p3, "account", 0, [record.upper()], id_column="accountid")
    commit(store, p3, T0 + timedelta(days=3), INCREMENTAL, 1, 1, previous=p2)
    history.append((p3, "deleted", None))

    p4 = new_point_id(T0 + timedelta(days=4))  # full copy: restored by someone
    store.write_rows(ENV, p4, "account", 0, [renamed, rows[0]], id_column="accountid")
    commit(store, p4, T0 + timedelta(days=4), FULL, 1)
    history.append((p4, "present", renamed))

    p5 = new_point_id(T0 + timedelta(days=5))  # full copy without it: gone again
    store.write_rows(ENV, p5, "account", 0, [rows[0]], id_column="accountid")
    commit(store, p5, T0 + timedelta(days=5), FULL, 1)
    history.append((p5, "deleted", None))

    # A point never committed (a crash) that names the record is not a version.
    p6 = new_point_id(T0 + timedelta(days=6))
    store.write_rows(ENV, p6, "account", 0, [dict(target, name="half-written")],
                     id_column="accountid")

    counting, requests = counting_store(storage)
    versions = counting.record_versions(ENV, "account", record)
    assert [(v.point_id, v.state, v.row) for v in versions] == history[::-1]
    assert versions[-1].to_json() == {"pointId": p0, "pointTime": "2026-01-01T02:00:00.000Z",
                                      "state": "present", "row": target}
    # One listing, one read of each index blob that may hold the record (its wide shard, the
    # small blob, and its legacy small shard unless that is the small blob), one ranged read
    # per point that names the record.
    from shared.data_store.layout import index_names, record_hash

    blobs = index_names(ENV, "account", record_hash(record))
    assert len(blobs) == 2 + (record_hash(record) % 4 != 0)
    gets = [r for r in requests if r.startswith("GET")]
    assert len(gets) == 1 + len(blobs) + 4 and len(requests) == len(gets), requests
    assert counting.record_versions(ENV, "account", str(uuid.uuid4())) == []


def test_a_chunk_written_again_answers_with_the_rows_the_commit_names(store: DataStore) -> None:
    point = new_point_id(T0)
    store.write_rows(ENV, point, "account", 0, [{"accountid": "a", "v": 1},
                                                {"accountid": "c", "v": 1}],
                     id_column="accountid")
    # The re-run after a crash read a newer page: the same chunk, other content, beside it.
    again = store.write_rows(ENV, point, "account", 0, [{"accountid": "b", "v": 0},
                                                        {"accountid": "a", "v": 2}],
                             id_column="accountid")
    assert again.name == f"rows-000000.{again.write_id}"
    commit(store, point, T0, FULL, 1, rewritten={"rows-000000": again.name})
    [version] = store.record_versions(ENV, "account", "a")
    assert version.row == {"accountid": "a", "v": 2}
    # A record only the first run's file held is not in the point.
    assert store.record_versions(ENV, "account", "c") == []
    assert list(store.read_table(ENV, point, "account")) == [
        {"accountid": "b", "v": 0}, {"accountid": "a", "v": 2}]


def test_versions_are_found_in_both_index_families(store: DataStore) -> None:
    """A full page indexes into the 16 wide shards, a small chunk into the few small ones; a
    lookup reads one of each, so a record's versions come from both."""
    from shared.data_store.layout import SMALL_CHUNK_ROWS, index_names, record_hash

    rows = [{"accountid": str(uuid.UUID(int=n)), "name": f"n{n}"} for n in range(SMALL_CHUNK_ROWS)]
    target = rows[7]["accountid"]
    p0 = new_point_id(T0)
    store.write_rows(ENV, p0, "account", 0, rows, id_column="accountid")
    commit(store, p0, T0, FULL, 1)
    p1 = new_point_id(T0 + timedelta(days=1))
    changed = dict(rows[7], name="changed")
    store.write_rows(ENV, p1, "account", 0, [changed], id_column="accountid")
    commit(store, p1, T0 + timedelta(days=1), INCREMENTAL, 1, previous=p0)

    wide, small = index_names(ENV, "account", record_hash(target))[:2]
    names = set(store.container.list_blob_names(name_starts_with=f"{ENV}/index/account/"))
    assert {wide, small} <= names and wide != small
    versions = store.record_versions(ENV, "account", target)
    assert [(v.point_id, v.row) for v in versions] == [(p1, changed), (p0, rows[7])]


def one_row_point(
    store: DataStore, record: str, day: int, before: list[tuple[str, dict[str, Any]]]
) -> tuple[str, dict[str, Any]]:
    """A point of day `day` holding one row of `record`, chained on the last of `before` (a
    full copy when there is none); its id and row."""
    at = T0 + timedelta(days=day)
    point_id, row = new_point_id(at), {"accountid": record, "day": day}
    store.write_rows(ENV, point_id, "account", 0, [row], id_column="accountid")
    previous = before[-1][0] if before else None
    commit(store, point_id, at, INCREMENTAL if previous else FULL, 1, previous=previous)
    return point_id, row


def test_a_store_whose_small_chunks_were_spread_over_four_blobs_still_finds_them(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stores written before the small family became one blob hold their small chunks' entries
    in `s0`..`s3`, by hash. Points written since go to `s0`; a lookup reads both, and a
    record's versions come from either."""
    from shared.data_store import layout

    record = next(str(uuid.UUID(int=n)) for n in itertools.count()
                  if layout.record_hash(str(uuid.UUID(int=n))) % 4 == 3)
    written: list[tuple[str, dict[str, Any]]] = []
    for day in range(4):
        # The first two points as the earlier version wrote them.
        monkeypatch.setattr(layout, "SMALL_INDEX_SHARDS", 4 if day < 2 else 1)
        written.append(one_row_point(store, record, day, written))

    def points_in(blob: str) -> set[str]:
        data = store.container.get_blob_client(f"{ENV}/index/account/{blob}").download_blob()
        return {b.point_id for b in record_index.decode_blocks(data.readall())}

    assert points_in("s3") == {p for p, _ in written[:2]}
    assert points_in("s0") == {p for p, _ in written[2:]}
    versions = store.record_versions(ENV, "account", record)
    assert [(v.point_id, v.row) for v in versions] == written[::-1]


def test_a_full_index_blob_goes_on_in_its_next_generation(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append blob takes 50,000 appends; here a generation is full at 2. The writer goes on
    in the next one, a new process too (after one append to each full one), and a lookup reads
    them all, in order."""
    from shared.data_store import layout

    monkeypatch.setattr(layout, "ROLL_OVER_BLOCKS", 2)
    record = str(uuid.UUID(int=42))
    small = layout.index_names(ENV, "account", layout.record_hash(record))[1]
    written: list[tuple[str, dict[str, Any]]] = []

    def point(day: int, writer: DataStore) -> None:
        written.append(one_row_point(writer, record, day, written))

    for day in range(5):
        point(day, store)
    later = DataStore(store.container)  # another process: it knows no generation yet
    for day in range(5, 7):
        point(day, later)

    def appends(generation: int) -> int | None:
        blob = store.container.get_blob_client(layout.index_generation(small, generation))
        return blob.get_blob_properties().append_blob_committed_block_count

    # 2, 2 and 1 appends by the first writer; the second appends once to each full generation
    # on its way (each tells it so) before it reaches the one in use.
    assert [appends(g) for g in range(3)] == [3, 3, 1]
    assert not store.container.get_blob_client(layout.index_generation(small, 3)).exists()
    versions = DataStore(store.container).record_versions(ENV, "account", record)
    assert [(v.point_id, v.row) for v in versions] == written[::-1]


def test_a_first_write_asks_nothing_and_a_rewrite_asks_whether_the_point_is_committed(
    store: DataStore, storage: str
) -> None:
    """A chunk is written create-only: one request when it is new. One that is there already (a
    re-run after a crash) is written beside it only after the point was found not committed;
    the commit deletes the crashed run's file. Once committed, a write under a name a counted
    file holds is refused, and the chunks stay as the manifest names them."""
    from shared.data_store import PointAlreadyComplete, layout

    counting, requests = counting_store(storage)
    point = new_point_id(T0)

    def chunk_requests() -> list[str]:
        return [r.split(" ")[0] + (" manifest" if "/manifests/" in r else " chunk")
                for r in requests if "/points/" in r or "/manifests/" in r]

    counting.write_rows(ENV, point, "account", 0, [{"accountid": "a", "v": 1}],
                        id_column="accountid")
    assert chunk_requests() == ["PUT chunk"]
    requests.clear()
    again = counting.write_rows(ENV, point, "account", 0, [{"accountid": "a", "v": 2}],
                                id_column="accountid")
    assert chunk_requests() == ["PUT chunk", "HEAD manifest", "PUT chunk"]
    commit(counting, point, T0, FULL, 1, rewritten={"rows-000000": again.name})
    folder = layout.point_prefix(ENV, point)
    assert [b.name for b in counting.container.list_blobs(name_starts_with=folder)] == [
        f"{folder}account/{again.name}.zz"]
    assert list(counting.read_table(ENV, point, "account")) == [{"accountid": "a", "v": 2}]

    later = new_point_id(T0 + timedelta(hours=1))
    counting.write_rows(ENV, later, "account", 0, [{"accountid": "a", "v": 1}],
                        id_column="accountid")
    commit(counting, later, T0 + timedelta(hours=1), FULL, 1)
    with pytest.raises(PointAlreadyComplete):
        counting.write_rows(ENV, later, "account", 0, [{"accountid": "a", "v": 3}],
                            id_column="accountid")
    assert list(counting.read_table(ENV, later, "account")) == [{"accountid": "a", "v": 1}]
