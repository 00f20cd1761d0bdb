"""Operations and events for notification tests: readable factories and hypothesis strategies."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from notifications import BackupRoundSummary
from shared.operations import (
    BACKUP_STEPS,
    RESTORE_STEPS,
    Operation,
    OperationError,
    OperationKind,
    OperationStatus,
    Step,
    StepStatus,
    finish,
    new_operation,
    update_step,
)

T0 = datetime(2026, 11, 21, 1, 45, tzinfo=UTC)
ENV_ID = "0b5e3c1a-1111-2222-3333-444455556666"
OPERATION_ID = "restore-20261121T014500000Z-1a2b3c"
BACKUP_OPERATION_ID = "backup-20261121T014500000Z-4d5e6f"


def restore(
    steps: dict[str, StepStatus] | None = None,
    *,
    status: OperationStatus = OperationStatus.RUNNING,
    error: tuple[str, str] | None = None,
    **fields: Any,
) -> Operation:
    """A restore of "Contoso Prod" whose steps have the given statuses (the rest Pending)."""
    fields.setdefault("environment_name", "Contoso Prod")
    fields.setdefault("label", "Before release 4.2")
    fields.setdefault("requested_by", "ops@contoso.com")
    op = new_operation(
        OperationKind.RESTORE, ENV_ID, T0, operation_id=OPERATION_ID,
        status=OperationStatus.RUNNING, **fields,
    )
    now = T0
    for name, step_status in (steps or {}).items():
        now += timedelta(minutes=30)
        if step_status is not StepStatus.SKIPPED:
            op = update_step(op, name, now, status=StepStatus.RUNNING)
            now += timedelta(minutes=30)
        op = update_step(op, name, now, status=step_status)
    if status.terminal:
        return finish(op, status, now, error=OperationError(*error) if error else None)
    return replace(op, status=status)


def backup(
    status: OperationStatus = OperationStatus.SUCCEEDED,
    error: tuple[str, str] | None = None,
    **fields: Any,
) -> Operation:
    fields.setdefault("environment_name", "Contoso Prod")
    fields.setdefault("label", "Pre-update 2026-11-21 01:00Z")
    op = new_operation(
        OperationKind.BACKUP, ENV_ID, T0, operation_id=BACKUP_OPERATION_ID,
        status=OperationStatus.RUNNING, **fields,
    )
    step_status = StepStatus.SUCCEEDED if status is OperationStatus.SUCCEEDED else StepStatus.FAILED
    op = update_step(op, "backup", T0 + timedelta(minutes=3), status=step_status)
    if status.terminal:
        return finish(op, status, T0 + timedelta(minutes=3),
                      error=OperationError(*error) if error else None)
    return replace(op, status=status)


SWITCHED_AND_RESTORED = {
    "validate": StepStatus.SUCCEEDED,
    "safety_backup": StepStatus.SKIPPED,
    "switch_to_sandbox": StepStatus.SUCCEEDED,
    "restore": StepStatus.SUCCEEDED,
}
ALL_DONE = {
    **SWITCHED_AND_RESTORED,
    "switch_to_production": StepStatus.SUCCEEDED,
    "disable_admin_mode": StepStatus.SUCCEEDED,
    "verify": StepStatus.SUCCEEDED,
}


def round_summary(failures: int, *, pending: int = 0, succeeded: int = 10,
                  message: str = "The platform answered 409 OperationNotStartable.",
                  round_id: str = "round-20261121T010000Z") -> BackupRoundSummary:
    return BackupRoundSummary(
        round_id=round_id,
        scheduled_for=T0,
        total=succeeded + failures + pending,
        succeeded_count=succeeded,
        failed=[(f"env-{i:05d}", f"Environment {i}", message) for i in range(failures)],
        pending_count=pending,
        started_at=T0,
        ended_at=T0 + timedelta(minutes=42),
    )


# --- hypothesis ------------------------------------------------------------------------------

# Text a hostile or unlucky input could hold: Markdown, Teams date macros, bidi overrides,
# four-byte characters, line breaks, and sheer length (a short seed repeated hundreds of times).
_SPICY = st.sampled_from([
    "*", "**", "_", "[click](https://evil.example)", "# ", "- ", "1. ", "> ", "`", "\\",
    "{{DATE(2017-02-14T06:08:39Z, SHORT)}}", "\u202e", "😀", "\U0001d518\U0001d52b\U0001d526",
    "\n\n", "\r\n- item",
    "\x00", "<b>html</b>", '"quotes"', "ü", "中文",
])
_PIECE = st.one_of(st.text(max_size=40), _SPICY)
_SHORT = st.lists(_PIECE, max_size=6).map("".join)
texts = st.one_of(
    _SHORT,
    st.tuples(_SHORT, st.integers(min_value=1, max_value=2_000)).map(lambda t: t[0] * t[1]),
)
optional_texts = st.none() | texts
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
# Realistic ids as the app makes them, and odd ones (any visible characters) a record may hold.
operation_ids = st.one_of(
    st.from_regex(r"(backup|restore)-20[0-9]{6}T[0-9]{9}Z-[0-9a-f]{6}", fullmatch=True),
    st.text(
        alphabet=st.characters(exclude_categories=("Cs", "Cc", "Cf", "Zs", "Zl", "Zp")),
        min_size=1, max_size=90,
    ),
)
error_codes = st.sampled_from([
    "EnvironmentBusy", "OperationNotStartable", "Throttled", "Forbidden", "AuthenticationFailed",
    "ValidationFailed", "NotFound", "Transient", "OutcomeUnknown", "ConfigError", "Unknown",
    "InvalidRequest",
])


@st.composite
def steps(draw: st.DrawFn, kind: OperationKind) -> tuple[Step, ...]:
    names = list(RESTORE_STEPS if kind is OperationKind.RESTORE else BACKUP_STEPS)
    names += draw(st.lists(st.text(min_size=1, max_size=30), max_size=draw(
        st.sampled_from([0, 0, 0, 20]))))
    result = []
    for name in names:
        start = draw(st.none() | instants)
        result.append(Step(
            name=name,
            status=draw(st.sampled_from(StepStatus)),
            started_at=start,
            ended_at=None if start is None else start + draw(
                st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))),
            detail=draw(optional_texts),
            request_ids=tuple(draw(st.lists(st.uuids().map(str), max_size=3))),
        ))
    return tuple(result)


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    kind = draw(st.sampled_from(OperationKind))
    status = draw(st.sampled_from(OperationStatus))
    created = draw(instants)
    error = draw(st.none() | st.builds(OperationError, error_codes | texts, texts))
    return Operation(
        operation_id=draw(operation_ids),
        kind=kind,
        status=status,
        environment_id=draw(st.sampled_from([ENV_ID, ""]) | texts),
        created_at=created,
        updated_at=created,
        environment_name=draw(optional_texts),
        source_environment_id=draw(st.none() | st.uuids().map(str) | texts),
        label=draw(optional_texts),
        notes=draw(optional_texts),
        backup_id=draw(st.none() | st.uuids().map(str)),
        restore_point=draw(st.none() | instants),
        requested_by=draw(optional_texts),
        reason=draw(optional_texts),
        ended_at=created + timedelta(hours=draw(st.integers(0, 60))) if status.terminal else None,
        error=error,
        steps=draw(steps(kind)),
        options={"dryRun": draw(st.booleans())},
    )


@st.composite
def round_summaries(draw: st.DrawFn) -> BackupRoundSummary:
    failed = draw(st.sampled_from([0, 1, 7, 30, 250, 1_000, 1_500]))
    name, message = draw(optional_texts), draw(texts)
    succeeded = draw(st.integers(0, 2_000))
    pending = draw(st.integers(0, 50))
    start = draw(instants)
    data = draw(st.booleans())  # a data backup round: tables, rows and failed tables too
    failed_tables = draw(st.sampled_from([0, 1, 40, 3_000])) if data else 0
    return BackupRoundSummary(
        round_id=("data-" if data else "") + draw(operation_ids),
        tables_count=draw(st.integers(0, 10**5)) if data else 0,
        rows_count=draw(st.integers(0, 10**12)) if data else 0,
        failed_tables=[(f"{ENV_ID[:-5]}{i:05d}", name, f"table_{i}: {message}")
                       for i in range(failed_tables)],
        scheduled_for=start,
        total=succeeded + failed + pending,
        succeeded_count=succeeded,
        # Built from one drawn name and message: a thousand independent draws would be slow and
        # add nothing the size budget cares about.
        failed=[(f"{ENV_ID[:-5]}{i:05d}", name and f"{name} {i}", message) for i in range(failed)],
        pending_count=pending,
        started_at=start,
        ended_at=start + timedelta(minutes=draw(st.integers(0, 600))),
    )
