"""Writing, committing and reading points back, against Azurite's blob service."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.data_store import (
    FULL,
    INCREMENTAL,
    ChainBroken,
    DataStore,
    IncompletePoint,
    PointAlreadyComplete,
    RetentionPolicy,
    TableCommit,
    layout,
    new_point_id,
)
from tests.integration.data_store.conftest import ENV

pytestmark = pytest.mark.azurite

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def account(n: int, rng: random.Random, **extra: Any) -> dict[str, Any]:
    return {
        "@odata.etag": f'W/"{rng.randint(1, 10**9)}"',
        "accountid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "name": f"Account {n}",
        "revenue": rng.choice([None, rng.random() * 1e6]),
        "_primarycontactid_value": None,
        "_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
        **extra,
    }


def write_point(
    store: DataStore, at: datetime, pages: dict[str, list[list[dict[str, Any]]]],
    *, mode: str = FULL, previous: str | None = None, deleted: dict[str, list[str]] | None = None,
    label: str | None = None,
) -> str:
    point = new_point_id(at)
    commits = []
    for table, table_pages in pages.items():
        for seq, page in enumerate(table_pages):
            store.write_rows(ENV, point, table, seq, page, id_column=f"{table}id")
        gone = (deleted or {}).get(table, [])
        if gone:
            store.write_deleted(ENV, point, table, 0, gone, id_column=f"{table}id")
        commits.append(TableCommit(table, mode, f"{table}id", len(table_pages),
                                   1 if gone else 0, previous))
    store.commit_point(ENV, point, at, label, commits)
    return point


def as_bytes(rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> list[bytes]:
    return sorted(json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass") for r in rows)


def test_hostile_rows_round_trip_byte_for_byte(store: DataStore) -> None:
    hostile = [
        {"accountid": str(uuid.uuid4()), "name": "Ünïcødé 😀 ﷽ \u202e RTL \u0000 nul",
         "description": "x" * (1 << 20), "nulls": None, "empty": "", "nested": {"a": [1, None]}},
        {"accountid": str(uuid.uuid4()), **{f"col{i}": None for i in range(300)}},
        {"accountid": str(uuid.uuid4()), "lone": "\ud800", "line": "a\nb\r\n\u2028c",
         "big": 2**80, "float": 0.1 + 0.2, "neg0": -0.0, "emoji_key_😀": True},
        {"accountid": str(uuid.uuid4()), "text": "".join(chr(c) for c in range(1, 0xD800, 97))},
    ]
    point = write_point(store, T0, {"account": [hostile[:2], hostile[2:]]})
    back = list(store.read_table(ENV, point, "account"))
    assert as_bytes(back) == as_bytes(hostile)


def test_full_then_incremental_points_reconstruct_exactly(store: DataStore) -> None:
    rng = random.Random(7)
    rows = {r["accountid"]: r for r in (account(n, rng) for n in range(1200))}
    first = write_point(store, T0, {"account": [list(rows.values())[:700],
                                                 list(rows.values())[700:]]})
    at_first = dict(rows)

    points = [(first, at_first)]
    previous = first
    for day in range(1, 4):
        ids = list(rows)
        changed = [dict(rows[i], name=f"changed on day {day}") for i in rng.sample(ids, 40)]
        gone = rng.sample([i for i in ids if i not in {c["accountid"] for c in changed}], 25)
        created = [account(10_000 * day + n, rng) for n in range(30)]
        for row in changed + created:
            rows[row["accountid"]] = row
        for i in gone:
            del rows[i]
        point = write_point(store, T0 + timedelta(days=day), {"account": [changed, created]},
                            mode=INCREMENTAL, previous=previous, deleted={"account": gone})
        points.append((point, dict(rows)))
        previous = point

    for point, expected in points:
        assert as_bytes(store.read_table(ENV, point, "account")) == as_bytes(
            list(expected.values())), point
    last = store.manifest(ENV, previous).tables["account"]
    assert last.chain == tuple(p for p, _ in points[:-1])
    assert (last.changed, last.deleted) == (70, 25)


def test_an_incremental_counts_its_rows_only_where_the_count_is_known(
    store: DataStore,
) -> None:
    rng = random.Random(3)
    rows = [account(n, rng) for n in range(40)]
    first = write_point(store, T0, {"account": [rows]})
    quiet = write_point(store, T0 + timedelta(days=1), {"account": []}, mode=INCREMENTAL,
                        previous=first)
    assert store.manifest(ENV, quiet).tables["account"].rows == 40  # nothing changed
    gone = {"account": [rows[0]["accountid"]]}
    busy = write_point(store, T0 + timedelta(days=2), {"account": [[account(99, rng)]]},
                       mode=INCREMENTAL, previous=quiet, deleted=gone)
    # One row created or updated, one deleted that may have been created since `quiet`: 39, 40
    # or 41 rows as far as the delta tells; the count is unknown, and stays so down the chain.
    assert store.manifest(ENV, busy).tables["account"].rows is None
    after = write_point(store, T0 + timedelta(days=3), {"account": []}, mode=INCREMENTAL,
                        previous=busy)
    assert store.manifest(ENV, after).tables["account"].rows is None
    assert sum(1 for _ in store.read_table(ENV, busy, "account")) == 40


def test_the_catalog_lists_points_newest_first_from_metadata_alone(store: DataStore) -> None:
    rng = random.Random(1)
    first = write_point(store, T0, {"account": [[account(n, rng) for n in range(5)]],
                                    "contact": [[{"contactid": str(uuid.uuid4())}]]},
                        label="Before import — Ünïcødé")
    second = write_point(store, T0 + timedelta(days=1),
                         {"account": [[account(9, rng)]]}, mode=INCREMENTAL, previous=first)
    entries = store.list_points(ENV, now=T0 + timedelta(days=2))
    assert [e.point_id for e in entries] == [second, first]
    assert entries[1].label == "Before import — Ünïcødé"
    assert {t: (s.mode, s.rows) for t, s in entries[1].tables.items()} == {
        "account": (FULL, 5), "contact": (FULL, 1)}
    assert entries[0].tables["account"].mode == INCREMENTAL
    # As things stand: the newer point is its year's newest (yearly=7); the older one, Sunday
    # 1 November, is the newest of its ISO week (from Monday 26 October; weekly=12).
    assert entries[0].expires_at == datetime(2033, 1, 1, tzinfo=UTC)
    assert entries[1].expires_at == datetime(2027, 1, 18, tzinfo=UTC)
    assert [e.point_id for e in store.list_points(ENV, table="contact")] == [first]
    assert entries[1].to_json() == {
        "pointId": first, "pointTime": "2026-11-01T02:00:00.000Z", "environmentId": ENV,
        "expiresAt": "2027-01-18T00:00:00.000Z", "label": "Before import — Ünïcødé",
        "tables": [{"table": "account", "rows": 5, "mode": "full"},
                   {"table": "contact", "rows": 1, "mode": "full"}]}
    assert "label" not in entries[0].to_json()


def test_an_incremental_needs_a_previous_point_that_holds_the_table(store: DataStore) -> None:
    rng = random.Random(2)
    first = write_point(store, T0, {"account": [[account(1, rng)]]})
    point = new_point_id(T0 + timedelta(days=1))
    store.write_rows(ENV, point, "contact", 0, [{"contactid": "c1"}], id_column="contactid")
    with pytest.raises(ChainBroken):
        store.commit_point(ENV, point, T0, None,
                           [TableCommit("contact", INCREMENTAL, "contactid", 1, previous=first)])
    with pytest.raises(IncompletePoint):
        store.commit_point(ENV, point, T0, None, [TableCommit("contact", FULL, "contactid", 2)])
    assert not store.is_complete(ENV, point)


def test_a_failed_table_is_named_and_not_held(store: DataStore) -> None:
    point = new_point_id(T0)
    store.write_rows(ENV, point, "account", 0, [{"accountid": "a"}], id_column="accountid")
    store.commit_point(ENV, point, T0, None, [TableCommit("account", FULL, "accountid", 1)],
                       failed={"salesorder": "403: assign a security role to the app user"})
    [entry] = store.list_points(ENV)
    assert entry.failed == ("salesorder",)
    assert set(entry.tables) == {"account"}
    with pytest.raises(KeyError):
        list(store.read_table(ENV, point, "salesorder"))


class Crash(Exception):
    pass


def test_a_crash_between_any_two_writes_never_leaves_a_complete_looking_point(
    store: DataStore,
) -> None:
    rng = random.Random(3)
    pages = [[account(n, rng) for n in range(p * 10, p * 10 + 10)] for p in range(3)]
    base = write_point(store, T0, {"account": pages})
    changed = [dict(pages[0][0], name="renamed")]
    gone = [pages[1][0]["accountid"]]
    at = T0 + timedelta(days=1)
    point = new_point_id(at)
    commit = [TableCommit("account", INCREMENTAL, "accountid", 1, 1, base)]

    def run(target: DataStore) -> None:
        target.write_rows(ENV, point, "account", 0, changed, id_column="accountid")
        target.write_deleted(ENV, point, "account", 0, gone, id_column="accountid")
        target.commit_point(ENV, point, at, None, commit)

    writes: list[str] = []
    run(DataStore(store.container, before_write=writes.append))
    total = len(writes)
    assert total >= 4  # chunk, its index, deleted chunk, its index, manifest
    store.container.delete_blob(layout.manifest_name(ENV, point))

    for crash_at in range(total):
        # Each attempt crashes before its n-th write; nothing may look complete.
        count = iter(range(total + 1))

        def before(name: str, crash_at: int = crash_at, count: Iterator[int] = count) -> None:
            if next(count) == crash_at:
                raise Crash(name)

        with pytest.raises(Crash):
            run(DataStore(store.container, before_write=before))
        assert point not in {e.point_id for e in store.list_points(ENV)}
        assert not store.is_complete(ENV, point)
    run(store)  # the re-run completes the point over the leftovers
    expected = {r["accountid"]: r for page in pages for r in page}
    expected[changed[0]["accountid"]] = changed[0]
    del expected[gone[0]]
    assert as_bytes(store.read_table(ENV, point, "account")) == as_bytes(list(expected.values()))
    versions = store.record_versions(ENV, "account", changed[0]["accountid"])
    assert [v.row for v in versions] == [changed[0], pages[0][0]]


def test_committing_twice_is_one_point(store: DataStore) -> None:
    point = new_point_id(T0)
    store.write_rows(ENV, point, "account", 0, [{"accountid": "a"}], id_column="accountid")
    commit = [TableCommit("account", FULL, "accountid", 1)]
    first = store.commit_point(ENV, point, T0, "one", commit)
    again = store.commit_point(ENV, point, T0, "two", commit)
    assert again == first
    assert len(store.list_points(ENV)) == 1
    with pytest.raises(PointAlreadyComplete):  # a late duplicate of a page write
        store.write_rows(ENV, point, "account", 0, [{"accountid": "b"}], id_column="accountid")
    assert list(store.read_table(ENV, point, "account")) == [{"accountid": "a"}]


def _folder(store: DataStore, point: str) -> set[str]:
    root = layout.point_prefix(ENV, point)
    return {b.name[len(root):] for b in store.container.list_blobs(name_starts_with=root)}


def test_a_run_that_lost_the_commit_deletes_what_it_wrote(store: DataStore) -> None:
    """Two runs of one step write the same chunk (the second beside the first) and both
    commit from what they wrote: the first commit counts; the second finds the manifest
    there, answers with it, and deletes its own file, which no manifest will ever name."""
    point = new_point_id(T0)
    commit = [TableCommit("account", FULL, "accountid", 1)]
    first = store.write_rows(ENV, point, "account", 0, [{"accountid": "a"}],
                             id_column="accountid")
    second = store.write_rows(ENV, point, "account", 0, [{"accountid": "b"}],
                              id_column="accountid")
    assert second.name != first.name  # written beside
    assert _folder(store, point) == {f"account/{first.name}.zz", f"account/{second.name}.zz"}
    counted = store.commit_point(ENV, point, T0, None, commit, written={"account": [first]})
    lost = store.commit_point(ENV, point, T0, None, commit, written={"account": [second]})
    assert lost == counted
    assert _folder(store, point) == {f"account/{first.name}.zz"}
    assert list(store.read_table(ENV, point, "account")) == [{"accountid": "a"}]


def test_the_run_that_counted_deletes_the_files_it_wrote_beside(store: DataStore) -> None:
    point = new_point_id(T0)
    earlier = store.write_rows(ENV, point, "account", 0, [{"accountid": "a"}],
                               id_column="accountid")  # a run that crashed before counting
    counted = store.write_rows(ENV, point, "account", 0, [{"accountid": "b"}],
                               id_column="accountid")
    store.commit_point(ENV, point, T0, None, [TableCommit("account", FULL, "accountid", 1)],
                       written={"account": [counted]})
    assert _folder(store, point) == {f"account/{counted.name}.zz"}
    assert earlier.name == layout.chunk_key(counted.name)
    assert list(store.read_table(ENV, point, "account")) == [{"accountid": "b"}]


def test_a_late_write_under_a_freed_name_changes_nothing_a_reader_sees(store: DataStore) -> None:
    """The commit deleted the crashed run's chunk under its plain name (the manifest names the
    one written beside it): a late duplicate's write takes that name again, and readers go on
    reading what the manifest names; the late run's own commit deletes the file."""
    point = new_point_id(T0)
    store.write_rows(ENV, point, "account", 0, [{"accountid": "a", "v": 1}],
                     id_column="accountid")  # a run that crashed before counting
    counted = store.write_rows(ENV, point, "account", 0, [{"accountid": "a", "v": 2}],
                               id_column="accountid")
    commit = [TableCommit("account", FULL, "accountid", 1)]
    store.commit_point(ENV, point, T0, None, commit, written={"account": [counted]})
    late = store.write_rows(ENV, point, "account", 0, [{"accountid": "a", "v": 3}],
                            id_column="accountid")
    assert late.name == layout.chunk_key(counted.name)  # the freed name, taken again
    assert list(store.read_table(ENV, point, "account")) == [{"accountid": "a", "v": 2}]
    [version] = store.record_versions(ENV, "account", "a")
    assert version.row == {"accountid": "a", "v": 2}
    store.commit_point(ENV, point, T0, None, commit, written={"account": [late]})
    assert _folder(store, point) == {f"account/{counted.name}.zz"}


