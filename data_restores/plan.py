"""The record restore plan (pure): what each row of a point needs to look as it did then.

Inputs are streams: a table's rows at the point and its rows in the target now, both sorted by
id in the same order (`guid_order`, SQL Server's order of a primary key; docs/record-restore.md,
"Memory", says how each side is sorted). The two are merged like a sorted join, so a table of
any size is compared in constant memory; what
is kept is only what must be written (creates, updates, rows that cannot be restored) and the
counts. The ids that must be indexed are indexed on purpose: `recordIds`, the rows the
related-rows walk collects, and the rows being created (a lookup may point to one of them).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from data_restores.counts import count, empty_summary
from data_restores.schema import (
    LOOKUP_TABLE,
    OWNER,
    STATE_COLUMNS,
    Schema,
    TableShape,
    lookup_target,
)

if TYPE_CHECKING:
    from shared.dataverse.metadata import ColumnInfo

Row = Mapping[str, Any]
Mode = Literal["missing", "changed", "all"]
MODES: tuple[Mode, ...] = ("missing", "changed", "all")
ETAG = "@odata.etag"


def guid_order(record_id: str) -> tuple[str, ...]:
    """SQL Server's order of uniqueidentifier values (an `$orderby` on a primary key): the last
    group first, then the fourth, third, second and first."""
    parts = record_id.strip().lower().split("-")
    return tuple(reversed(parts)) if len(parts) == 5 else (record_id.strip().lower(),)


def norm(record_id: str) -> str:
    return record_id.strip().lower()


@dataclass(frozen=True, slots=True)
class Reference:
    """A lookup to set: `column` pointing to row `record_id` of `target` (None clears it)."""

    column: str
    target: str
    record_id: str | None


@dataclass(frozen=True)
class RowPlan:
    """One row's action. `values` are the plain columns to write (for an update only those that
    differ), `references` the lookups, `state` the (statecode, statuscode) to set once the row
    exists, `before` the target's values of what differs, `etag` the target row's ETag read at
    plan time (the condition of the update), `reasons` why a row cannot be restored and
    `notes` what was left out on purpose (an owner that no longer exists). A create also keeps
    what a row the recycle bin brings back needs beside `values` to equal the point, since the
    bin gives back its values when deleted: `over_bin`, the columns empty at the point (null)
    and those only an update may write, and `clears`, the lookups empty at the point."""

    table: str
    record_id: str
    action: str
    values: Mapping[str, Any] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()
    state: tuple[Any, Any] | None = None
    before: Mapping[str, Any] = field(default_factory=dict)
    etag: str | None = None
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    over_bin: Mapping[str, Any] = field(default_factory=dict)
    clears: tuple[Reference, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The row as the diff files hold it (`ppbackup data diff` reads these names)."""
        values: dict[str, Any] = {
            "table": self.table, "id": self.record_id, "action": self.action,
            "values": dict(self.values) or None,
            "references": [[r.column, r.target, r.record_id] for r in self.references] or None,
            "state": list(self.state) if self.state is not None else None,
            "before": dict(self.before) or None, "etag": self.etag,
            "reasons": list(self.reasons) or None, "notes": list(self.notes) or None,
            "overBin": dict(self.over_bin) or None,
            "clears": [[r.column, r.target] for r in self.clears] or None,
        }
        return {k: v for k, v in values.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RowPlan:
        state = data.get("state")
        return cls(
            str(data["table"]), str(data["id"]), str(data["action"]),
            values=dict(data.get("values") or {}),
            references=tuple(Reference(str(c), str(t), i) for c, t, i in
                             data.get("references") or ()),
            state=(state[0], state[1]) if state else None,
            before=dict(data.get("before") or {}), etag=data.get("etag"),
            reasons=tuple(data.get("reasons") or ()), notes=tuple(data.get("notes") or ()),
            over_bin=dict(data.get("overBin") or {}),
            clears=tuple(Reference(str(c), str(t), None) for c, t in data.get("clears") or ()),
        )


def _is_data(key: str) -> bool:
    return "@" not in key


def _column_name(read_name: str) -> str:
    if read_name.startswith("_") and read_name.endswith("_value"):
        return read_name[1:-6]
    return read_name


def _writable(column: ColumnInfo, creating: bool) -> bool:
    if column.is_primary_id or column.attribute_of is not None or not column.readable:
        return False
    return column.creatable if creating else column.updatable


def _reference(
    shape: TableShape, schema: Schema, column: ColumnInfo, row: Row | None, value: Any
) -> tuple[Reference | None, str | None]:
    """The lookup `column` set to `value` (as `row` carries it), or why it cannot be set."""
    target = lookup_target(row, column) if row is not None and value is not None else None
    if target is None:
        target = column.targets[0] if column.targets else None
    if target is None:
        return None, f"lookup {column.logical_name} names no target table"
    if shape.navigation(column.logical_name, target) is None:
        return None, (
            f"lookup {column.logical_name} to {target} has no navigation property in the "
            f"target's metadata"
        )
    if schema.entity_set(target) is None:
        return None, f"lookup {column.logical_name} points to {target}, unknown in the target"
    return Reference(column.logical_name, target, norm(value) if value is not None else None), None


def compare_row(
    shape: TableShape, schema: Schema, point: Row, target: Row | None
) -> RowPlan:
    """A point row against the target's row now (None: gone): create, update or unchanged,
    or notRestorable with the reasons. Lookup targets are checked later (`settle`)."""
    creating = target is None
    record_id = norm(str(point[shape.id_column]))
    values: dict[str, Any] = {}
    before: dict[str, Any] = {}
    references: list[Reference] = []
    reasons: list[str] = []
    over_bin: dict[str, Any] = {}
    clears: list[Reference] = []
    state: tuple[Any, Any] | None = None
    # The point's members only: a stored row holds every column it had (nulls too), so a
    # column the target has and the point lacks was added since, and its value now is kept.
    for key in [k for k in point if _is_data(k)]:
        value = point[key]
        if key in STATE_COLUMNS:
            continue
        column = shape.by_read_name.get(key)
        if column is None:
            if value is not None:
                reasons.append(f"column {_column_name(key)} no longer exists in {shape.name}")
            continue
        if not _writable(column, creating):
            if creating and _writable(column, False):
                _over_bin(shape, schema, column, value, over_bin, clears)
            continue
        if target is not None and target.get(key) == value and (
            not column.is_lookup
            or target.get(key + LOOKUP_TABLE) == point.get(key + LOOKUP_TABLE)
        ):
            continue
        if creating and value is None:
            # A new row starts empty; a row the bin brings back does not.
            _over_bin(shape, schema, column, value, over_bin, clears)
            continue
        if column.is_lookup:
            reference, why = _reference(shape, schema, column, point, value)
            if reference is None:
                reasons.append(why or "")
                continue
            references.append(reference)
        else:
            values[column.logical_name] = value
        if target is not None:
            before[key] = target.get(key)
    point_state = (point.get("statecode"), point.get("statuscode"))
    if point_state != (None, None):
        if target is None:
            if point_state[0] in (0, None):
                if point_state[1] is not None:
                    values["statuscode"] = point_state[1]  # valid on create for an active row
            else:
                state = point_state
        else:
            now = (target.get("statecode"), target.get("statuscode"))
            if point_state != now:
                state = point_state
                before["statecode"], before["statuscode"] = now
    if reasons:
        return RowPlan(shape.name, record_id, "notRestorable", reasons=tuple(reasons))
    if not creating and not values and not references and state is None:
        return RowPlan(shape.name, record_id, "unchanged")
    etag = None if target is None else target.get(ETAG)
    return RowPlan(
        shape.name,
        record_id,
        "create" if creating else "update",
        values=values,
        references=tuple(references),
        state=state,
        before=before,
        etag=etag if isinstance(etag, str) else None,
        over_bin=over_bin,
        clears=tuple(clears),
    )


def _over_bin(
    shape: TableShape, schema: Schema, column: ColumnInfo, value: Any,
    over_bin: dict[str, Any], clears: list[Reference],
) -> None:
    """Keep a point value a create leaves out for a row the recycle bin brings back."""
    if not column.is_lookup:
        over_bin[column.logical_name] = value
    elif value is None:
        reference, _ = _reference(shape, schema, column, None, None)
        if reference is not None:  # no navigation to clear it through: nothing can be written
            clears.append(reference)


def _sorted_ids(rows: Iterable[Row], id_column: str, side: str) -> Iterator[tuple[Any, Row]]:
    last: Any = None
    for row in rows:
        key = guid_order(str(row[id_column]))
        if last is not None and key <= last:
            raise ValueError(
                f"{side} rows are not sorted by id (or repeat one): {row[id_column]} after a "
                f"later id; read them ordered by the primary key"
            )
        last = key
        yield key, row


def diff_table(
    shape: TableShape,
    schema: Schema,
    point_rows: Iterable[Row],
    target_rows: Iterable[Row],
    *,
    mode: Mode,
    only: Collection[str] | None = None,
) -> Iterator[RowPlan]:
    """Every point row's plan under `mode` (narrowed to the ids in `only`, lower case), by a
    merge of the two sorted streams: constant memory. Rows only in the target (made after the
    point) are never touched, and not reported."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    sentinel = object()
    points = _sorted_ids(point_rows, shape.id_column, "point")
    targets = _sorted_ids(target_rows, shape.id_column, "target")
    current: Any = next(targets, sentinel)
    for key, point in points:
        while current is not sentinel and current[0] < key:
            current = next(targets, sentinel)
        if only is not None and norm(str(point[shape.id_column])) not in only:
            continue
        target = current[1] if current is not sentinel and current[0] == key else None
        plan = _row_plan(shape, schema, point, target, mode)
        if plan is not None:
            yield plan


def _row_plan(
    shape: TableShape, schema: Schema, point: Row, target: Row | None, mode: Mode
) -> RowPlan | None:
    """A point row's plan under `mode` (None: the mode does not consider it)."""
    if target is None and mode == "changed":
        return None
    if target is not None and (mode == "missing" or _same(point, target)):
        return RowPlan(shape.name, norm(str(point[shape.id_column])), "unchanged")
    return compare_row(shape, schema, point, target)


def _same(point: Row, target: Row) -> bool:
    """The row was not touched since the point (most rows of a plan): every member equal, its
    version included, the ETag aside. Anything else is compared column by column."""
    if len(point) != len(target):
        return False
    for key, value in point.items():
        if key != ETAG and target.get(key, _ABSENT) != value:
            return False
    return True


_ABSENT = object()


def plan_rows(
    shape: TableShape,
    schema: Schema,
    point_rows: Iterable[Row],
    targets: Mapping[str, Row],
    *,
    mode: Mode,
    only: Collection[str] | None = None,
) -> Iterator[RowPlan]:
    """`diff_table` for a bounded run of point rows whose target rows were looked up by id
    (`targets`: lower-case id -> the target's row now; an id absent is gone). Same rules, any
    order: a record restore's planning job, one stored chunk at a time."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    for point in point_rows:
        record_id = norm(str(point[shape.id_column]))
        if only is not None and record_id not in only:
            continue
        plan = _row_plan(shape, schema, point, targets.get(record_id), mode)
        if plan is not None:
            yield plan


def referencing(
    row: Row, schema: Schema, table: str, chosen: Mapping[str, Collection[str]]
) -> bool:
    """Whether a point row holds a lookup to one of the `chosen` rows (table -> ids)."""
    return any(i in chosen.get(t, ()) for t, i in _lookups(row, schema, table))


def _lookups(row: Row, schema: Schema, table: str) -> Iterator[tuple[str, str]]:
    """(target table, id) of every lookup value a point row holds."""
    shape = schema.tables.get(table)
    for key, value in row.items():
        if not (isinstance(value, str) and key.startswith("_") and key.endswith("_value")):
            continue
        target = row.get(key + LOOKUP_TABLE)
        if not isinstance(target, str) and shape is not None:
            column = shape.by_read_name.get(key)
            target = column.targets[0] if column is not None and len(column.targets) == 1 else None
        if isinstance(target, str):
            yield target, norm(value)


def related_ids(
    seed: Mapping[str, Collection[str]],
    tables: Sequence[str],
    read_point: Callable[[str], Iterable[Row]],
    schema: Schema,
    *,
    max_passes: int = 50,
) -> dict[str, set[str]]:
    """The rows of `tables` (at the point) that reference the seed rows, at any depth: each
    pass streams every table once and stops when a pass adds nothing. Memory: the ids found."""
    chosen: dict[str, set[str]] = {t: {norm(i) for i in ids} for t, ids in seed.items()}
    found: dict[str, set[str]] = {}
    for _ in range(max_passes):
        grew = False
        for table in tables:
            id_column = schema.tables[table].id_column
            for row in read_point(table):
                record_id = norm(str(row[id_column]))
                if record_id in chosen.get(table, ()):
                    continue
                if referencing(row, schema, table, chosen):
                    chosen.setdefault(table, set()).add(record_id)
                    found.setdefault(table, set()).add(record_id)
                    grew = True
        if not grew:
            return found
    raise ValueError(f"related rows still growing after {max_passes} passes")


def settle(
    rows: Sequence[RowPlan], schema: Schema, exists: Callable[[str, str], bool]
) -> list[RowPlan]:
    """Check every lookup of the rows to write: it must point to a row that exists in the target
    (`exists`) or that this plan creates. An owner that no longer exists is left out (the
    platform makes the restoring user the owner) with a note; any other lookup to a gone row makes
    its row notRestorable, and so, in turn, the rows that point to a row that can no longer be
    created."""
    plans = list(rows)
    creating = {(p.table, p.record_id) for p in plans if p.action == "create"}
    checked: dict[tuple[str, str], bool] = {}

    def there(target: str, record_id: str) -> bool:
        if (target, record_id) in creating:
            return True
        if (target, record_id) not in checked:
            checked[(target, record_id)] = exists(target, record_id)
        return checked[(target, record_id)]

    changed = True
    while changed:
        changed = False
        for n, plan in enumerate(plans):
            if plan.action not in ("create", "update"):
                continue
            kept: list[Reference] = []
            notes = list(plan.notes)
            reasons: list[str] = []
            for ref in plan.references:
                if ref.record_id is None or there(ref.target, ref.record_id):
                    kept.append(ref)
                elif ref.column == OWNER:
                    notes.append(f"owner {ref.target} {ref.record_id} no longer exists; left out")
                else:
                    reasons.append(
                        f"lookup {ref.column} points to {ref.target} {ref.record_id}, which is "
                        f"gone and is not being restored"
                    )
            if reasons:
                plans[n] = RowPlan(
                    plan.table, plan.record_id, "notRestorable", reasons=tuple(reasons)
                )
                creating.discard((plan.table, plan.record_id))
                changed = True
            elif len(kept) != len(plan.references):
                if (plan.action == "update" and not kept and not plan.values
                        and plan.state is None):
                    # Its only difference was the owner: nothing is left to write, and an
                    # update planned would be one the apply never sends.
                    plans[n] = RowPlan(plan.table, plan.record_id, "notRestorable", reasons=tuple(
                        note.replace("; left out", "; the row is left as it is")
                        for note in notes[len(plan.notes):]))
                else:
                    plans[n] = replace(plan, references=tuple(kept), notes=tuple(notes))
    return plans


@dataclass(frozen=True)
class RestorePlan:
    """The rows to write (and those that cannot be), and the counts of every row considered."""

    rows: list[RowPlan]
    counts: dict[str, Any]


def plan_restore(
    *,
    tables: Sequence[str],
    mode: Mode,
    record_ids: Collection[str] | None,
    with_related: bool,
    schema: Schema,
    point_tables: Sequence[str],
    read_point: Callable[[str], Iterable[Row]],
    read_target: Callable[[str], Iterable[Row]],
    exists: Callable[[str, str], bool],
) -> RestorePlan:
    """The whole plan. `read_point`/`read_target` return a table's rows sorted by `guid_order`
    (each called once per table diffed, plus once per related-rows pass on the point side);
    `exists` answers whether a row is in the target now (a lookup's target)."""
    only = {norm(i) for i in record_ids} if record_ids else None
    kept: list[RowPlan] = []
    counts = empty_summary()

    def run(table: str, narrow: Collection[str] | None) -> None:
        shape = schema.tables[table]
        count(counts, table, "unchanged", 0)
        for plan in diff_table(
            shape, schema, read_point(table), read_target(table), mode=mode, only=narrow
        ):
            if plan.action == "unchanged":
                count(counts, table, "unchanged")  # counted, not kept: memory stays flat
            else:
                kept.append(plan)

    for table in tables:
        run(table, only)
    if with_related:
        if only is not None:
            seed = {t: only for t in tables}
        else:
            seed = {}
            for plan in kept:
                if plan.action in ("create", "update"):
                    seed.setdefault(plan.table, set()).add(plan.record_id)
        related = related_ids(seed, point_tables, read_point, schema)
        for table in point_tables:
            extra = related.get(table, set())
            if table in tables:
                if only is None:
                    continue  # every row of a chosen table was already considered
                extra = extra - only
            if extra:
                run(table, extra)
    rows = settle(kept, schema, exists)
    for plan in rows:
        count(counts, plan.table, plan.action)
    return RestorePlan(rows, counts)
