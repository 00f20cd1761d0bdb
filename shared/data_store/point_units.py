"""A table at a point read in bounded units: one stored row file each (a record restore's
planning job is one unit).

`DataStore.read_table` streams a whole table; a record restore must stop after each unit and
checkpoint, so it reads unit `n` alone: the full copy's row files first, then each increment's,
every row filtered by the same rule `read_table` applies (the latest increment that touched an id
has the last word, and a deleted id is gone). The ids the increments touched are read once per
instance (a step) and cached: they are the changed rows, bounded by the chain bound, never the
table. Counting units reads the manifests only.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.data_store import frames, layout

if TYPE_CHECKING:
    from shared.data_store.manifest import FileEntry, TableEntry
    from shared.data_store.store import DataStore

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _File:
    point_id: str
    increment: int  # -1: the full copy; n: the n-th increment on top of it
    entry: FileEntry
    id_column: str


@dataclass(frozen=True, slots=True)
class _Layout:
    files: tuple[_File, ...]
    # id -> (increment, deleted): which increment has the last word on it.
    last: dict[str, tuple[int, bool]]


class PointUnits:
    """The units of one point of one environment (cached per instance: create one per step)."""

    def __init__(self, store: DataStore, env: str, point_id: str) -> None:
        self._store = store
        self._env = env
        self._point_id = point_id

    def count(self, table: str) -> int:
        """The table's units, from the manifests alone: no row is read (validating counts every
        table of a point, and their increments may be thousands of files)."""
        return len(self._chain(table)[1])

    def rows(self, table: str, unit: int) -> Iterator[Row]:
        shape = self._layout(table)
        if not 0 <= unit < len(shape.files):
            raise IndexError(f"{table} has {len(shape.files)} unit(s) at this point, not {unit}")
        f = shape.files[unit]
        for row in frames.iter_chunk(self._read(table, f.point_id, f.entry)):
            touched = shape.last.get(str(row[f.id_column]).lower())
            if (touched is None and f.increment < 0) or touched == (f.increment, False):
                yield row

    @functools.lru_cache(maxsize=64)  # noqa: B019  (one instance per step: freed with it)
    def _chain(self, table: str) -> tuple[tuple[tuple[str, TableEntry], ...], tuple[_File, ...]]:
        """The table's (point, entry) from its full copy to this point, and its row files in
        unit order: the manifests' word, nothing read from the rows."""
        top = self._store.manifest(self._env, self._point_id)
        if table not in top.tables:
            raise KeyError(f"point {self._point_id} does not hold {table}")
        entry = top.tables[table]
        points = [*entry.chain, self._point_id]
        chain = [self._store.manifest(self._env, p).tables[table] for p in entry.chain] + [entry]
        files = [_File(points[0], -1, f, chain[0].id_column) for f in chain[0].row_files]
        for number, (p, inc) in enumerate(zip(points[1:], chain[1:], strict=True)):
            files.extend(_File(p, number, f, inc.id_column) for f in inc.row_files)
        return tuple(zip(points, chain, strict=True)), tuple(files)

    @functools.lru_cache(maxsize=64)  # noqa: B019  (one instance per step: freed with it)
    def _layout(self, table: str) -> _Layout:
        chain, files = self._chain(table)
        last: dict[str, tuple[int, bool]] = {}
        for number, (p, inc) in enumerate(chain[1:]):
            for f in inc.row_files:
                for row in frames.iter_chunk(self._read(table, p, f)):
                    last[str(row[inc.id_column]).lower()] = (number, False)
            for f in inc.deleted_files:
                for row in frames.iter_chunk(self._read(table, p, f)):
                    last[str(row["id"]).lower()] = (number, True)
        return _Layout(files, last)

    def _read(self, table: str, point_id: str, f: FileEntry) -> bytes:
        name = f"{layout.point_prefix(self._env, point_id)}{table}/{f.name}.zz"
        data = self._store.container.download_blob(name).readall()
        if hashlib.sha256(data).hexdigest() != f.sha256:
            raise ValueError(f"{point_id}/{table}/{f.name}: checksum does not match the manifest")
        return data
