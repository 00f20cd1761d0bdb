"""Carrying out a record restore's commands: backup store reads, Dataverse reads and writes.

Every Dataverse fault becomes an answer (`engine.execute.fault_answer`), per job where one job
of several failed; storage failures propagate and the queue delivers the step again. Each step
is idempotent: what it writes to the store is named by the state's counters, and what it writes
to Dataverse is conditional (a create never makes a second row: the id is the key and
`If-None-Match: *` refuses an existing one; an update carries the ETag read at plan time).
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from itertools import islice
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from data_backups.execute import store_for
from data_restores import commands as c
from data_restores.apply_order import BIN, PASSES, Write, write_stages
from data_restores.counts import tally
from data_restores.plan import ETAG, RowPlan, norm, plan_rows, referencing, settle
from data_restores.schema import Schema, TableShape
from data_restores.state import IDS, RELATED, Job
from engine.answers import Refused
from engine.execute import fault_answer
from shared import errors
from shared.runtime import AppContext

if TYPE_CHECKING:
    from shared.data_store import DataStore
    from shared.data_store.restore_files import RestoreFiles
    from shared.dataverse import DataverseClient
    from shared.dataverse.metadata import TableInfo

FIRST_PASS = PASSES[0]
ORDER = (BIN, *PASSES)
# The outcomes after which a row gets no more writes (a bin note of a row written from the
# backup instead is not one of them).
REFUSED = ("conflict", "failed")
# Point rows a planning job compares at once (one `$batch` of id lookups each).
SLICE = 1000


def execute(ctx: AppContext, command: Any, operation_id: str) -> Any:
    from shared.dataverse import NoDataverse

    try:
        return _carry_out(ctx, command, operation_id)
    except NoDataverse as error:
        return Refused("NoDataverse", error.message)
    except errors.PowerPlatformError as error:
        return fault_answer(error)


def _carry_out(ctx: AppContext, command: Any, operation_id: str) -> Any:
    if isinstance(command, c.Validate):
        return _validate(ctx, command)
    from shared.data_store.restore_files import RestoreFiles

    files = RestoreFiles(store_for(ctx), operation_id)
    with _client(ctx, command.target) as client:
        if isinstance(command, c.DiffJobs):
            return _diff(ctx, client, files, command, operation_id)
        if isinstance(command, c.RelateJobs):
            return _relate(ctx, client, files, command)
        if isinstance(command, c.Settle):
            return _settle(ctx, client, files, command, operation_id)
        if isinstance(command, c.ApplyJobs):
            return _apply(ctx, client, files, command, operation_id)
    raise TypeError(f"not a record restore command: {type(command).__name__}")


def _client(ctx: AppContext, target: c.Target) -> DataverseClient:
    from shared.dataverse import DataverseClient
    from shared.dataverse.client import shared_http_client
    from shared.power_platform.auth import token_provider_from_settings

    return DataverseClient(
        target.api_url, instance_url=target.instance_url,
        token_provider=token_provider_from_settings(ctx.settings),
        bap_url=ctx.settings.pp_bap_url, http_client=shared_http_client(),
    )


# -- validating -------------------------------------------------------------------------------


def _validate(ctx: AppContext, command: c.Validate) -> Any:
    from shared.data_store.layout import check_point_id
    from shared.data_store.point_units import PointUnits
    from shared.dataverse import DataverseClient

    target = ctx.platform.get_environment(command.target_environment_id)
    store = store_for(ctx)
    source = command.source_environment_id
    if command.point_id is not None:
        check_point_id(command.point_id)
        if not store.is_complete(source, command.point_id):
            return c.NoPoint(
                f"Environment {source} has no complete data backup point {command.point_id}; "
                f"`ppbackup data points {source}` lists the points kept."
            )
        point_id = command.point_id
    else:
        found = _point_at(ctx, command)
        if found is None:
            return c.NoPoint(
                f"Environment {source} has no complete data backup point at or before "
                f"{command.at:%Y-%m-%d %H:%M:%S %Z}; `ppbackup data points {source}` lists them."
            )
        point_id = found
    manifest = store.manifest(source, point_id)
    with DataverseClient.from_settings(ctx.settings, target) as client:
        infos = list(client.tables())
        hint = client.recommended_concurrency
    known = {info.logical_name for info in infos}
    intersect = tuple(sorted(info.logical_name for info in infos
                             if info.is_intersect and info.logical_name in command.tables))
    units = PointUnits(store, source, point_id)
    in_target = {t: units.count(t) for t in manifest.tables if t in known}
    api_url = target.instance_api_url or target.instance_url or ""
    return c.Validated(
        target, api_url, target.instance_url or api_url, point_id, manifest.point_time,
        in_target, tuple(sorted(t for t in manifest.tables if t not in known)), hint,
        intersect,
    )


def _point_at(ctx: AppContext, command: c.Validate) -> str | None:
    """The newest point at or before `at` that holds every table asked for (else the newest at
    or before it: validating then names the tables it lacks)."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        listed = store_for(ctx).list_points(
            command.source_environment_id, policy=ctx.settings.data_backup_retention,
            now=ctx.clock())
    except ResourceNotFoundError:  # the container itself: no data backup was ever taken there
        return None
    entries = [e for e in listed if command.at is not None and e.point_time <= command.at]
    for entry in entries:
        if all(t in entry.tables for t in command.tables):
            return entry.point_id
    return entries[0].point_id if entries else None