def test_unnamed_files_are_deleted_and_named_ones_never(store: DataStore) -> None:
    point = new_point_id(T0)
    kept = store.write_rows(ENV, point, "account", 0, [{"accountid": "a"}], id_column="accountid")
    manifest = store.commit_point(ENV, point, T0, None,
                                  [TableCommit("account", FULL, "accountid", 1)])
    # A stray chunk past the committed count, and one a lease holds (as an immutability
    # policy would keep it): the first goes, the second stays, and neither fails the call.
    stray = layout.chunk_name(ENV, point, "account", "rows-000001")
    leased = layout.chunk_name(ENV, point, "account", "rows-000002")
    for name in (stray, leased):
        store.container.upload_blob(name, b"x")
    lease = store.container.get_blob_client(leased).acquire_lease()
    dropped = store.drop_unnamed(ENV, point, manifest, {
        "account": [kept.name, "rows-000001", "rows-000002", "rows-000003"]})
    assert dropped == 1
    assert _folder(store, point) == {f"account/{kept.name}.zz", "account/rows-000002.zz"}
    lease.release()
    assert list(store.read_table(ENV, point, "account")) == [{"accountid": "a"}]


def test_an_environment_is_a_guid_in_one_case(store: DataStore) -> None:
    point = new_point_id(T0)
    with pytest.raises(ValueError, match="is not an environment id"):
        store.write_rows("../other", point, "account", 0, [], id_column="accountid")
    store.write_rows(ENV.upper(), point, "account", 0, [{"accountid": "a"}],
                     id_column="accountid")
    store.commit_point(ENV, point, T0, None, [TableCommit("account", FULL, "accountid", 1)])
    assert [e.point_id for e in store.list_points(ENV.upper())] == [point]


