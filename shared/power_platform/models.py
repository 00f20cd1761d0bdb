"""Values the client hands out, parsed from the platform's JSON (docs/platform-wire.md).

Parsers read only what the app uses and tolerate everything else: unknown fields are ignored,
unknown state values are kept verbatim, and a missing optional field becomes None. A missing
*required* field raises ValueError, which the client turns into a PowerPlatformError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from shared.power_platform._time import parse_optional_timestamp, parse_timestamp

_EMPTY_REASONS: Mapping[str, str] = MappingProxyType({})


# --- small JSON helpers --------------------------------------------------------------------------


def _obj(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _id_of(value: object) -> str | None:
    """BAP wraps enum-like values as {"id": "..."}; some payloads send the bare string."""
    if isinstance(value, Mapping):
        return _str(value.get("id"))
    return _str(value)


def _required(body: Mapping[str, Any], key: str, what: str) -> str:
    value = _str(body.get(key))
    if value is None:
        raise ValueError(f"{what} without {key!r}")
    return value


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


# --- environments --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Environment:
    """One environment as the BAP admin API describes it (reference §3.1).

    `disallowed_operations` is read-only (a mapping proxy), so the value cannot be hashed.
    """

    id: str
    display_name: str
    type: str | None
    state: str | None
    runtime_state: str | None
    admin_mode: bool
    background_operations_enabled: bool | None
    geo: str | None
    azure_region: str | None
    is_default: bool
    is_managed: bool
    allowed_operations: frozenset[str] = frozenset()
    disallowed_operations: Mapping[str, str] = field(default_factory=lambda: _EMPTY_REASONS)
    instance_url: str | None = None
    retention_period: str | None = None
    # The Dataverse Web API host; None when the environment has no Dataverse.
    instance_api_url: str | None = None

    def allows(self, operation_type: str) -> bool:
        """False only when the platform lists the operation type as disallowed."""
        return operation_type not in self.disallowed_operations

    @classmethod
    def from_bap(cls, body: Mapping[str, Any]) -> Environment:
        props = _obj(body.get("properties"))
        states = _obj(props.get("states"))
        linked = _obj(props.get("linkedEnvironmentMetadata"))
        enforcement = _obj(props.get("lifecycleOperationsEnforcement"))

        env_id = _str(body.get("name"))
        if env_id is None:
            # `id` is the resource path; its last segment is the environment name.
            path = _str(body.get("id"))
            env_id = path.rstrip("/").rsplit("/", 1)[-1] if path else None
        if not env_id:
            raise ValueError("environment without 'name' or 'id'")

        runtime_state = _id_of(states.get("runtime"))
        background = _str(linked.get("backgroundOperationsState"))
        allowed = frozenset(
            op_type
            for item in _list(enforcement.get("allowedOperations"))
            if (op_type := _id_of(_obj(item).get("type")))
        )
        disallowed: dict[str, str] = {}
        for item in _list(enforcement.get("disallowedOperations")):
            op_type = _id_of(_obj(item).get("type"))
            if op_type:
                reason = _obj(_obj(item).get("reason"))
                disallowed[op_type] = _str(reason.get("message")) or ""
        retention = _str(props.get("retentionPeriod")) or _str(
            _obj(props.get("retentionDetails")).get("retentionPeriod")
        )
        return cls(
            id=env_id,
            display_name=_str(props.get("displayName")) or env_id,
            type=_str(props.get("environmentSku")),
            state=_id_of(states.get("management")) or _str(props.get("provisioningState")),
            runtime_state=runtime_state,
            admin_mode=runtime_state == "AdminMode",
            background_operations_enabled=(
                True if background == "Enabled" else False if background == "Disabled" else None
            ),
            geo=_str(body.get("location")),
            azure_region=_str(props.get("azureRegion")),
            is_default=props.get("isDefault") is True,
            is_managed=_obj(props.get("governanceConfiguration")).get("protectionLevel")
            == "Standard",
            allowed_operations=allowed,
            disallowed_operations=MappingProxyType(disallowed) if disallowed else _EMPTY_REASONS,
            instance_url=_str(linked.get("instanceUrl")),
            retention_period=retention,
            instance_api_url=_str(linked.get("instanceApiUrl")),
        )


# --- backups and restore targets -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backup:
    """A backup: a point in time, labelled when manual (reference §3.2). Restore by `point`.

    The list holds manual backups (a person's or this app's) and the platform's own daily
    system backups; `createdBy.type` tells them apart.
    """

    id: str
    label: str
    point: datetime
    expiry: datetime | None
    created_by_type: str | None

    @property
    def is_system(self) -> bool:
        """Made by the platform: listed and restorable, but only manual backups can be deleted."""
        return (self.created_by_type or "").lower() == "system"

    def has_id(self, backup_id: str | None) -> bool:
        """Whether `backup_id` names this backup. The platform's ids are GUIDs, which a person
        may type in either case: a restore, the deletion guards and a deletion agree on this."""
        return backup_id is not None and backup_id.lower() == self.id.lower()

    @classmethod
    def from_pp(cls, body: Mapping[str, Any]) -> Backup:
        return cls(
            id=_required(body, "id", "backup"),
            label=_str(body.get("label")) or "",
            point=parse_timestamp(_required(body, "backupPointDateTime", "backup")),
            expiry=parse_optional_timestamp(body.get("backupExpiryDateTime")),
            created_by_type=_str(_obj(body.get("createdBy")).get("type")),
        )


@dataclass(frozen=True, slots=True)
class RestoreCandidate:
    """An environment the platform accepts as a restore target for a given source."""

    environment_id: str
    display_name: str
    organization_url: str | None

    @classmethod
    def from_pp(cls, body: Mapping[str, Any]) -> RestoreCandidate:
        env_id = _required(body, "environmentId", "restore candidate")
        return cls(
            environment_id=env_id,
            display_name=_str(body.get("displayName")) or env_id,
            organization_url=_str(body.get("dataverseOrganizationUrl")),
        )


# --- long-running operations ---------------------------------------------------------------------


class LifecycleKind(StrEnum):
    RESTORE = "restore"
    CHANGE_TYPE = "change_type"
    RUNTIME_STATE = "runtime_state"


@dataclass(frozen=True, slots=True)
class OperationHandle:
    """What a `begin_*` call returns: how to follow the operation it started.

    Persist it between function invocations with `to_dict()` / `from_dict()`. A handle with
    neither `status_url` nor `operation_id` comes from a bare 202; for a restore the client then
    looks the operation up in the target's operation list (`get_operation` does it for you).
    `accepted_at` is the wall-clock time the request was sent, which bounds how long a 404 on the
    status URL still means "not visible yet".
    """

    kind: LifecycleKind
    environment_id: str
    status_url: str | None
    operation_id: str | None
    retry_after: float | None
    request_id: str | None
    accepted_at: datetime

    @property
    def pollable(self) -> bool:
        """True when there is something to poll or, for a restore, something to look up."""
        return bool(self.status_url or self.operation_id) or self.kind is LifecycleKind.RESTORE

    def with_operation_id(self, operation_id: str) -> OperationHandle:
        return replace(self, operation_id=operation_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "environmentId": self.environment_id,
            "statusUrl": self.status_url,
            "operationId": self.operation_id,
            "retryAfter": self.retry_after,
            "requestId": self.request_id,
            "acceptedAt": self.accepted_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperationHandle:
        retry_after = data.get("retryAfter")
        return cls(
            kind=LifecycleKind(data["kind"]),
            environment_id=str(data["environmentId"]),
            status_url=_str(data.get("statusUrl")),
            operation_id=_str(data.get("operationId")),
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
            request_id=_str(data.get("requestId")),
            accepted_at=parse_timestamp(str(data["acceptedAt"])),
        )


class PlatformStatus(StrEnum):
    """The platform's many state words, reduced to what a poller decides on."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    # PP API `NoOperation`: over, but nothing was done; neither success nor failure.
    NO_OPERATION = "NoOperation"

    @property
    def terminal(self) -> bool:
        return self is not PlatformStatus.RUNNING

    @property
    def succeeded(self) -> bool:
        return self is PlatformStatus.SUCCEEDED

    @property
    def failed(self) -> bool:
        return self is PlatformStatus.FAILED


