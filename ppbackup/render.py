"""Human-readable output for the CLI: tables and operation timelines, drawn with rich.

rich lays the tables out (column widths, clipping, the terminal's width) and draws `--follow`'s
live view (ppbackup/follow.py); no ANSI code is written by hand. It is a CLI-only library: the
function app never imports `ppbackup`, so rich never loads there (tests/contract checks it).
Markup and emoji codes are off: labels, notes and platform text are data, never markup. Data
reaches the terminal through `shown`: it reads as it is stored, and it never drives the terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from shared.inputs import readable
from shared.operations import parse_time

# Where the output is not a terminal (a pipe, a log), lines are not folded to 80 columns: a table
# row stays one line, as scripts that grep it expect.
UNFOLDED_WIDTH = 1000


def console(file: TextIO | None = None, *, terminal: bool | None = None) -> Console:
    """The CLI's console on `file` (stdout by default): data printed as given, never as markup."""
    out = file or sys.stdout
    live = out.isatty() if terminal is None else terminal
    return Console(
        file=out, force_terminal=live, width=None if live else UNFOLDED_WIDTH,
        markup=False, emoji=False, highlight=False,
    )


def show(renderable: RenderableType, file: TextIO | None = None) -> None:
    console(file).print(shown(renderable) if isinstance(renderable, str) else renderable)


def shown(value: object) -> str:
    """Text from the platform, a Dataverse row or a person, as a terminal should print it: each
    line as the status page and the cards show it (`shared.inputs.readable`). An environment's
    name, a label or a step's error message is written by whoever can edit it; an escape
    character in it would drive the operator's terminal (rich passes ESC sequences through), and
    an override character would make it read as something else. Line breaks are kept."""
    return "\n".join(readable(line) for line in str(value).split("\n"))


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, max_width: int = 48
) -> Table:
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for header in headers:
        grid.add_column(header, no_wrap=True, overflow="ellipsis", max_width=max_width)
    for row in rows:
        grid.add_row(*(shown(cell) for cell in row))
    return grid


def history_table(records: Sequence[Mapping[str, Any]]) -> RenderableType:
    if not records:
        return "No operations recorded yet."
    rows = [
        [
            r["operationId"],
            r["kind"],
            r["status"],
            r.get("environmentName") or r.get("environmentId") or "-",
            r.get("label") or _short_time(r.get("restorePointDateTime")) or "-",
            _short_time(r.get("backupPointDateTime")) or "-",
            _short_time(r.get("backupExpiryDateTime")) or "-",
            r.get("requestedBy") or "-",
            duration(r.get("durationSeconds")),
        ]
        for r in records
    ]
    return table(
        [
            "OPERATION",
            "KIND",
            "STATUS",
            "ENVIRONMENT",
            "LABEL",
            "BACKUP POINT",
            "EXPIRES",
            "REQUESTED BY",
            "DURATION",
        ],
        rows,
    )


def backups_table(
    environment_id: str, backups: Sequence[Mapping[str, Any]]
) -> RenderableType:
    """`ppbackup backups`: one line per backup, newest first, the ledger's facts beside the
    platform's; where the ledger's label was edited, both labels show."""
    if not backups:
        return f"The platform holds no backups of {environment_id}."
    rows = []
    for b in backups:
        ledger = b.get("operation") or {}
        label = b.get("label") or ("(system)" if b["kind"] == "system" else "-")
        if b.get("labelDiffers"):
            label = f"{label} (ledger: {ledger.get('label') or '-'})"
        rows.append([
            b["kind"],
            label,
            _short_time(b.get("backupPointDateTime")) or "-",
            _short_time(b.get("backupExpiryDateTime")) or "-",
            "yes" if b.get("restorable") else f"from {_short_time(b.get('restorableFrom'))}",
            ledger.get("operationId") or "-",
            ledger.get("requestedBy") or "-",
            " ".join(str(ledger.get("notes") or "-").split()),
            b["backupId"],
        ])
    return table(
        ["KIND", "LABEL", "BACKUP POINT", "EXPIRES", "RESTORABLE", "OPERATION", "REQUESTED BY",
         "NOTES", "BACKUP ID"],
        rows, max_width=40,
    )