def test_the_sweep_leaves_a_point_being_written_and_removes_it_once_abandoned(
    store: DataStore,
) -> None:
    point = new_point_id(T0)
    store.write_rows(ENV, point, "account", 0, [{"accountid": "a"}], id_column="accountid")
    store.sweep(ENV, RetentionPolicy(), T0 + timedelta(hours=1))
    assert list(store.container.list_blob_names(name_starts_with=f"{ENV}/points/"))
    result = store.sweep(ENV, RetentionPolicy(), T0 + timedelta(days=8))
    assert not list(store.container.list_blob_names(name_starts_with=f"{ENV}/points/"))
    assert result.deleted_blobs == 1 and result.deleted_points == []


def test_the_newest_point_holding_a_table_is_held_past_its_expiry(store: DataStore) -> None:
    old = write_point(store, T0, {"account": [[{"accountid": "a"}]]})
    later = [write_point(store, T0 + timedelta(days=400 + n), {"contact": [[{"contactid": "c"}]]})
             for n in range(3)]  # account failed to copy ever since
    result = store.sweep(ENV, RetentionPolicy(1, 0, 0, 0), T0 + timedelta(days=403))
    assert result.held == [old]
    assert result.deleted_points == later[:2]
    assert list(store.read_table(ENV, old, "account")) == [{"accountid": "a"}]