# -- the target's metadata ---------------------------------------------------------------------


def _schema(client: DataverseClient, tables: Iterable[str]) -> tuple[Schema, dict[str, TableInfo]]:
    """The shapes of `tables` in the target, and every table's info (entity sets and primary
    ids of the tables a lookup may point to)."""
    infos = {info.logical_name: info for info in client.tables()}
    shapes = {}
    for table in sorted(set(tables)):
        if table in infos:
            shapes[table] = TableShape(infos[table], tuple(client.columns(table)),
                                       tuple(client.lookup_relationships(table)))
    entity_sets = {name: info.entity_set for name, info in infos.items() if info.entity_set}
    return Schema(shapes, entity_sets), infos


def _gone(
    ctx: AppContext, operation_id: str, tables: Iterable[str], schema: Schema
) -> Refused | None:
    """A table validating found in the target that is no longer there (its solution was
    uninstalled, or it was deleted, since): the restore cannot go on as asked."""
    gone = sorted(set(tables) - set(schema.tables))
    if not gone:
        return None
    # Read only on this path: the record names the target (the commands carry its URLs only).
    target = ctx.history.get(operation_id).operation.environment_id
    names = ", ".join(gone)
    return Refused("TableNotFound", (
        f"Table {names} no longer exists in environment {target}: it was there when the "
        "restore was validated, and was deleted (or its solution uninstalled) since. Install "
        f"it in the target again and ask for the restore again, or ask without {names}."
    ))


def _each(jobs: tuple[Job, ...], work: Callable[[Job], Any]) -> tuple[Any, ...]:
    """Run the jobs at once; a job's platform fault is its answer, the others go on."""

    def one(job: Job) -> Any:
        try:
            return work(job)
        except errors.PowerPlatformError as error:
            return fault_answer(error)

    if len(jobs) == 1:
        return (one(jobs[0]),)
    with ThreadPoolExecutor(len(jobs)) as pool:
        return tuple(pool.map(one, jobs))


# -- planning ---------------------------------------------------------------------------------


def _diff(
    ctx: AppContext, client: DataverseClient, files: RestoreFiles, command: c.DiffJobs,
    operation_id: str,
) -> c.Diffed:
    from shared.data_store.point_units import PointUnits
    from shared.dataverse import rows_by_ids

    schema, _ = _schema(client, {j.table for j in command.jobs})
    gone = _gone(ctx, operation_id, (j.table for j in command.jobs), schema)
    if gone is not None:
        return c.Diffed((gone,))
    units = PointUnits(store_for(ctx), command.source_environment_id, command.point_id)
    walk = files.related() if any(j.narrow == RELATED for j in command.jobs) else None
    asked = {norm(i) for i in command.record_ids or ()}

    def narrow(job: Job) -> set[str] | None:
        if job.narrow == IDS:
            return asked
        if job.narrow == RELATED:
            found = walk[1].get(job.table, set()) if walk else set()
            return found - asked
        return None

    def diff(job: Job) -> c.JobDiffed:
        shape = schema.tables[job.table]
        only = narrow(job)
        rows = (r for r in units.rows(job.table, job.unit)
                if only is None or norm(str(r[shape.id_column])) in only)
        unchanged = matched = 0
        kept = []
        # A slice at a time: a job holds SLICE point rows and their target rows, not a whole
        # stored file of each (eight jobs at once held 80,000 rows, ~350 MiB).
        while chunk := list(islice(rows, SLICE)):
            matched += len(chunk)
            ids = [norm(str(r[shape.id_column])) for r in chunk]
            targets = rows_by_ids(client, shape.info.entity_set or "", shape.id_column, ids)
            for plan in plan_rows(shape, schema, chunk, targets, mode=command.mode):  # type: ignore[arg-type]
                if plan.action == "unchanged":
                    unchanged += 1
                else:
                    kept.append(plan.to_json())
        files.put_plan_chunk(job.table, f"{job.narrow}-{job.unit:06d}", kept)
        return c.JobDiffed(unchanged, len(kept), matched)

    return c.Diffed(_each(command.jobs, diff))