def operation_detail(
    record: Mapping[str, Any], *, now: datetime | None = None
) -> RenderableType:
    """The record as a person reads it: header facts, then the step timeline."""
    now = now or datetime.now(UTC)
    lines = [
        f"{record['kind'].replace('_', ' ').capitalize()} {record['operationId']}: "
        f"{record['status']}",
        (
            f"  environment   {record.get('environmentName') or ''} "
            f"{record.get('environmentId') or '-'}"
        ).rstrip(),
    ]
    facts = [
        ("source", record.get("sourceEnvironmentId")),
        ("label", record.get("label")),
        ("notes", record.get("notes")),
        ("backup id", record.get("backupId")),
        ("backup point", record.get("backupPointDateTime")),
        ("expires", record.get("backupExpiryDateTime")),
        ("restore point", record.get("restorePointDateTime")),
        ("data point", record.get("pointId")),
        ("point time", record.get("pointTime")),
        ("requested by", record.get("requestedBy")),
        ("reason", record.get("reason")),
        ("request id", record.get("requestId")),
        ("created", record.get("createdAt")),
        ("ended", record.get("endedAt")),
    ]
    lines += [f"  {name:<13} {value}" for name, value in facts if value]
    started = parse_time(record.get("createdAt"))
    if record.get("durationSeconds") is not None:
        lines.append(f"  {'duration':<13} {duration(record['durationSeconds'])}")
    elif started is not None:
        lines.append(f"  {'elapsed':<13} {duration((now - started).total_seconds())}")
    error = record.get("error")
    if error:
        lines.append(f"  {'error':<13} {error.get('code')}: {error.get('message')}")
    edits = (record.get("options") or {}).get("annotations") or []
    if edits:
        lines.append("  edits:")
        for edit in edits:
            changed = ", ".join(
                f"{name} {change.get('from')!r} -> {change.get('to')!r}"
                for name, change in (edit.get("changes") or {}).items()
            )
            lines.append(f"    {_short_time(edit.get('at')) or '-'} by {edit.get('by')}: {changed}")
    parts: list[RenderableType] = [Text(shown("\n".join(lines)))]
    steps = record.get("steps") or []
    if len(steps) > 1 or (steps and steps[0].get("detail")):
        parts += [Text("  steps:"),
                  Padding(steps_table(steps, now=now), (0, 0, 0, 4), expand=False)]
    if record.get("kind") == "data_restore":  # rows per table and action, planned and written
        for title, summary in restore_summaries(record):
            parts += [Text(f"  {title}:"),
                      Padding(restore_counts(summary), (0, 0, 0, 4), expand=False)]
    elif record.get("tables"):  # a data backup: rows per table as they are read
        parts += [Text("  tables:"),
                  Padding(data_tables(record["tables"]), (0, 0, 0, 4), expand=False)]
    return Group(*parts) if len(parts) > 1 else parts[0]


_MARKS = {
    "Pending": "[ ]",
    "Running": "[>]",
    "Succeeded": "[x]",
    "Failed": "[!]",
    "Skipped": "[-]",
}
_STYLES = {"Running": "cyan", "Succeeded": "green", "Failed": "red", "Skipped": "dim"}


def steps_table(steps: Sequence[Mapping[str, Any]], *, now: datetime) -> Table:
    """The step timeline: mark, step, status, time taken (or elapsed so far), the step's detail."""
    grid = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
    grid.add_column("mark")
    grid.add_column("step", min_width=21)
    grid.add_column("status", min_width=9)
    grid.add_column("took", justify="right", min_width=14)
    grid.add_column("detail")
    for step in steps:
        status = str(step.get("status", "Pending"))
        grid.add_row(
            _MARKS.get(status, "[?]"), shown(step["name"]), shown(status),
            step_took(step, now=now), shown(step.get("detail") or ""),
            style=_STYLES.get(status),
        )
    return grid


