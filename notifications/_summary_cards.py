"""Card bodies for a backup round's summary and for the two alerts."""

from __future__ import annotations

from notifications import _elements as el
from notifications._parts import (
    ID_CHARS,
    Detail,
    advice_section,
    banner,
    env_text,
    footer,
    ident,
    opt,
)
from notifications.advice import (
    HISTORY_COMMAND,
    backup_expiring_steps,
    data_backup_overdue_steps,
    data_round_steps,
    round_steps,
    still_sandbox_steps,
)
from notifications.events import (
    BackupExpiringAlert,
    BackupRoundSummary,
    DataBackupOverdueAlert,
    NotificationEvent,
    StillSandboxAlert,
)
from notifications.text import format_duration, format_instant, inert


def round_body(event: BackupRoundSummary, d: Detail) -> list[el.Element]:
    failures = event.failures
    title, style = round_title(event)
    # Not "have a new point": a data backup whose point is complete without a table ends
    # Failed, and its point exists all the same.
    what = "had every table copied" if event.is_data else "were backed up"
    summary = f"{event.succeeded_count} of {event.total} environments {what}"
    if failures:
        summary += f", {len(failures)} failed"
    if event.pending_count:
        summary += f", {event.pending_count} still running"
    if event.is_data:
        summary += (f". {event.tables_count:,} tables, {event.rows_count:,} rows copied; "
                    f"{len(event.table_failures)} tables failed")
    data_facts = [("Tables copied", f"{event.tables_count:,}"), ("Rows", f"{event.rows_count:,}"),
                  ("Tables failed", str(len(event.table_failures)))] if event.is_data else []
    facts = [
        *data_facts,
        ("Scheduled for", format_instant(event.scheduled_for)),
        ("Started", format_instant(event.started_at)),
        ("Ended", format_instant(event.ended_at)),
        ("Duration", format_duration((event.ended_at - event.started_at).total_seconds())),
        ("Environments", str(event.total)),
        ("Succeeded", str(event.succeeded_count)),
        ("Failed", str(len(failures))),
        ("Still running", str(event.pending_count)),
        ("Round id", ident(event.round_id)),
    ]
    body = [banner(title, summary + ".", style), el.fact_set(facts)]
    if failures:
        shown = failures[: d.failures]
        body += [
            el.heading("Failed environments"),
            el.fact_set([
                (env_text(f.environment_name, f.environment_id, d),
                 f"{inert(f.message, d.item)} ({inert(f.environment_id, ID_CHARS)})")
                for f in shown
            ]),
        ]
        if len(failures) > len(shown):
            body.append(el.text_block(
                f"…and {len(failures) - len(shown)} more. See every result with: "
                f"{HISTORY_COMMAND}"
            ))
    tables = event.table_failures
    if tables:
        shown_tables = tables[: d.failures]
        body += [
            el.heading("Failed tables"),
            el.fact_set([
                (env_text(f.environment_name, f.environment_id, d), inert(f.message, d.item))
                for f in shown_tables
            ]),
        ]
        if len(tables) > len(shown_tables):
            body.append(el.text_block(
                f"…and {len(tables) - len(shown_tables)} more. See every table with: "
                "ppbackup history --kind data_backup"
            ))
    advice = (data_round_steps(len(failures), len(tables), event.pending_count) if event.is_data
              else round_steps(len(failures), event.pending_count))
    if event.total == 0:
        scope = "DATA_BACKUP_SCOPE" if event.is_data else "BACKUP_SCOPE"
        advice = (f"No environment matched {scope}, so nothing was backed up; check the "
                  "setting.",)
    body += advice_section(advice, d)
    body.append(footer(event))
    return body


def round_title(event: BackupRoundSummary) -> tuple[str, el.ContainerStyle]:
    failed = len(event.failed)
    name = "Data backup round" if event.is_data else "Backup round"
    if failed:
        return f"{name} finished — {failed} of {event.total} failed", "attention"
    if event.table_failures:
        return f"{name} finished — {len(event.table_failures)} tables failed", "attention"
    if event.pending_count:
        return f"{name} finished — {event.pending_count} still running", "warning"
    if event.total == 0:
        return f"{name} finished — nothing to back up", "warning"
    return f"{name} finished — all {event.total} succeeded", "good"


def still_sandbox_body(event: StillSandboxAlert, d: Detail) -> list[el.Element]:
    env = env_text(event.environment_name, event.environment_id, d)
    op = event.operation
    summary = (f"{env} was switched to Sandbox for a restore and is still a Sandbox "
               f"(since {format_instant(event.since)}). Backups older than 7 days are deleted "
               "while it is a Sandbox.")
    facts: list[tuple[str, str | None]] = [
        ("Environment", opt(event.environment_name, d.name)),
        ("Environment id", opt(event.environment_id, ID_CHARS)),
        ("Sandbox since", format_instant(event.since)),
        ("Reminder", str(event.reminder) if event.reminder else None),
        ("Restore status", op.status.value),
        ("Operation id", ident(op.operation_id)),
    ]
    advice = still_sandbox_steps(event.environment_name, event.environment_id, op.operation_id)
    return _alert(event, f"Still a Sandbox — {env}", summary, "attention", facts, advice, d)


def expiring_body(event: BackupExpiringAlert, d: Detail) -> list[el.Element]:
    env = env_text(event.environment_name, event.environment_id, d)
    expires = format_instant(event.expires_at)
    backup = (f"“{inert(event.backup_label, d.name)}”" if event.backup_label
              else inert(event.backup_id, ID_CHARS))
    facts: list[tuple[str, str | None]] = [
        ("Environment", opt(event.environment_name, d.name)),
        ("Environment id", opt(event.environment_id, ID_CHARS)),
        ("Backup label", opt(event.backup_label, d.name)),
        ("Backup id", opt(event.backup_id, ID_CHARS)),
        ("Expires", expires),
    ]
    advice = backup_expiring_steps(event.environment_name, event.environment_id, expires)
    summary = f"The backup {backup} of {env} expires at {expires}."
    return _alert(event, f"Backup expiring — {env}", summary, "warning", facts, advice, d)


def data_overdue_body(event: DataBackupOverdueAlert, d: Detail) -> list[el.Element]:
    env = env_text(event.environment_name, event.environment_id, d)
    if event.last_point is None:
        summary = (f"{env} is in DATA_BACKUP_SCOPE but has no complete data backup point "
                   f"(in scope since {format_instant(event.since)}).")
    else:
        summary = (f"The newest complete data backup point of {env} is from "
                   f"{format_instant(event.last_point)}: the last two scheduled rounds did not "
                   "complete one. Changes since then are not backed up.")
    facts: list[tuple[str, str | None]] = [
        ("Environment", opt(event.environment_name, d.name)),
        ("Environment id", opt(event.environment_id, ID_CHARS)),
        ("Newest point", format_instant(event.last_point) if event.last_point else "none"),
        ("Overdue since", format_instant(event.due)),
    ]
    advice = data_backup_overdue_steps(event.environment_name, event.environment_id)
    return _alert(event, f"Data backup overdue — {env}", summary, "attention", facts, advice, d)


def _alert(
    event: NotificationEvent,
    title: str,
    summary: str,
    style: el.ContainerStyle,
    facts: list[tuple[str, str | None]],
    advice: tuple[str, ...],
    d: Detail,
) -> list[el.Element]:
    """An alert's card: the banner, the facts that have a value, what to do, the footer."""
    return [
        banner(title, summary, style),
        el.fact_set([(t, v) for t, v in facts if v]),
        *advice_section(advice, d),
        footer(event),
    ]
