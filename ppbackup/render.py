"""Human-readable output for the CLI: tables and operation timelines, drawn with rich.

rich lays the tables out (column widths, clipping, the terminal's width) and draws `--follow`'s
live view (ppbackup/follow.py); no ANSI code is written by hand. It is a CLI-only library: the
function app never imports `ppbackup`, so rich never loads there (tests/contract checks it).
Markup and emoji codes are off: labels, notes and platform text are data, printed as given.
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
    console(file).print(renderable)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, max_width: int = 48
) -> Table:
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for header in headers:
        grid.add_column(header, no_wrap=True, overflow="ellipsis", max_width=max_width)
    for row in rows:
        grid.add_row(*(str(cell) for cell in row))
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
    header = Text("\n".join(lines))
    steps = record.get("steps") or []
    if len(steps) > 1 or (steps and steps[0].get("detail")):
        timeline = Padding(steps_table(steps, now=now), (0, 0, 0, 4), expand=False)
        return Group(header, Text("  steps:"), timeline)
    return header


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
            _MARKS.get(status, "[?]"), str(step["name"]), status, step_took(step, now=now),
            str(step.get("detail") or ""), style=_STYLES.get(status),
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
