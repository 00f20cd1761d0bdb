"""Values for the pure tests: environments, backups, operations and states, with defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from engine.config import EngineConfig
from restore_orchestrator.phases import Phase
from restore_orchestrator.state import Facts, Request, RestoreState, Selector, Work
from shared.power_platform import (
    Backup,
    Environment,
    LifecycleKind,
    OperationHandle,
    PlatformOperation,
    PlatformStatus,
)
from shared.settings import ProductionAllowList

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TARGET = "11111111-1111-4111-8111-111111111111"
SOURCE = "22222222-2222-4222-8222-222222222222"
OP_ID = "restore-20261120T085900000Z-abcdef"

CONFIG = EngineConfig(allow_production=ProductionAllowList(frozenset({TARGET})))


def env(
    env_id: str = TARGET,
    *,
    name: str = "Contoso Prod",
    type: str = "Production",
    state: str = "Ready",
    admin_mode: bool = False,
    background: bool | None = True,
    geo: str = "europe",
    managed: bool = False,
    default: bool = False,
    disallowed: dict[str, str] | None = None,
    retention: str | None = None,
) -> Environment:
    if disallowed is None:
        disallowed = {"Restore": "Restore cannot be performed on Production."} if type == (
            "Production") else {}
    return Environment(
        id=env_id,
        display_name=name,
        type=type,
        state=state,
        runtime_state="AdminMode" if admin_mode else "Enabled",
        admin_mode=admin_mode,
        background_operations_enabled=background,
        geo=geo,
        azure_region=None,
        is_default=default,
        is_managed=managed,
        disallowed_operations=MappingProxyType(disallowed),
        retention_period=retention or ("P28D" if type == "Production" else "P7D"),
    )


def backup(label: str, age: timedelta, *, backup_id: str | None = None) -> Backup:
    point = NOW - age
    return Backup(
        id=backup_id or f"b-{label}-{int(age.total_seconds())}",
        label=label,
        point=point,
        expiry=point + timedelta(days=28),
        created_by_type="User",
    )


def op(
    status: PlatformStatus = PlatformStatus.RUNNING,
    *,
    op_id: str = "op-1",
    name: str = "Restore",
    progress: tuple[int, int] | None = None,
    retry_after: float | None = None,
    error: tuple[str, str] | None = None,
    started: datetime | None = None,
    not_yet_visible: bool = False,
) -> PlatformOperation:
    return PlatformOperation(
        id=op_id,
        name=name,
        state={PlatformStatus.RUNNING: "InProgress"}.get(status, status.value),
        status=status,
        error_code=error[0] if error else None,
        error_message=error[1] if error else None,
        progress=progress,
        started_at=started or NOW - timedelta(minutes=1),
        retry_after=retry_after,
        not_yet_visible=not_yet_visible,
    )


def handle(
    kind: LifecycleKind = LifecycleKind.RESTORE,
    *,
    url: str | None = None,
    op_id: str | None = None,
    retry_after: float | None = None,
    accepted: datetime | None = None,
) -> OperationHandle:
    return OperationHandle(
        kind=kind, environment_id=TARGET, status_url=url, operation_id=op_id,
        retry_after=retry_after, request_id="req-1", accepted_at=accepted or NOW,
    )


def request(**changes: Any) -> Request:
    base = Request(
        operation_id=OP_ID, target_id=TARGET, source_id=TARGET, selector=Selector.BACKUP_LABEL,
        backup_label="Before release 4.2", confirm_production="contoso prod",
    )
    return replace(base, **changes)


def state(
    phase: Phase = Phase.QUEUED,
    *,
    request_changes: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
    work: dict[str, Any] | None = None,
    **changes: Any,
) -> RestoreState:
    """A state in `phase` with the facts a real run would have learned before it."""
    learned: dict[str, Any] = {}
    order = list(Phase)
    if order.index(phase) > order.index(Phase.VALIDATING) and not phase.terminal:
        learned = {
            "target_name": "Contoso Prod",
            "original_type": "Production",
            "source_name": f"Contoso Prod ({TARGET})",
            "source_retention_days": 28.0,
            "restore_point": NOW - timedelta(hours=2),
            "backup_id": "b-1",
            "restorable_at": NOW - timedelta(hours=1),
        }
    if order.index(phase) > order.index(Phase.SWITCHING_TO_SANDBOX) and not phase.terminal:
        learned["switched_to_sandbox"] = True
    if order.index(phase) > order.index(Phase.PRECHECKING) and not phase.terminal:
        learned["restore_requested_at"] = NOW - timedelta(hours=1)
        learned["restore_started_at"] = NOW - timedelta(hours=1)
    learned.update(facts or {})
    changes.setdefault("phase_since", NOW - timedelta(minutes=5))
    return RestoreState(
        request=request(**(request_changes or {})),
        seq=7,
        phase=phase,
        facts=Facts(**learned),
        work=Work(**(work or {})),
        **changes,
    )
