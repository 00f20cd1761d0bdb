"""Operations in history for the notification tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from notifications.outbox import announce
from shared.operations import (
    Operation,
    OperationKind,
    OperationStatus,
    StepStatus,
    finish,
    new_operation,
    update_step,
)
from tests.integration.notifications.conftest import Harness

ENV = "51f48b59-205a-4945-aa35-a0d6a2fe05ea"  # the simulator's "Contoso Prod"


def finished_backup(h: Harness, status: OperationStatus = OperationStatus.SUCCEEDED,
                    **fields: Any) -> Operation:
    """A backup stored as Running, then moved to `status` with `announce`, as the service does."""
    now = h.clock()
    op = new_operation(OperationKind.BACKUP, ENV, now, status=OperationStatus.RUNNING,
                       environment_name="Contoso Prod", label="Before release 4.2", **fields)
    stored = h.ctx.history.create(op)
    step = StepStatus.SUCCEEDED if status is OperationStatus.SUCCEEDED else StepStatus.FAILED
    done = finish(update_step(op, "backup", now + timedelta(minutes=2), status=step), status,
                  now + timedelta(minutes=2))
    after = h.ctx.history.update(stored, done).operation
    announce(h.ctx, op, after)
    return after


def restore_record(h: Harness, **steps: StepStatus) -> Operation:
    """A restore of Contoso Prod whose steps have the given statuses, stored as Running."""
    now = h.clock()
    op = new_operation(OperationKind.RESTORE, ENV, now, status=OperationStatus.RUNNING,
                       environment_name="Contoso Prod", label="Before release 4.2",
                       requested_by="ops@contoso.com")
    for name, status in steps.items():
        now += timedelta(minutes=5)
        if status is not StepStatus.SKIPPED:
            op = update_step(op, name, now, status=StepStatus.RUNNING)
        op = update_step(op, name, now + timedelta(minutes=1), status=status)
    return replace(op, updated_at=now)