def step_took(step: Mapping[str, Any], *, now: datetime) -> str:
    started = parse_time(step.get("startedAt"))
    ended = parse_time(step.get("endedAt"))
    if started and ended:
        return duration((ended - started).total_seconds())
    if started:
        return duration((now - started).total_seconds()) + " so far"
    return ""


def duration(seconds: object) -> str:
    if seconds is None:
        return "-"
    total = float(seconds)  # type: ignore[arg-type]
    if total < 60:
        return f"{total:.1f}s"
    minutes, secs = divmod(int(total), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def _short_time(value: object) -> str | None:
    moment = parse_time(value)
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def points_table(
    environment_id: str, points: Sequence[Mapping[str, Any]], *, only: str | None = None
) -> RenderableType:
    """`ppbackup data points`: one line per complete point, newest first, with its expiry."""
    if not points:
        held = f" holding {only}" if only else ""
        return f"No data backup point{held} of {environment_id} yet."
    rows = []
    for p in points:
        tables = p.get("tables") or []
        counted = [t for t in tables if only is None or t["table"] == only]
        rows.append([
            _short_time(p.get("pointTime")) or "-",
            p.get("label") or "-",
            str(len(tables)),
            # An incremental table's count may be unknown: then no total rather than a wrong one.
            _count(None if any(t.get("rows") is None for t in counted)
                   else sum(t["rows"] for t in counted)),
            ", ".join(f"{t['table']} {_count(t.get('rows'))} {t['mode']}" for t in counted),
            _short_time(p.get("expiresAt")) or "-",
            p["pointId"],
        ])
    return table(["POINT TIME", "LABEL", "TABLES", "ROWS", "PER TABLE", "EXPIRES", "POINT"],
                 rows, max_width=60)


def record_history(document: Mapping[str, Any]) -> RenderableType:
    """`ppbackup data record`: a record's versions, newest first, each with what changed since
    the version before it (annotations such as @odata.etag left out: they change every write)."""
    versions = document.get("versions") or []
    title = f"{document['table']} {document['recordId']} in {document['environmentId']}"
    if not versions:
        return f"No data backup point holds {title}."
    rows = []
    for newer, older in zip(versions, [*versions[1:], None], strict=True):
        rows.append([
            _short_time(newer.get("pointTime")) or "-",
            newer["state"],
            _changes(older.get("row") if older else None, newer.get("row"),
                     first=older is None),
            newer["pointId"],
        ])
    count = f"{len(versions)} version{'s' if len(versions) != 1 else ''}"
    return Group(Text(shown(f"{title}: {count}, newest first")),
                 table(["POINT TIME", "STATE", "CHANGES", "POINT"], rows, max_width=100))


def _changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *,
             first: bool) -> str:
    if after is None:
        return "deleted"
    columns = [c for c in after if "@" not in c]
    if first or before is None:
        values = [f"{c}={after[c]!r}" for c in columns if after[c] is not None]
        return ("first seen: " if first else "back: ") + ", ".join(values)
    changed = [f"{c}: {before.get(c)!r} -> {after[c]!r}" for c in columns
               if before.get(c) != after[c]]
    gone = [f"{c} removed" for c in before if "@" not in c and c not in after]
    return ", ".join(changed + gone) or "no column changed"


def data_tables(tables: Sequence[Mapping[str, Any]]) -> Table:
    """A data backup's tables as they are read: rows so far, changed, deleted, status."""
    grid = Table(box=None, show_header=True, pad_edge=False, padding=(0, 1))
    for header, right in (("table", False), ("mode", False), ("rows", True), ("changed", True),
                          ("deleted", True), ("status", False), ("detail", False)):
        grid.add_column(header, justify="right" if right else "left")
    for t in tables:
        status = str(t.get("status") or "Pending")
        grid.add_row(
            shown(t["table"]), shown(t.get("mode") or "-"), _count(t.get("rows")),
            _count(t.get("changed")), _count(t.get("deleted")), shown(status),
            shown(t.get("detail") or ""), style=_STYLES.get(status),
        )
    return grid


