"""One environment's Dataverse data: seeded rows (generated, see `seeding.py`) plus what changed.

Per table only the changes are stored: created or updated rows (raw form), the seeded rows that
were deleted, each changed row's version, and an append-only change log `(version, id)` that
change tracking reads (`changes_since`). Every write takes the next value of the organisation's
version counter (the row's `versionnumber` and ETag), as Dataverse's row versions do.

Row order for paging is a position: seeded row `i` is position `i`, created rows follow in
creation order. A page token holds the last position handed out (keyset), so rows written
between two pages neither shift nor repeat the rest; they have a version above the read's stamp
and come in the next delta.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ppbackup.simulator.dataverse import seeding
from ppbackup.simulator.dataverse.schema import Table, build_schema

BIN_EXCLUDED = frozenset({"workflow", "connectionreference"})
"""Tables whose deleted rows the recycle bin never keeps (reference §8's exclusions)."""

# Versions of seeded rows are their index + 1; the counter starts above every seeded version.
FIRST_VERSION = 1 << 40


Stored = tuple[tuple[str, ...], tuple[Any, ...]]
"""A stored row: its column names (shared) and values."""


@dataclass(slots=True)
class RowState:
    """Everything about one row a change set may have to put back (rollback)."""

    raw: Stored | None
    version: int | None
    deleted_seeded: bool
    created_slot: int | None
    binned: Stored | None
    """The row's recycle-bin entry (its last values when deleted), if the bin holds it."""


@dataclass(slots=True)
class TableData:
    table: Table
    prefix: str
    seeded: int
    overrides: dict[str, Stored] = field(default_factory=dict)
    """Created and updated rows, compact: (column names, values); the names tuple is shared by
    every row written with the same columns (`pack`)."""
    _layouts: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    deleted_seeded: set[int] = field(default_factory=set)
    created: list[str | None] = field(default_factory=list)
    created_slot: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    log: list[tuple[int, str]] = field(default_factory=list)
    """(version, id) of every write, in version order; deletes included."""
    bin: dict[str, Stored] = field(default_factory=dict)
    """The recycle bin: deleted rows' last raw values (lookups and state included), in the
    order they were deleted; a row leaves it when `Restore` brings it back."""

    def pack(self, raw: dict[str, Any]) -> Stored:
        names = tuple(raw)
        return self._layouts.setdefault(names, names), tuple(raw.values())

    def stored(self, row_id: str) -> dict[str, Any] | None:
        entry = self.overrides.get(row_id)
        return dict(zip(*entry, strict=True)) if entry is not None else None

    def seeded_index(self, row_id: str) -> int | None:
        if len(row_id) != 36 or not row_id.startswith(self.prefix):
            return None
        try:
            index = int(row_id[-12:], 16)
        except ValueError:
            return None
        return index if index < self.seeded else None

    def id_at(self, index: int) -> str:
        return f"{self.prefix}{index:012x}"

    def binned(self, row_id: str) -> dict[str, Any] | None:
        """The recycle bin's copy of a deleted row (raw, without primary id and version)."""
        entry = self.bin.get(row_id)
        return dict(zip(*entry, strict=True)) if entry is not None else None

    def position(self, row_id: str) -> int | None:
        """A live row's paging position (`positions`), or None when it does not exist."""
        index = self.seeded_index(row_id)
        if index is not None:
            return None if index in self.deleted_seeded else index
        slot = self.created_slot.get(row_id)
        return None if slot is None else self.seeded + slot

    def exists(self, row_id: str) -> bool:
        index = self.seeded_index(row_id)
        if index is not None:
            return index not in self.deleted_seeded
        return row_id in self.created_slot

    def version(self, row_id: str) -> int:
        found = self.versions.get(row_id)
        if found is not None:
            return found
        index = self.seeded_index(row_id)
        return index + 1 if index is not None else 0

    def count(self) -> int:
        return self.seeded - len(self.deleted_seeded) + len(self.created_slot)

    def positions(self, after: int) -> Iterator[tuple[int, str]]:
        """(position, id) of live rows after position `after` (-1 = from the start)."""
        for index in range(max(after + 1, 0), self.seeded):
            if index not in self.deleted_seeded:
                yield index, self.id_at(index)
        start = max(after + 1 - self.seeded, 0)
        for slot in range(start, len(self.created)):
            row_id = self.created[slot]
            if row_id is not None:
                yield self.seeded + slot, row_id

    def snapshot(self, row_id: str) -> RowState:
        index = self.seeded_index(row_id)
        return RowState(
            raw=self.overrides.get(row_id), version=self.versions.get(row_id),
            deleted_seeded=index is not None and index in self.deleted_seeded,
            created_slot=self.created_slot.get(row_id), binned=self.bin.get(row_id),
        )

    def restore(self, row_id: str, state: RowState) -> None:
        if state.raw is None:
            self.overrides.pop(row_id, None)
        else:
            self.overrides[row_id] = state.raw
        if state.version is None:
            self.versions.pop(row_id, None)
        else:
            self.versions[row_id] = state.version
        if state.binned is None:
            self.bin.pop(row_id, None)
        else:
            self.bin[row_id] = state.binned
        index = self.seeded_index(row_id)
        if index is not None:
            if state.deleted_seeded:
                self.deleted_seeded.add(index)
            else:
                self.deleted_seeded.discard(index)
        current = self.created_slot.pop(row_id, None)
        if current is not None and current != state.created_slot:
            self.created[current] = None
        if state.created_slot is not None:
            self.created_slot[row_id] = state.created_slot
            self.created[state.created_slot] = row_id


@dataclass(frozen=True, slots=True)
class Mark:
    """Where an all-or-nothing unit started (`Org.begin`)."""

    writes: int
    history: int
    undo: int
    nested: bool


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One write a client made through the Web API (the write log tests read)."""

    seq: int
    at: str
    table: str
    row_id: str
    action: str
    """"create", "update", "delete", "restore" (from the recycle bin), "associate" or
    "disassociate"."""
    body_json: str
    """The request body as sent, compact JSON (a million-row restore's log stays small)."""

    def as_json(self) -> dict[str, Any]:
        """The record as `dataverse_writes` and `/_sim/dataverse/{env}/writes` show it."""
        return {"seq": self.seq, "at": self.at, "table": self.table, "row_id": self.row_id,
                "action": self.action, "body": json.loads(self.body_json)}


class Org:
    """The Dataverse organisation of one environment."""

    def __init__(self, env_id: str, rows: int, *, seed: str | None = None) -> None:
        self.env_id = env_id
        self.rows = rows
        self.seed = seed or env_id
        """Whose seeded rows these are: an environment restored from another keeps its ids."""
        self.lock = threading.RLock()
        self.schema: dict[str, Table] = build_schema()
        counts = {name: seeding.FIXED_COUNTS.get(name, rows) for name in self.schema}
        self.counts = counts
        self.tables = {
            name: TableData(table, seeding.table_prefix(self.seed, name), counts[name])
            for name, table in self.schema.items()
        }
        self.history: list[tuple[datetime, str, str, RowState]] = []
        """(when, table, id, the row before) of every write, oldest first: what `as_of` undoes.
        Not saved with `--state`."""
        self._version = FIRST_VERSION
        self.writes: list[WriteRecord] = []
        self.expired_through = 0
        """Delta tokens stamped at or below this version are expired (`expire_tokens`)."""
        self.invalid_through = 0
        """Delta tokens stamped at or below this version are not valid (`invalidate_tokens`)."""
        self.revoked: dict[str, set[str]] = {}
        """table -> privileges revoked from the app user ("Read", "Write", "Create", "Delete")."""
        self._undo: list[tuple[TableData, str, RowState, int]] | None = None
        self.recycle_bin = False
        """Keep deleted rows in the recycle bin ("Keep deleted Dataverse records", reference
        §8); off by default, as on the platform."""

    # ------------------------------------------------------------------ change sets

    def begin(self) -> Mark:
        """Start an all-or-nothing unit (a `$batch` change set, a bulk message; they nest);
        returns its mark for `commit` or `rollback`."""
        outer = self._undo is not None
        if self._undo is None:
            self._undo = []
        return Mark(len(self.writes), len(self.history), len(self._undo), outer)

    def commit(self, mark: Mark) -> None:
        if not mark.nested:
            self._undo = None

    def rollback(self, mark: Mark) -> None:
        """Put back every row the unit touched, newest first, and forget its writes."""
        undo = self._undo or []
        for data, row_id, state, log_len in reversed(undo[mark.undo:]):
            data.restore(row_id, state)
            del data.log[log_len:]
        del undo[mark.undo:]
        del self.writes[mark.writes:]
        del self.history[mark.history:]
        if not mark.nested:
            self._undo = None

    def _remember(self, data: TableData, row_id: str, at: datetime) -> None:
        before = data.snapshot(row_id)
        self.history.append((at, data.table.logical_name, row_id, before))
        if self._undo is not None:
            self._undo.append((data, row_id, before, len(data.log)))

    # ------------------------------------------------------------------ environment restore

    def as_of(self, env_id: str, moment: datetime, *, keep_connections: bool = False) -> Org:
        """A copy of this organisation as it stood at `moment`, for environment `env_id` (what
        an environment restore puts there): same ids and versions; every change tracking token
        handed out before expires (a restored database is a new one); cloud flows off and,
        unless `keep_connections`, connection references without their connections."""
        with self.lock:
            copy = Org(env_id, self.rows, seed=self.seed)
            copy.schema = deepcopy(self.schema)
            for name, data in self.tables.items():
                twin = copy.tables[name]
                twin.table = copy.schema[name]
                twin.overrides = dict(data.overrides)  # stored rows are immutable tuples
                twin.deleted_seeded = set(data.deleted_seeded)
                twin.created = list(data.created)
                twin.created_slot = dict(data.created_slot)
                twin.versions = dict(data.versions)
                twin.log = list(data.log)
                twin.bin = dict(data.bin)
            copy.recycle_bin = self.recycle_bin
            keep = len(self.history)
            while keep and self.history[keep - 1][0] > moment:
                keep -= 1
            for _, table, row_id, before in reversed(self.history[keep:]):
                twin = copy.tables[table]
                twin.restore(row_id, before)
            for twin in copy.tables.values():
                twin.log = [(v, i) for v, i in twin.log if twin.versions.get(i, 0) >= v]
            copy.history = list(self.history[:keep])
            copy.restore_counters(self._version, self._version)
            copy.next_version()
            copy.turn_flows_off(moment)
            if not keep_connections:
                copy.drop_connections(moment)
            return copy

    def turn_flows_off(self, at: datetime) -> None:
        """What a platform restore does to solution cloud flows (reference §9.4): every one
        comes back off. Not a client write: the write log does not show it."""
        data = self.tables.get("workflow")
        if data is None:
            return
        for _, row_id in list(data.positions(-1)):
            raw = self.raw(data, row_id)
            if raw and raw.get("category") == 5 and raw.get("statecode") != 0:
                raw.update(statecode=0, statuscode=1)
                raw.pop(data.table.primary_id, None)
                raw.pop("versionnumber", None)
                self.put(data, row_id, raw, at)

    def drop_connections(self, at: datetime) -> None:
        """What a platform restore does to connection references (reference §3.3, §9.4: they
        "need new connections"): each one comes back without `connectionid`, so a flow that
        uses it is refused its activation (§9.2). Not a client write either."""
        data = self.tables.get("connectionreference")
        if data is None:
            return
        for _, row_id in list(data.positions(-1)):
            raw = self.raw(data, row_id)
            if raw and raw.get("connectionid") is not None:
                raw["connectionid"] = None
                raw.pop(data.table.primary_id, None)
                raw.pop("versionnumber", None)
                self.put(data, row_id, raw, at)

    # ------------------------------------------------------------------ lookup

    def by_set(self, entity_set: str) -> TableData | None:
        for data in self.tables.values():
            if data.table.entity_set == entity_set:
                return data
        return None

    def id_of(self, table: str, index: int) -> str:
        return self.tables[table].id_at(index)

    @property
    def version(self) -> int:
        """The latest version handed out (a delta token's stamp)."""
        return self._version

    def restore_counters(self, version: int, expired_through: int,
                         invalid_through: int = 0) -> None:
        """Resume a saved organisation's version counter (`persist.py`)."""
        self._version = max(version, FIRST_VERSION)
        self.expired_through = expired_through
        self.invalid_through = invalid_through

    def expire_tokens(self) -> None:
        """Every delta token handed out so far is expired; later ones are not."""
        self.expired_through = self._version
        self.next_version()

    def invalidate_tokens(self) -> None:
        """Every delta token handed out so far is refused as not valid (400, not the expiry
        fault): what a restore or a copy leaves, another database whose versions the tokens
        never named. Later ones are valid."""
        self.invalid_through = self._version
        self.next_version()

    def next_version(self) -> int:
        self._version += 1
        return self._version

    def raw(self, data: TableData, row_id: str) -> dict[str, Any] | None:
        """The row's raw columns (primary id and versionnumber included), or None if gone."""
        if not data.exists(row_id):
            return None
        row = data.stored(row_id)
        if row is None:
            index = data.seeded_index(row_id)
            assert index is not None
            row = seeding.seeded_row(data.table.logical_name, index, self.counts, self.id_of)
        out = {name: row.get(name) for name in data.table.columns}
        out[data.table.primary_id] = row_id
        if "versionnumber" in data.table.columns:
            out["versionnumber"] = data.version(row_id)
        return out

    def name(self, table: str, row_id: str) -> str | None:
        """A row's primary name (a lookup's formatted value), without building seeded rows
        where the name alone can be generated."""
        data = self.tables.get(table)
        if data is None or not data.exists(row_id):
            return None
        index = data.seeded_index(row_id) if row_id not in data.overrides else None
        if index is not None:
            quick = seeding.seeded_name(table, index)
            if quick is not None:
                return quick
        raw = self.raw(data, row_id)
        value = raw.get(data.table.primary_name) if raw else None
        return str(value) if value is not None else None

    # ------------------------------------------------------------------ writes

    def put(self, data: TableData, row_id: str, raw: dict[str, Any], at: datetime) -> int:
        """Store `raw` as the row's columns (create or update) at simulated time `at`; returns
        its new version."""
        self._remember(data, row_id, at)
        version = self.next_version()
        index = data.seeded_index(row_id)
        if index is not None:
            data.deleted_seeded.discard(index)
        elif row_id not in data.created_slot:
            data.created_slot[row_id] = len(data.created)
            data.created.append(row_id)
        data.overrides[row_id] = data.pack(raw)
        data.versions[row_id] = version
        data.log.append((version, row_id))
        return version

    def keeps_deleted(self, data: TableData) -> bool:
        """Does a delete in this table go to the recycle bin? Not for intersect rows nor the
        tables the platform leaves out (reference §8: solution components, connection
        references)."""
        return (self.recycle_bin and not data.table.intersect
                and data.table.logical_name not in BIN_EXCLUDED)

    def remove(self, data: TableData, row_id: str, at: datetime) -> int:
        binned = self.raw(data, row_id) if self.keeps_deleted(data) else None
        self._remember(data, row_id, at)
        if binned is not None:
            binned.pop(data.table.primary_id, None)
            binned.pop("versionnumber", None)
            data.bin.pop(row_id, None)  # deleted again: the newest copy goes last
            data.bin[row_id] = data.pack(binned)
        version = self.next_version()
        index = data.seeded_index(row_id)
        if index is not None:
            data.deleted_seeded.add(index)
        else:
            slot = data.created_slot.pop(row_id)
            data.created[slot] = None
        data.overrides.pop(row_id, None)
        data.versions[row_id] = version
        data.log.append((version, row_id))
        return version

    def undelete(self, data: TableData, row_id: str, raw: dict[str, Any], at: datetime) -> int:
        """Bring a row back from the recycle bin with `raw` as its columns (a new version: change
        tracking sees it); returns the version."""
        version = self.put(data, row_id, raw, at)  # remembers the bin entry for a rollback
        data.bin.pop(row_id, None)
        return version

    def changes_since(self, data: TableData, since: int, upto: int) -> Iterator[tuple[int, str]]:
        """(version, id) of rows whose latest write is in (since, upto], in version order;
        lazily, from a bisection, so a page of a large delta costs a page."""
        start = bisect.bisect_right(data.log, (since, "\uffff"))
        for index in range(start, len(data.log)):
            version, row_id = data.log[index]
            if version > upto:
                return
            if data.versions.get(row_id) == version:
                yield version, row_id
