"""The writes of a plan, in order, batched and conditional (pure).

Three passes, each a run of stages (one table each) in parent-before-child order:
1. `rows`: every create (`PATCH <set>(<id>)` with `If-None-Match: *`: the row's original id,
   and a row that exists already is refused, never overwritten) and every update (`If-Match` the
   ETag read at plan time: a row changed since is refused with 412, a conflict). Lookups whose
   row is written in an earlier stage, or exists already, are set here through their navigation
   property (`<nav>@odata.bind`).
2. `references`: the lookups that point to a row created in the same table (a parent account)
   or in a table the order puts later (a cycle between tables), once every row exists.
3. `states`: statecode and statuscode of created rows that were not active, set last, since an
   inactive row refuses the earlier writes.
A row's first write, in whichever pass it lands (an update of only a link to a row created in
the same table has its one write in `references`), carries its condition and is marked `first`;
its later writes use `If-Match: *` (it must exist, and is never created by them). Stages run
one after another; the batches of a stage may run at once (each row appears in one batch of a
stage).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from data_restores.plan import Reference, RowPlan
from data_restores.schema import Schema

# 500 writes per $batch. Service protection counts a $batch as ONE request toward the 6,000
# per 5 minutes per user (its inner requests' execution time counts toward the 20 minutes), so
# at batches of 100 the count limit (20 requests/s) caps a restore at 2,000 writes/s whatever
# the concurrency, and it binds first; 500 lifts that cap past what the execution-time limit
# allows. Not the 1,000 allowed: a batch must finish inside the 2-minute request timeout even
# where plug-ins slow each write, and a 429 or a lost answer re-sends the whole batch.
BATCH_SIZE = 500
MAX_BATCH_SIZE = 1000
PASSES = ("rows", "references", "states")
# Before every pass: rows to create that the target's recycle bin still holds, brought back by
# the platform (`Restore`), which returns what a backup cannot (attachments, N:N links, audit).
BIN = "bin"


@dataclass(frozen=True, slots=True)
class Write:
    """One conditional write of one row: `PATCH <url>` with `headers` and `body`. `first`: the
    row's first write, whichever pass it lands in (an update of only a link to a row being
    created has its one write in `references`): it carries the plan's condition, counts the
    row, and its refusal is a conflict that stops the row's later writes."""

    table: str
    record_id: str
    action: str
    url: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]
    first: bool = True
    from_bin: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "id": self.record_id, "action": self.action,
                "url": self.url, "headers": dict(self.headers), "body": dict(self.body),
                "first": self.first, "fromBin": self.from_bin}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Write:
        headers = dict(data.get("headers") or {})
        first = data.get("first")
        if first is None:
            # Batches written before `first` was kept: only later writes are `If-Match: *`.
            first = headers.get("If-Match") != "*"
        from_bin = data.get("fromBin")
        if from_bin is None:
            # Before `fromBin` was kept, a bin row's first write was the only one without headers.
            from_bin = bool(first) and not headers
        return cls(str(data["table"]), str(data["id"]), str(data["action"]), str(data["url"]),
                   headers, dict(data.get("body") or {}), bool(first), bool(from_bin))


@dataclass(frozen=True, slots=True)
class Stage:
    """One table's writes of one pass, in batches that may be sent at once."""

    pass_name: str
    table: str
    batches: tuple[tuple[Write, ...], ...]