def _relate(
    ctx: AppContext, client: DataverseClient, files: RestoreFiles, command: c.RelateJobs
) -> c.Related:
    from shared.data_store.point_units import PointUnits

    walk = files.related()
    if walk is None:
        seed: dict[str, set[str]] = defaultdict(set)
        if command.record_ids is not None:
            for table in command.tables:
                seed[table] = {norm(i) for i in command.record_ids}
        else:
            for row in files.plan_rows():
                if row["action"] in ("create", "update"):
                    seed[row["table"]].add(row["id"])
        walk = (dict(seed), {})
    seed_ids, found = walk
    chosen: dict[str, set[str]] = defaultdict(set)
    for ids in (seed_ids, found):
        for table, values in ids.items():
            chosen[table] |= values
    schema, _ = _schema(client, {j.table for j in command.jobs})
    units = PointUnits(store_for(ctx), command.source_environment_id, command.point_id)
    with ThreadPoolExecutor(max(1, len(command.jobs))) as pool:
        chunks = list(pool.map(lambda job: list(units.rows(job.table, job.unit)), command.jobs))
    for job, rows in zip(command.jobs, chunks, strict=True):
        shape = schema.tables.get(job.table)
        if shape is None:
            continue
        for row in rows:
            record_id = norm(str(row[shape.id_column]))
            if record_id not in chosen[job.table] and referencing(row, schema, job.table, chosen):
                chosen[job.table].add(record_id)
                found.setdefault(job.table, set()).add(record_id)
    files.put_related(seed_ids, found)
    return c.Related({t: len(v) for t, v in found.items()})


# -- settling ---------------------------------------------------------------------------------


def _settle(
    ctx: AppContext, client: DataverseClient, files: RestoreFiles, command: c.Settle,
    operation_id: str,
) -> c.Settled | c.PlanTooLarge | Refused:
    from data_restores.apply_order import table_order
    from shared.dataverse import in_recycle_bin, rows_by_ids

    counts = files.plan_counts()
    if sum(counts.values()) > command.max_rows:
        return c.PlanTooLarge(counts, command.max_rows)
    target = None
    if command.target_environment_id is not None:
        target = ctx.platform.get_environment(command.target_environment_id)
    if command.apply:
        existing = files.layout()
        if existing is not None:
            # Laid out before, by this step run before or at once (its writes may be under way):
            # the target has changed since, so laying it out again would not give the same.
            return _settled(existing, target)
    rows = [RowPlan.from_json(r) for r in files.plan_rows()]
    schema, infos = _schema(client, {p.table for p in rows})
    gone = _gone(ctx, operation_id, (p.table for p in rows), schema)
    if gone is not None:
        return gone
    creating = {(p.table, p.record_id) for p in rows if p.action == "create"}
    wanted: dict[str, set[str]] = defaultdict(set)
    for plan in rows:
        for ref in plan.references:
            if ref.record_id is not None and (ref.target, ref.record_id) not in creating:
                wanted[ref.target].add(ref.record_id)
    present: set[tuple[str, str]] = set()
    for table, ids in wanted.items():
        info = infos.get(table)
        if info is not None and info.entity_set:
            found = rows_by_ids(client, info.entity_set, info.primary_id, ids)
            present |= {(table, i) for i in found}
    settled = settle(rows, schema, lambda table, record_id: (table, record_id) in present)
    # An apply's files are its run's until it names its layout (`RestoreFiles.put_layout`).
    run = uuid.uuid4().hex[:16] if command.apply else None
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for plan in settled:
        by_table[plan.table].append(plan.to_json())
    for table, plans in by_table.items():
        files.put_diff(table, plans, run=run)
    counts = tally((p.table, p.action) for p in settled)
    if not command.apply:
        return c.Settled(counts)
    in_bin: set[tuple[str, str]] = set()
    to_create: dict[str, list[str]] = defaultdict(list)
    for plan in settled:
        if plan.action == "create":
            to_create[plan.table].append(plan.record_id)
    for table in table_order(to_create, ()):
        shape = schema.tables[table]
        binned = in_recycle_bin(client, shape.info.entity_set or "", table, shape.id_column,
                                to_create[table])
        in_bin |= {(table, i) for i in binned}
    stages = write_stages(settled, schema, batch_size=command.batch_size, in_bin=in_bin)
    laid_out: list[list[Any]] = []
    with ThreadPoolExecutor(8) as pool:
        for number, stage in enumerate(stages):
            shape = schema.tables[stage.table]
            # The batches first, the stage that names them last: a stage readable means all of
            # its batches are (settling run again rewrites the same names).
            list(pool.map(lambda nb, n=number: files.put_batch(n, nb[0], [
                w.to_json() for w in nb[1]], run=run), enumerate(stage.batches)))
            files.put_stage(number, {
                "pass": stage.pass_name, "table": stage.table,
                "entitySet": shape.info.entity_set, "idColumn": shape.id_column,
                "batches": len(stage.batches),
            }, run=run)
            laid_out.append([stage.pass_name, stage.table, len(stage.batches)])
    # Named last, once every file it names is written; a run that comes second adopts the
    # first's (its own files are never read).
    held = files.put_layout({"run": run, "counts": counts, "stages": laid_out})
    return _settled(held, target)