# Anything not listed (NotStarted, Queued, Running, InProgress, values never seen) keeps polling.
_TERMINAL_STATES: Mapping[str, PlatformStatus] = {
    "succeeded": PlatformStatus.SUCCEEDED,
    "validationpassed": PlatformStatus.SUCCEEDED,
    "failed": PlatformStatus.FAILED,
    "validationfailed": PlatformStatus.FAILED,
    "nooperation": PlatformStatus.NO_OPERATION,
}
_DONE_STAGE_STATES = frozenset({"succeeded", "skipped"})


def status_of(state: str | None) -> PlatformStatus:
    if not state:
        return PlatformStatus.RUNNING
    return _TERMINAL_STATES.get(state.lower(), PlatformStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class PlatformOperation:
    """One poll of a long-running operation, from a BAP lifecycle or a PP API operation body.

    `state` is the platform's word verbatim ("" when it sent none); `status` is what to do about
    it. `not_yet_visible` marks an answer that only says the operation cannot be seen yet (an
    early 404, or a restore not yet in the operation list).
    """

    id: str | None
    name: str | None
    state: str
    status: PlatformStatus
    error_code: str | None = None
    error_message: str | None = None
    progress: tuple[int, int] | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    retry_after: float | None = None
    not_yet_visible: bool = False

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def succeeded(self) -> bool:
        return self.status.succeeded

    @property
    def failed(self) -> bool:
        return self.status.failed

    @classmethod
    def pending(
        cls,
        operation_id: str | None,
        *,
        retry_after: float | None = None,
        not_yet_visible: bool = False,
    ) -> PlatformOperation:
        """An answer that says only "not done yet" (202 without body, 409, early 404)."""
        return cls(
            id=operation_id,
            name=None,
            state="",
            status=PlatformStatus.RUNNING,
            retry_after=retry_after,
            not_yet_visible=not_yet_visible,
        )

    @classmethod
    def from_body(
        cls,
        body: Mapping[str, Any],
        *,
        still_running: bool = False,
        retry_after: float | None = None,
    ) -> PlatformOperation:
        """Parse either body shape. `still_running` (an HTTP 202) overrides a terminal state."""
        if "operationId" in body or isinstance(body.get("status"), str):
            parsed = cls._from_pp(body)
        else:
            parsed = cls._from_bap(body)
        if still_running and parsed.status.terminal:
            # BAP answers 202 until the operation is over; the body can run ahead of it.
            parsed = replace(parsed, status=PlatformStatus.RUNNING, ended_at=None)
        return replace(parsed, retry_after=retry_after)

    @classmethod
    def _from_bap(cls, body: Mapping[str, Any]) -> PlatformOperation:
        state = _id_of(body.get("state")) or ""
        status = status_of(state)
        stages = [_obj(s) for s in _list(body.get("stages"))]
        stage_states = [(_id_of(s.get("state")) or "").lower() for s in stages]
        error = _obj(body.get("error"))
        if not error and status.failed:
            error = _first_failed_stage_error(stages, "state", "error")
        return cls(
            id=_str(body.get("id")) or _str(body.get("name")),
            name=_id_of(body.get("type")),
            state=state,
            status=status,
            error_code=_str(error.get("code")),
            error_message=_str(error.get("message")),
            progress=_progress(stage_states),
            started_at=parse_optional_timestamp(body.get("createdDateTime")),
            ended_at=(
                parse_optional_timestamp(body.get("lastActionDateTime"))
                if status.terminal
                else None
            ),
        )

    @classmethod
    def _from_pp(cls, body: Mapping[str, Any]) -> PlatformOperation:
        state = _str(body.get("status")) or ""
        status = status_of(state)
        stages = [_obj(s) for s in _list(body.get("stageStatuses"))]
        stage_states = [(_str(s.get("status")) or "").lower() for s in stages]
        error = _obj(body.get("errorDetail"))
        if not error and status.failed:
            error = _first_failed_stage_error(stages, "status", "errorDetail")
        return cls(
            id=_str(body.get("operationId")),
            name=_str(body.get("name")),
            state=state,
            status=status,
            error_code=_str(error.get("code")),
            error_message=_str(error.get("message")) or _field_errors_text(error),
            progress=_progress(stage_states),
            started_at=parse_optional_timestamp(body.get("startTime")),
            ended_at=parse_optional_timestamp(body.get("endTime")),
        )


def _progress(stage_states: list[str]) -> tuple[int, int] | None:
    if not stage_states:
        return None
    return sum(1 for s in stage_states if s in _DONE_STAGE_STATES), len(stage_states)


def _first_failed_stage_error(
    stages: list[Mapping[str, Any]], state_key: str, error_key: str
) -> Mapping[str, Any]:
    for stage in stages:
        if (_id_of(stage.get(state_key)) or "").lower() == "failed":
            error = _obj(stage.get(error_key))
            if error:
                return error
    return {}


def _field_errors_text(error: Mapping[str, Any]) -> str | None:
    """PP API validation errors put their words under fieldErrors.<field>.errorMessages."""
    parts: list[str] = []
    for name, detail in _obj(error.get("fieldErrors")).items():
        messages = [m for m in _list(_obj(detail).get("errorMessages")) if isinstance(m, str)]
        if messages:
            parts.append(f"{name}: {' '.join(messages)}")
    return "; ".join(parts) or None