def test_the_sweep_keeps_the_point_an_incremental_being_written_reads_on_top_of(
    store: DataStore,
) -> None:
    """Two backups of one environment overlap: one reads an incremental of `account` on top of
    the newest point holding it; meanwhile the other commits a full copy and sweeps. The
    first one's base is neither kept nor the newest any more, yet its point must read back."""
    base = write_point(store, T0, {"account": [[{"accountid": "a", "v": 1}]]})
    # A newer point of the same day (another table): the rule keeps that one for the day, the
    # week, the month and the year, so nothing holds the base but the backup in flight.
    write_point(store, T0 + timedelta(hours=1), {"contact": [[{"contactid": "c"}]]})
    now = T0 + timedelta(days=60)
    writing = new_point_id(now)
    rows, ids = [json.dumps({"accountid": "a", "v": 2}).encode()], ["a"]
    store.write_row_lines(ENV, writing, "account", 0, rows, ids, id_column="accountid",
                          previous=base)
    newer = write_point(store, now + timedelta(seconds=5), {"account": [[{"accountid": "a"}]]})
    result = store.sweep(ENV, RetentionPolicy(), now + timedelta(seconds=6))
    assert base in result.held and result.deleted_points == []
    store.commit_point(ENV, writing, now, None, [
        TableCommit("account", INCREMENTAL, "accountid", 1, previous=base)])
    assert list(store.read_table(ENV, writing, "account")) == [{"accountid": "a", "v": 2}]
    # Once that point is complete its chain holds the base as long as it is kept itself; once
    # neither is needed, both go.
    later = store.sweep(ENV, RetentionPolicy(), now + timedelta(days=60))
    assert {base, writing} <= set(later.deleted_points) and newer not in later.deleted_points


