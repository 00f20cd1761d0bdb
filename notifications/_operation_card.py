"""The card body for one operation: outcome, facts, step timeline (a record restore: its
counts), error, advice."""

from __future__ import annotations

from notifications import _elements as el
from notifications._data_restore import data_restore_outcome, data_restore_sections
from notifications._parts import (
    ID_CHARS,
    Detail,
    advice_section,
    banner,
    env_text,
    footer,
    ident,
    opt,
    when,
)
from notifications.advice import next_steps
from notifications.events import OperationEvent, Outcome
from notifications.text import format_duration, format_instant, inert
from shared.operations import Operation, OperationKind, Step, StepStatus

_MAX_STEPS = 12

_OUTCOME_WORDS = {
    Outcome.STARTED: "started",
    Outcome.SUCCEEDED: "succeeded",
    Outcome.FAILED: "failed",
    Outcome.REJECTED: "rejected",
    Outcome.CANCELLED: "cancelled",
    Outcome.NEEDS_ATTENTION: "needs attention",
}
_OUTCOME_STYLE: dict[Outcome, el.ContainerStyle] = {
    Outcome.STARTED: "accent",
    Outcome.SUCCEEDED: "good",
    Outcome.FAILED: "attention",
    Outcome.REJECTED: "warning",
    Outcome.CANCELLED: "warning",
    Outcome.NEEDS_ATTENTION: "attention",
}
_STEP_NAMES = {
    "validate": "Validate",
    "safety_backup": "Safety backup",
    "switch_to_sandbox": "Switch to Sandbox",
    "restore": "Restore",
    "switch_to_production": "Switch back to Production",
    "disable_admin_mode": "Administration mode off",
    "verify": "Verify",
    "backup": "Backup",
}


def operation_body(event: OperationEvent, d: Detail) -> list[el.Element]:
    op = event.operation
    env = env_text(op.environment_name, op.environment_id, d)
    body = [
        banner(
            operation_title(event, d), _what_happened(event, env, d), _OUTCOME_STYLE[event.outcome]
        ),
        el.fact_set(_operation_facts(op, d)),
    ]
    if op.kind is OperationKind.RESTORE and op.steps:
        body += [el.heading("Steps"), el.fact_set(_step_facts(op, d))]
    if op.kind is OperationKind.DATA_RESTORE and event.outcome is not Outcome.REJECTED:
        body += data_restore_sections(op, d)
    if op.error:
        error = f"{inert(op.error.message, d.text)} (code: {inert(op.error.code, d.name)})"
        body.append(el.container([el.heading("What went wrong"), el.text_block(error)],
                                 style="attention"))
    body += advice_section(next_steps(op), d, see=f"ppbackup status {op.operation_id}")
    body.append(footer(event))
    return body


def operation_title(event: OperationEvent, d: Detail) -> str:
    op = event.operation
    title = f"{op.kind.value.replace('_', ' ').capitalize()} {_OUTCOME_WORDS[event.outcome]}"
    if op.options.get("dryRun") is True:
        title += " (dry run)"
    if op.environment_name or op.environment_id:
        title += f" — {env_text(op.environment_name, op.environment_id, d)}"
    return title


def _what_happened(event: OperationEvent, env: str, d: Detail) -> str:
    op, outcome = event.operation, event.outcome
    noun = op.kind.value.replace("_", " ")
    if outcome is Outcome.REJECTED:
        return f"The {noun} request for {env} was rejected; nothing was changed."
    if outcome is Outcome.CANCELLED:
        return f"The {noun} of {env} was cancelled."
    if outcome is Outcome.STARTED:
        return (f"The restore of {env} has started. Restores often take 8-24 hours or more; "
                "another card follows when it ends.")
    if op.kind is OperationKind.DATA_BACKUP:
        return _data_backup_outcome(op, outcome, env, d)
    if op.kind is OperationKind.DATA_RESTORE:
        return data_restore_outcome(op, outcome, env)
    if op.kind is OperationKind.BACKUP:
        if outcome is Outcome.SUCCEEDED:
            return f"A backup of {env} was taken."
        if outcome is Outcome.FAILED:
            return f"The backup of {env} failed."
        return f"The backup of {env} needs a person to look at it."
    if outcome is Outcome.SUCCEEDED:
        return " ".join([f"{env} was restored.", *_restore_state(op)])
    failed = next((s for s in op.steps if s.status is StepStatus.FAILED), None)
    where = f" at step “{_step_name(failed.name)}”" if failed else ""
    if outcome is Outcome.FAILED:
        return " ".join([f"The restore of {env} failed{where}.", *_restore_state(op)])
    return " ".join([f"The restore of {env} needs a person{where}.", *_restore_state(op)])