def _count(value: object) -> str:
    return "-" if value is None else f"{int(value):,}"  # type: ignore[call-overload]


# ----------------------------------------------------------------------------- record restores

RESTORE_ACTIONS = ("create", "update", "unchanged", "conflict", "failed", "notRestorable")


def restore_summaries(record: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """A record restore's counts worth showing: the plan (a dry run's result, an apply's
    intent), then what was written, once writing began."""
    summaries: list[tuple[str, Mapping[str, Any]]] = []
    dry_run = bool((record.get("options") or {}).get("dryRun"))
    plan, applied = record.get("plan") or {}, record.get("applied") or {}
    if plan.get("tables"):
        summaries.append(("plan (dry run: nothing written)" if dry_run else "plan", plan))
    if not dry_run and applied.get("tables"):
        summaries.append(("written", applied))
    return summaries


def restore_counts(summary: Mapping[str, Any]) -> Table:
    """COUNTS per table (contract section 10), and the total when there is more than one."""
    grid = Table(box=None, show_header=True, pad_edge=False, padding=(0, 1))
    grid.add_column("table")
    for action in RESTORE_ACTIONS:
        grid.add_column(action, justify="right")
    tables: Mapping[str, Any] = summary.get("tables") or {}
    rows = list(tables.items())
    if len(rows) > 1:
        rows.append(("total", summary.get("total") or {}))
    for name, counts in rows:
        trouble = any(counts.get(a) for a in ("conflict", "failed", "notRestorable"))
        grid.add_row(shown(name), *(_count(counts.get(a, 0)) for a in RESTORE_ACTIONS),
                     style="yellow" if trouble else None)
    return grid


def diff_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """`ppbackup data diff`: rows of a record restore's plan as a person reads them: what
    happens to each, and the columns it gets back (the value now -> the value at the point)."""
    lines = [[str(r.get("table")), str(r.get("id")), _action(r), restore_changes(r)]
             for r in rows]
    return table(["TABLE", "ID", "ACTION", "CHANGES"], lines, max_width=120)


def diff_summary(operation_id: str, count: int) -> str:
    if not count:
        return (f"{operation_id} has no planned rows yet (the plan is written when the plan "
                "step ends), or its plan changes no row.")
    return f"{operation_id}: {count:,} row(s)"


def _action(row: Mapping[str, Any]) -> str:
    outcome = row.get("outcome") or {}
    applied = outcome.get("action")
    return f"{row.get('action')} -> {applied}" if applied else str(row.get("action"))


def restore_changes(row: Mapping[str, Any]) -> str:
    """One planned row's difference in one line (a --json line carries it whole)."""
    before: Mapping[str, Any] = row.get("before") or {}
    parts: list[str] = []
    creating = row.get("action") == "create"
    for column, value in (row.get("values") or {}).items():
        parts.append(f"{column}={value!r}" if creating
                     else f"{column}: {before.get(column)!r} -> {value!r}")
    for column, target, record_id in row.get("references") or ():
        was = before.get(f"_{column}_value", before.get(column))
        point = f"{target} {record_id}"
        parts.append(f"{column}={point}" if creating else f"{column}: {was!r} -> {point}")
    state = row.get("state")
    if state:
        now = [before.get("statecode"), before.get("statuscode")]
        parts.append(f"state={state}" if creating else f"state: {now} -> {list(state)}")
    parts += [f"not restorable: {reason}" for reason in row.get("reasons") or ()]
    parts += [f"note: {note}" for note in row.get("notes") or ()]
    outcome = row.get("outcome") or {}
    if outcome.get("message"):
        parts.append(f"{outcome.get('action')}: {outcome['message']}")
    return "; ".join(parts) or "-"