def _settled(layout: Mapping[str, Any], target: Any) -> c.Settled:
    stages = tuple(c.StagePlan(str(p), str(t), int(b)) for p, t, b in layout["stages"])
    return c.Settled(layout["counts"], stages, target)


# -- applying ---------------------------------------------------------------------------------


def _apply(
    ctx: AppContext, client: DataverseClient, files: RestoreFiles, command: c.ApplyJobs,
    operation_id: str,
) -> c.Applied | c.WritesHeld:
    if not command.jobs:
        return c.Applied(())
    if command.guard is not None:
        held = _held(ctx, command.guard)
        if held is not None:
            return held
    stage = files.stage(command.jobs[0].unit)
    pass_name = str(stage["pass"])
    skip: frozenset[str] = frozenset()
    restored: Mapping[str, str] = {}
    if pass_name != BIN:
        # A row whose write of an earlier pass conflicted or failed gets no later writes: a
        # person's change stays as it is, a row never created is not written into, and a row
        # counted failed once is not counted failed again.
        skip = _refused_before(store_for(ctx), operation_id, pass_name)
    if pass_name == FIRST_PASS:
        restored = _restored(store_for(ctx), operation_id)

    def send(job: Job) -> c.BatchApplied:
        writes = [Write.from_json(w) for w in files.batch(job.unit, job.batch)]
        if pass_name == BIN:
            return _from_bin(client, files, stage, job, writes)
        writes = [_conditioned(w, restored) for w in writes if w.record_id not in skip]
        return _write(client, files, stage, job, writes, pass_name)

    return c.Applied(_each(command.jobs, send))


def _held(ctx: AppContext, guard: c.Guard) -> c.WritesHeld | None:
    """The guardrail on the target as it is now (checked at validating and settling too)."""
    from restore_orchestrator.checks import write_guardrail

    problem = write_guardrail(ctx.platform.get_environment(guard.environment_id),
                              guard.confirm_production, guard.allow_production)
    return None if problem is None else c.WritesHeld(problem.code, problem.message)


@functools.lru_cache(maxsize=8)
def _refused_before(store: DataStore, operation_id: str, pass_name: str) -> frozenset[str]:
    """The rows whose write of a pass before `pass_name` conflicted or failed. Asked only once
    those passes are over (the stages run in order), so the answer never changes: a process
    reads the outcomes once per pass of a restore, not once per step (a step of a large restore
    read them all, megabytes where many rows conflicted). Kept for a few restores only: an
    answer is as large as the rows refused."""
    from shared.data_store.restore_files import RestoreFiles

    earlier = ORDER[: ORDER.index(pass_name)]
    return frozenset(i for outcome in RestoreFiles(store, operation_id).outcomes()
                     for i, o in outcome.items()
                     if o.get("pass") in earlier and o.get("action") in REFUSED)