def _data_backup_outcome(op: Operation, outcome: Outcome, env: str, d: Detail) -> str:
    copied = [t for t in op.tables if t.get("status") == "Succeeded"]
    failed = [str(t.get("table")) for t in op.tables if t.get("status") == "Failed"]
    changed = sum(int(t.get("changed") or 0) for t in copied)
    if outcome is Outcome.SUCCEEDED and op.point_id:
        text = (f"A data backup point of {env} is complete: {len(copied)} table(s), "
                f"{changed:,} row(s) copied.")
    else:
        ended = "failed" if outcome is Outcome.FAILED else "needs a person"
        text = f"The data backup of {env} {ended}."
    if failed:
        # A few by name: when every table fails (a missing security role), hundreds of names
        # would push the card past the budget and lose the error and advice below.
        shown = ", ".join(inert(t, d.name) for t in failed[:d.failures])
        more = f" and {len(failed) - d.failures} more" if len(failed) > d.failures else ""
        text += (f" Not copied: {shown}{more} (the operation says why; a 403 means the "
                 "application user needs a security role that can read the table).")
    return text


def _restore_state(op: Operation) -> list[str]:
    """What the steps prove about the environment now, so readers need not decode the timeline."""
    states = {s.name: s.status for s in op.steps}
    said = []
    if states.get("switch_to_production") is StepStatus.SUCCEEDED:
        said.append("It was switched back to Production.")
    elif states.get("switch_to_sandbox") is StepStatus.SUCCEEDED:
        said.append("It is still a Sandbox.")
    if states.get("disable_admin_mode") is StepStatus.SUCCEEDED:
        said.append("Administration mode is off.")
    elif states.get("restore") is StepStatus.SUCCEEDED:
        said.append("Administration mode may still be on.")
    return said


def _operation_facts(op: Operation, d: Detail) -> list[tuple[str, str]]:
    facts: list[tuple[str, str | None]] = [
        ("Environment", opt(op.environment_name, d.name)),
        ("Environment id", opt(op.environment_id, ID_CHARS)),
    ]
    if op.source_environment_id and op.source_environment_id != op.environment_id:
        facts.append(("Source environment", opt(op.source_environment_id, ID_CHARS)))
    facts += [
        ("Backup label", opt(op.label, d.name)),
        ("Backup id", opt(op.backup_id, ID_CHARS)),
        ("Restore point", when(op.restore_point)),
        ("Data point", opt(op.point_id, ID_CHARS)),
        ("Backup point", when(op.backup_point)),
        ("Requested by", opt(op.requested_by, d.name)),
    ]
    if not d.brief:
        facts += [
            ("Reason", opt(op.reason, d.text)),
            ("Notes", opt(op.notes, d.text)),
            ("Started", format_instant(op.created_at)),
            ("Ended", when(op.ended_at)),
        ]
    duration = op.duration_seconds
    facts += [
        ("Duration", None if duration is None else format_duration(duration)),
        ("Status", op.status.value),
        ("Operation id", ident(op.operation_id)),
    ]
    return [(title, value) for title, value in facts if value]


def _step_facts(op: Operation, d: Detail) -> list[tuple[str, str]]:
    facts = [
        (_step_name(s.name), _step_line(s, d, finished=op.status.terminal))
        for s in op.steps[:_MAX_STEPS]
    ]
    if len(op.steps) > _MAX_STEPS:
        facts.append(("…", f"and {len(op.steps) - _MAX_STEPS} more steps"))
    return facts


def _step_line(step: Step, d: Detail, *, finished: bool) -> str:
    if step.status is StepStatus.SKIPPED:
        line = "↷ Skipped"
    elif step.status is StepStatus.PENDING:
        line = "· Not run" if finished else "· Pending"
    elif step.status is StepStatus.RUNNING:
        since = f" since {format_instant(step.started_at)}" if step.started_at else ""
        line = f"… Running{since}"
    else:
        mark = "✔" if step.status is StepStatus.SUCCEEDED else "✖"
        line = f"{mark} {step.status.value}"
        if step.ended_at:
            line += f" at {format_instant(step.ended_at)}"
        if step.started_at and step.ended_at:
            took = (step.ended_at - step.started_at).total_seconds()
            if took >= 1:  # a step that failed on entry is stamped start = end: no duration
                line += f" ({format_duration(took)})"
    if d.step_details and step.detail:
        line += f" — {inert(step.detail, d.item)}"
    return line


def _step_name(name: str) -> str:
    return _STEP_NAMES.get(name) or inert(name, 60) or "(unnamed step)"
