"""Human-readable output for the CLI: tables and operation timelines (stdlib only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.operations import parse_time


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, max_width: int = 48) -> str:
    cells = [[_clip(str(c), max_width) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(headers))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    return "\n".join([line.rstrip(), rule, *body])


def history_table(records: Sequence[Mapping[str, Any]]) -> str:
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


def backups_table(environment_id: str, backups: Sequence[Mapping[str, Any]]) -> str:
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


def operation_detail(record: Mapping[str, Any], *, now: datetime | None = None) -> str:
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
    steps = record.get("steps") or []
    if len(steps) > 1 or (steps and steps[0].get("detail")):
        lines.append("  steps:")
        for step in steps:
            lines.append("    " + step_line(step, now=now))
    return "\n".join(lines)


_MARKS = {
    "Pending": "[ ]",
    "Running": "[>]",
    "Succeeded": "[x]",
    "Failed": "[!]",
    "Skipped": "[-]",
}


def step_line(step: Mapping[str, Any], *, now: datetime) -> str:
    status = step.get("status", "Pending")
    started = parse_time(step.get("startedAt"))
    ended = parse_time(step.get("endedAt"))
    took = ""
    if started and ended:
        took = duration((ended - started).total_seconds())
    elif started:
        took = duration((now - started).total_seconds()) + " so far"
    detail = step.get("detail") or ""
    text = f"{_MARKS.get(status, '[?]')} {step['name']:<21} {status:<9} {took:>14}"
    return f"{text}  {detail}".rstrip()


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


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