@functools.lru_cache(maxsize=4)
def _restored(store: DataStore, operation_id: str) -> Mapping[str, str]:
    """The rows the bin stages brought back, with their ETags right after. Asked only once they
    are over (they run before every pass), so a process reads them once per restore."""
    from shared.data_store.restore_files import RestoreFiles

    return MappingProxyType(RestoreFiles(store, operation_id).restored())  # shared: read-only


def _conditioned(write: Write, restored: Mapping[str, str]) -> Write:
    """A bin row's first write made conditional on what the bin stage brought back: the row as
    the Restore left it (a person's edit since is a 412, a conflict), or a create where the
    Restore brought nothing back (a row a person made since is a 412, never overwritten)."""
    if not write.from_bin:
        return write
    etag = restored.get(write.record_id)
    headers = {"If-Match": etag} if etag else {"If-None-Match": "*"}
    return replace(write, headers=headers)


# What a Restore changes in a row beside the bin's copy: its version and modification stamp.
RESTAMPED = frozenset({"versionnumber", "modifiedon", "modifiedby", "modifiedonbehalfby"})


def _as_held(row: Mapping[str, Any], held: Mapping[str, Any] | None) -> bool:
    """Whether a row now has exactly the content the recycle bin held of it (the documented
    rule: a refused Restore of such a row may be ours, sent before and its answer lost)."""
    if held is None:
        return False
    keys = {k for k in (*row, *held) if "@" not in k and k not in RESTAMPED}
    return all(row.get(k) == held.get(k) or (_is_lookup(k) and row.get(k) is None)
               for k in keys)


def _is_lookup(key: str) -> bool:
    # The Restore leaves empty a lookup to a row that is not there (a parent still in the bin).
    return key.startswith("_") and key.endswith("_value")


def _from_bin(
    client: DataverseClient, files: RestoreFiles, stage: Mapping[str, Any], job: Job,
    writes: list[Write],
) -> c.BatchApplied:
    """The platform's Restore of the rows its recycle bin holds, and the ETag of each row it
    brought back (the condition of the row's first write). The bin's copies are kept before the
    first send: a refused row that exists now with exactly that content was restored by this
    batch sent before (its answer lost with a crash). A refused row that exists with other
    content was put back by someone else since the plan: a conflict, left as it is. A row that
    does not exist is noted and written from the backup by a create in the next pass."""
    from shared.dataverse import bin_rows, restore_deleted, rows_by_ids

    sent = files.bin_sent(job.unit, job.batch)
    if sent is not None:
        # Sent before to its end (its checkpoint lost, or this is a late duplicate): what it
        # recorded stands. Judged again now, a row it brought back that the next pass already
        # gave its point values would no longer look as the bin held it: a false conflict,
        # and its later writes skipped.
        conflicts = sum(1 for o in sent[1].values() if o.get("action") == "conflict")
        return c.BatchApplied({str(stage["table"]): {"conflict": conflicts}} if conflicts else {})
    entity_set, id_column = str(stage["entitySet"]), str(stage["idColumn"])
    ids = [w.record_id for w in writes]
    held = files.bin_held(job.unit, job.batch)
    if held is None:
        held = {i: dict(r) for i, r in
                bin_rows(client, entity_set, str(stage["table"]), id_column, ids).items()}
        files.put_bin_held(job.unit, job.batch, held)
    outcomes = restore_deleted(client, entity_set, ids)
    there = rows_by_ids(client, entity_set, id_column, ids)
    etags: dict[str, str] = {}
    notes: dict[str, dict[str, Any]] = {}
    conflicts = 0
    for record_id in ids:
        outcome, row = outcomes.get(record_id), there.get(record_id)
        ours = outcome is not None and outcome.ok
        if row is None:
            if not ours:
                said = f"{outcome.error_code}: {outcome.message}" if outcome else "no answer"
                notes[record_id] = {
                    "table": stage["table"], "pass": BIN, "action": "fromBackup",
                    "message": f"Not restored from the recycle bin ({said}); written from the "
                               "backup instead."}
        elif ours or _as_held(row, held.get(record_id)):
            etags[record_id] = str(row.get(ETAG) or "")
        else:
            conflicts += 1
            notes[record_id] = {
                "table": stage["table"], "pass": BIN, "action": "conflict",
                "message": "The row was put back in the target after the plan was made, with "
                           "other values than the recycle bin held; left as it is."}
    files.put_restored(job.unit, job.batch, etags)
    # Written even when empty: a batch sent again replaces what an earlier send recorded.
    files.put_outcomes(job.unit, job.batch, notes)
    # A row counts once: by its first write, or here as a conflict when it gets none.
    return c.BatchApplied({str(stage["table"]): {"conflict": conflicts}} if conflicts else {})


