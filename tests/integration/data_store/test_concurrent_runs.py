"""Two runs of one copy step at once (a duplicate message, the watchdog driving a step that was
only slow): a chunk is never changed once written, so whichever run commits, its manifest's
checksums and index entries are its own files'."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from shared.data_store import (
    FULL,
    DataStore,
    FileEntry,
    IndexAppends,
    PointAlreadyComplete,
    TableCommit,
    new_point_id,
)
from tests.integration.data_store.conftest import ENV

pytestmark = pytest.mark.azurite
T0 = datetime(2026, 1, 1, 2, tzinfo=UTC)


def page(first: int, count: int, name: str = "a") -> tuple[list[bytes], list[str]]:
    rows = [{"accountid": str(uuid.UUID(int=n + 1)), "name": f"{name}{n}"}
            for n in range(first, first + count)]
    return [json.dumps(r).encode() for r in rows], [r["accountid"] for r in rows]


def write(store: DataStore, point: str, seq: int, rows: tuple[list[bytes], list[str]],
          index: IndexAppends, *, send: bool) -> FileEntry:
    return store.write_row_lines(ENV, point, "account", seq, *rows, id_column="accountid",
                                 index=index, send=send)


def commit(store: DataStore, point: str, written: list[FileEntry]) -> None:
    store.commit_point(ENV, point, T0, None,
                       [TableCommit("account", FULL, "accountid", len(written))],
                       written={"account": written})


def names(store: DataStore, point: str) -> list[str]:
    return [row["name"] for row in store.read_table(ENV, point, "account")]


def test_a_run_that_lost_leaves_the_winners_point_whole(store: DataStore) -> None:
    point = new_point_id(T0)
    pages = [page(0, 10), page(10, 10), page(20, 10)]
    index_a = IndexAppends()
    a = [write(store, point, seq, pages[seq], index_a, send=seq == 2) for seq in range(3)]
    # The other run, a moment behind, re-read page 0 after a row changed: it goes beside A's,
    # its index blocks held for its run's last page...
    index_b = IndexAppends()
    b0 = write(store, point, 0, page(0, 10, name="b"), index_b, send=False)
    assert b0.name != a[0].name
    commit(store, point, a)
    # ... which it never writes: the point is committed, and its blocks are never sent.
    with pytest.raises(PointAlreadyComplete):
        write(store, point, 1, pages[1], index_b, send=False)
    assert names(store, point) == [f"a{n}" for n in range(30)]
    first = str(uuid.UUID(int=1))
    [version] = store.record_versions(ENV, "account", first)
    assert (version.point_id, version.row) == (point, {"accountid": first, "name": "a0"})


def test_a_write_beside_while_the_other_run_commits_changes_nothing_it_names(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    point = new_point_id(T0)
    a = [write(store, point, 0, page(0, 10), IndexAppends(), send=True)]
    asked: Callable[[str, str], bool] = store.is_complete

    def then_a_commits(env: str, point_id: str) -> bool:
        answer = asked(env, point_id)  # not complete: B goes on with its write...
        commit(store, point, a)  # ... and A commits right then
        return answer

    monkeypatch.setattr(store, "is_complete", then_a_commits)
    write(store, point, 0, page(0, 10, name="b"), IndexAppends(), send=True)
    monkeypatch.undo()
    assert store.is_complete(ENV, point)
    assert names(store, point) == [f"a{n}" for n in range(10)]


@pytest.mark.parametrize("winner", ["first", "second"])
def test_either_runs_commit_reads_back_its_own_rows(store: DataStore, winner: str) -> None:
    point = new_point_id(T0)
    first = [write(store, point, 0, page(0, 10), IndexAppends(), send=True)]
    second = [write(store, point, 0, page(0, 10, name="b"), IndexAppends(), send=True)]
    commit(store, point, first if winner == "first" else second)
    commit(store, point, second if winner == "first" else first)  # refused: the first stands
    expected = "a" if winner == "first" else "b"
    assert names(store, point) == [f"{expected}{n}" for n in range(10)]
    [version] = store.record_versions(ENV, "account", str(uuid.UUID(int=5)))
    assert version.row is not None and version.row["name"] == f"{expected}4"


def test_a_listing_commit_names_the_files_the_checkpoint_says(store: DataStore) -> None:
    point = new_point_id(T0)
    write(store, point, 0, page(0, 10), IndexAppends(), send=True)  # a run that crashed
    again = write(store, point, 0, page(0, 10, name="b"), IndexAppends(), send=True)
    store.commit_point(ENV, point, T0, None, [TableCommit(
        "account", FULL, "accountid", 1, rewritten={"rows-000000": again.name})])
    assert names(store, point) == [f"b{n}" for n in range(10)]
    [version] = store.record_versions(ENV, "account", str(uuid.UUID(int=1)))
    assert version.row is not None and version.row["name"] == "b0"