def test_a_sweep_backlog_is_deleted_in_bounded_calls(store: DataStore) -> None:
    """Months of points past a shortened retention: each call makes a bounded number of
    deletions (a point it begins, it finishes) and says whether more is left."""
    points = [write_point(store, T0 + timedelta(days=n), {"account": [[{"accountid": "a"}],
                                                                      [{"accountid": "b"}]]})
              for n in range(6)]
    policy, now = RetentionPolicy(1, 0, 0, 0), T0 + timedelta(days=6)
    calls = []
    while not calls or calls[-1].more:
        calls.append(store.sweep(ENV, policy, now, max_deletes=4))
        assert len(calls) < 10
    # 3 deletions a point (its manifest, then its two chunks): two points a call, the last
    # call finding less than its bound left.
    assert [c.deleted_points for c in calls] == [points[:2], points[2:4], points[4:5]]
    assert [c.more for c in calls] == [True, True, False]
    assert [e.point_id for e in store.list_points(ENV)] == [points[5]]
    assert list(store.read_table(ENV, points[5], "account")) == [
        {"accountid": "a"}, {"accountid": "b"}]
    files = store.container.list_blob_names(name_starts_with=f"{ENV}/points/")
    assert {name.split("/")[2] for name in files} == {points[5]}

def test_a_sweep_is_due_only_when_it_would_delete_something(store: DataStore) -> None:
    """`sweep_due` answers for the point about to be taken at `now` (as if a full copy)."""
    def due(now: datetime, policy: RetentionPolicy) -> bool:
        return store.sweep_due(ENV, store.list_points(ENV, policy=policy, now=now), policy, now)

    keep_three_days = RetentionPolicy(3, 0, 0, 0)
    first = write_point(store, T0, {"account": [[{"accountid": "a"}]]})
    assert not due(T0 + timedelta(hours=1), keep_three_days)
    second = write_point(store, T0 + timedelta(hours=2), {"account": [[{"accountid": "b"}]]})
    assert not due(T0 + timedelta(days=1), keep_three_days)
    # Four days on, the coming point leaves both behind: due, and its sweep deletes them.
    later = T0 + timedelta(days=4)
    assert due(later, keep_three_days)
    write_point(store, later, {"account": [[{"accountid": "c"}]]})
    assert store.sweep(ENV, keep_three_days, later).deleted_points == sorted([first, second])
    assert not due(later + timedelta(hours=1), keep_three_days)
    # Files of a point that never completed: due once past the grace (7 days), not before.
    keep_a_month = RetentionPolicy(30, 0, 0, 0)
    abandoned = new_point_id(later)
    store.write_rows(ENV, abandoned, "account", 0, [{"accountid": "d"}], id_column="accountid")
    assert not due(later + timedelta(days=6), keep_a_month)
    assert due(later + timedelta(days=8), keep_a_month)
    assert store.sweep(ENV, keep_a_month, later + timedelta(days=8)).deleted_blobs == 1
    assert not due(later + timedelta(days=8), keep_a_month)