def _write(
    client: DataverseClient, files: RestoreFiles, stage: Mapping[str, Any], job: Job,
    writes: list[Write], pass_name: str,
) -> c.BatchApplied:
    from shared.dataverse import BatchRequest, write_batch

    answers = write_batch(client, [
        BatchRequest("PATCH", w.url, w.body, w.headers) for w in writes
    ])
    throttled = [a for a in answers if a.status == 429]
    if throttled:
        # Parts refused by service protection must be sent again, not counted as failed: the
        # whole batch goes again after the wait (the parts that ran answer 412 then, and are
        # recognised as ours), so nothing of this answer is counted.
        waits = [a.retry_after for a in throttled if a.retry_after is not None]
        raise errors.Throttled(
            f"{len(throttled)} of {len(answers)} writes were throttled",
            status=429, retry_after=max(waits) if waits else None,
        )
    counts: dict[str, int] = defaultdict(int)
    problems: dict[str, dict[str, Any]] = {}
    refused: list[Write] = []
    for write, answer in zip(writes, answers, strict=True):
        first = write.first
        if answer.ok:
            if first:
                counts[write.action] += 1
        elif first and answer.status == 412:
            refused.append(write)  # changed since the plan, or our own earlier write: look
        else:
            message = f"{answer.status} {answer.error_code or ''}: {answer.message}".strip()
            if answer.status == 404 and write.action == "update":
                message = "The row was deleted from the target after the plan was made."
            problems[write.record_id] = {"table": write.table, "pass": pass_name,
                                         "action": "failed", "message": message}
            counts["failed"] += 1
            if not first:
                counts[write.action] -= 1  # its first write counted it as written
    if refused:
        from shared.dataverse import rows_by_ids

        now = rows_by_ids(client, str(stage["entitySet"]), str(stage["idColumn"]),
                          [w.record_id for w in refused])
        for write in refused:
            row = now.get(write.record_id)
            if row is not None and _holds(row, write.body):
                counts[write.action] += 1  # our own write, sent again after a lost answer
            else:
                counts["conflict"] += 1
                problems[write.record_id] = {
                    "table": write.table, "pass": pass_name, "action": "conflict",
                    "message": (
                        "A row with this id exists in the target with other values."
                        if write.action == "create" else
                        "The row changed in the target after the plan was made; left as it is."
                    ),
                }
    # Written even when empty: a batch sent again (a crash before the checkpoint, or a sibling
    # batch throttled) replaces what its earlier send recorded, so a row that failed then and
    # was written now is neither skipped by the later passes nor shown as failed.
    files.put_outcomes(job.unit, job.batch, problems)
    return c.BatchApplied({str(stage["table"]): dict(counts)} if counts else {})


BIND = "@odata.bind"
# The annotation a row read carries on each lookup that is set: the navigation property a bind
# writes it through (`_parentcustomerid_value@...` -> `parentcustomerid_account`).
NAVIGATION = "@Microsoft.Dynamics.CRM.associatednavigationproperty"


def _holds(row: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """Whether the row already has every value of a write: its plain values, and each lookup it
    binds pointing where the bind points (or unset, for a bind to null). A write of lookups
    alone must be compared too: else a row a person edited since the plan would pass for our
    own write sent again, and its lookups would be counted as put back without being written."""
    linked = {str(v): str(row.get(k[: -len(NAVIGATION)]) or "").lower()
              for k, v in row.items() if k.endswith(NAVIGATION)}
    for key, value in body.items():
        if key.endswith(BIND):
            wanted = None if value is None else str(value).rsplit("(", 1)[-1].rstrip(")").lower()
            if linked.get(key[: -len(BIND)]) != wanted:
                return False
        elif "@" not in key and row.get(key) != value:
            return False
    return True