def table_order(tables: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """Parents before children: a topological order of `tables` over (child, parent) edges
    (self edges ignored). A cycle is broken at the table, among those left, that the fewest
    unplaced tables reference (then by name), so the order is always total and deterministic;
    the lookups that then point forward are set in the second pass."""
    names = sorted(set(tables))
    parents: dict[str, set[str]] = {t: set() for t in names}
    for child, parent in edges:
        if child != parent and child in parents and parent in parents:
            parents[child].add(parent)
    order: list[str] = []
    left = set(names)
    while left:
        ready = sorted(t for t in left if not parents[t] & left)
        if not ready:
            ready = [min(left, key=lambda t: (len(parents[t] & left), t))]
        for table in ready:
            order.append(table)
            left.discard(table)
    return order


def _bind(schema: Schema, shape_table: str, ref: Reference) -> tuple[str, str | None]:
    shape = schema.tables[shape_table]
    nav = shape.navigation(ref.column, ref.target)
    entity_set = schema.entity_set(ref.target)
    if nav is None or entity_set is None:
        # The planner refuses such a lookup; reaching here is a wiring error, not bad input.
        raise ValueError(f"{shape_table}.{ref.column} to {ref.target}: no navigation or set")
    value = None if ref.record_id is None else f"/{entity_set}({ref.record_id})"
    return f"{nav}@odata.bind", value


def _chunks(writes: Sequence[Write], size: int) -> tuple[tuple[Write, ...], ...]:
    return tuple(tuple(writes[i : i + size]) for i in range(0, len(writes), size))


def _over_bin(schema: Schema, plan: RowPlan) -> dict[str, Any]:
    """What a row the recycle bin brought back needs beside a create's values to equal the point:
    the bin gives it back as it was when deleted. The point's empty columns and lookups (null
    binds), the columns only an update writes, and the row made active (the point's statuscode
    rides in the values when it was active; an inactive point state follows in `states`, since
    an inactive row refuses the earlier writes). The same body creates the row where the bin
    could not restore it: nulls on a create leave it empty, columns a create may not write are
    ignored."""
    body = dict(plan.over_bin)
    for ref in plan.clears:
        key, _ = _bind(schema, plan.table, ref)
        body[key] = None
    if "statecode" in schema.tables[plan.table].by_read_name:
        body["statecode"] = 0
    return body


def write_stages(
    rows: Iterable[RowPlan],
    schema: Schema,
    *,
    batch_size: int = BATCH_SIZE,
    in_bin: Collection[tuple[str, str]] = (),
) -> list[Stage]:
    """The plan's writes as stages (see the module's docstring); rows that are not a create or
    an update write nothing. Rows to create that the recycle bin holds (`in_bin`: (table, id))
    get a `bin` stage first (the platform's Restore), and their first write (`from_bin`) gets
    its condition from what that stage recorded: `If-Match` the ETag of the row it brought back,
    or `If-None-Match: *` (a create) where it brought none back."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be 1 to {MAX_BATCH_SIZE}; got {batch_size}")
    plans = [p for p in rows if p.action in ("create", "update")]
    creating = {(p.table, p.record_id) for p in plans if p.action == "create"}
    order = table_order(
        {p.table for p in plans},
        {(p.table, r.target) for p in plans for r in p.references if r.record_id is not None},
    )
    position = {t: n for n, t in enumerate(order)}
    passes = (BIN, *PASSES)
    per_pass: dict[str, dict[str, list[Write]]] = {name: {t: [] for t in order} for name in passes}
    for plan in plans:
        binned = plan.action == "create" and (plan.table, plan.record_id) in in_bin
        first: dict[str, Any] = dict(plan.values)
        if binned:
            first.update(_over_bin(schema, plan))
        later: dict[str, Any] = {}
        for ref in plan.references:
            key, value = _bind(schema, plan.table, ref)
            waits = (
                ref.record_id is not None
                and (ref.target, ref.record_id) in creating
                and position.get(ref.target, -1) >= position[plan.table]
            )
            (later if waits else first)[key] = value
        state: dict[str, Any] = {}
        if plan.state is not None:
            state = {"statecode": plan.state[0], "statuscode": plan.state[1]}
        if plan.action == "update" and not later:
            first.update(state)  # the row exists and nothing follows: one write sets it all
            state = {}
        bodies: list[tuple[str, dict[str, Any]]] = []
        if plan.action == "create" or first:
            bodies.append(("rows", first))
        if later:
            bodies.append(("references", later))
        if state:
            bodies.append(("states", state))
        entity_set = schema.entity_set(plan.table)
        url = f"{entity_set}({plan.record_id})"
        if binned:
            per_pass[BIN][plan.table].append(
                Write(plan.table, plan.record_id, plan.action, url, {}, {})
            )
        for n, (pass_name, body) in enumerate(bodies):
            if n > 0:
                headers = {"If-Match": "*"}
            elif binned:
                headers = {}  # known once the bin stage has run: `from_bin`
            elif plan.action == "create":
                headers = {"If-None-Match": "*"}
            elif plan.etag:
                headers = {"If-Match": plan.etag}
            else:
                raise ValueError(f"{plan.table} {plan.record_id}: an update without the ETag read")
            per_pass[pass_name][plan.table].append(
                Write(plan.table, plan.record_id, plan.action, url, headers, body, n == 0,
                      binned and n == 0)
            )
    return [
        Stage(name, table, _chunks(per_pass[name][table], batch_size))
        for name in passes
        for table in order
        if per_pass[name][table]
    ]