def test_points_written_with_zlib_before_zstandard_still_read_and_chain_on(
    store: DataStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A store an earlier version wrote (zlib row frames and index blocks) is read for as long
    as its points are kept, and new points chain onto it: reconstruction and a record's history
    across both formats."""
    import zlib

    from shared.data_store import frames, record_index

    rng = random.Random(11)
    rows = {r["accountid"]: r for r in (account(n, rng) for n in range(600))}
    tracked = next(iter(rows))
    points: list[tuple[str, dict[str, dict[str, Any]]]] = []
    previous: str | None = None
    for day in range(4):
        with monkeypatch.context() as old:
            if day < 2:  # the earlier version's writes
                old.setattr(frames, "compress", lambda data: zlib.compress(data, 3))
                old.setattr(record_index, "compress", lambda data: zlib.compress(data, 6))
            if previous is None:
                point = write_point(store, T0, {"account": [list(rows.values())]})
            else:
                changed = [dict(rows[tracked], name=f"renamed on day {day}"),
                           *(dict(rows[i], name=f"day {day}") for i in rng.sample(list(rows), 20))]
                gone = [i for i in rng.sample(list(rows), 5) if i != tracked]
                for row in changed:
                    rows[row["accountid"]] = row
                for i in gone:
                    rows.pop(i, None)
                point = write_point(store, T0 + timedelta(days=day), {"account": [changed]},
                                    mode=INCREMENTAL, previous=previous,
                                    deleted={"account": gone})
        points.append((point, dict(rows)))
        previous = point

    first_bytes = {
        p: store.container.download_blob(
            layout.chunk_name(ENV, p, "account", layout.chunk_file(layout.ROWS, 0)),
            offset=0, length=4).readall()
        for p, _ in points}
    assert [first_bytes[p][:1] == b"\x78" for p, _ in points] == [True, True, False, False]
    assert [first_bytes[p] == b"\x28\xb5\x2f\xfd" for p, _ in points] == [False, False, True, True]
    for point, expected in points:
        assert as_bytes(store.read_table(ENV, point, "account")) == as_bytes(
            list(expected.values())), point
    versions = store.record_versions(ENV, "account", tracked)
    assert [(v.point_id, v.row and v.row["name"]) for v in versions] == [
        (points[3][0], "renamed on day 3"), (points[2][0], "renamed on day 2"),
        (points[1][0], "renamed on day 1"), (points[0][0], "Account 0")]


def test_the_newest_point_is_listed_without_reading_every_manifest(
    store: DataStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With hundreds of tables (DATA_BACKUP_TABLES=all) a point's tables overflow its blob
    # metadata. The status page's newest point, a page of `ppbackup data points` and the hourly
    # overdue check then downloaded the manifest of every point kept (a year of daily points,
    # per environment, per look).
    tables: dict[str, list[list[dict[str, Any]]]] = {
        f"new_a_table_with_a_long_name_{n:03d}": [] for n in range(300)}
    points = [write_point(store, T0 + timedelta(days=d), tables) for d in range(3)]
    reads: list[str] = []
    real = DataStore.manifest

    def counted(self: DataStore, env: str, point_id: str) -> Any:
        reads.append(point_id)
        return real(self, env, point_id)

    monkeypatch.setattr(DataStore, "manifest", counted)

    page, more = store.catalog_page(ENV, limit=1, now=T0 + timedelta(days=3))
    assert [e.point_id for e in page] == [points[-1]] and more
    assert set(page[0].tables) == set(tables)  # the page's own points in full
    assert reads == [points[-1]]

    reads.clear()
    page, more = store.catalog_page(ENV, after=points[-1], limit=5, now=T0 + timedelta(days=3))
    assert [e.point_id for e in page] == [points[1], points[0]] and not more
    assert sorted(reads) == sorted(points[:2])

    reads.clear()
    times = [s.point_time for s in store.summaries(ENV, with_tables=False)]
    assert max(times) == T0 + timedelta(days=2)
    assert reads == []
