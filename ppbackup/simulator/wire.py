"""JSON shapes of both API dialects (wire contract; reference §3.1, §3.2, §3.6, §5).

Pure functions from model records to JSON-able dicts, plus timestamp and paging-token helpers.
Timestamps are written the .NET way (7 fractional digits, `Z`), which is what Microsoft services
send and the harder case for a Python parser; the 7th digit is always 0 so a value the client
parses and sends back names the same microsecond.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from ppbackup.simulator.errors import SimError, bad_request
from ppbackup.simulator.geo import crm_label
from ppbackup.simulator.model import (
    LIFECYCLE_KINDS,
    SKU_DEFAULT,
    SKU_PRODUCTION,
    STAGES,
    Backup,
    Environment,
    Operation,
    OpState,
)

BAP_PREFIX = "/providers/Microsoft.BusinessAppPlatform"
PP_PREFIX = "/environmentmanagement"
API_PP = "2024-10-01"
API_BAP_READ = "2023-06-01"
API_BAP_WRITE = "2021-04-01"
API_BAP_LIFECYCLE = "2023-06-01"

REQUESTED_BY = {
    "displayName": "ppbackup",
    "type": "ServicePrincipal",
    "userId": "5f8e3c1a-7b2d-4e6f-9a0b-1c2d3e4f5a6b",
}
SYSTEM_CREATOR = {"displayName": "System", "type": "System"}

_PP_STATUS = {
    OpState.NOT_STARTED: "Queued",
    OpState.RUNNING: "InProgress",
    OpState.SUCCEEDED: "Succeeded",
    OpState.FAILED: "Failed",
}
_PP_STAGE_STATUS = {
    OpState.NOT_STARTED: "NotStarted",
    OpState.RUNNING: "InProgress",
    OpState.SUCCEEDED: "Succeeded",
    OpState.FAILED: "Failed",
}


# ---------------------------------------------------------------------------- time


def fmt_time(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def parse_time_with_offset(text: object, field: str) -> datetime:
    """RFC 3339 with an offset; a naive time is refused (PP API restore rule)."""
    if not isinstance(text, str) or not text:
        raise bad_request("InvalidRestorePointDateTime", f"{field} is required.", field)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise bad_request(
            "InvalidRestorePointDateTime", f"{field} is not an RFC 3339 date-time: {text!r}.",
            field,
        ) from exc
    if moment.tzinfo is None or "T" not in text.upper():
        raise bad_request(
            "InvalidRestorePointDateTime",
            f"{field} must be an RFC 3339 date-time with a timezone offset, e.g. "
            f"2025-04-30T12:34:56+02:00; got {text!r}.",
            field,
        )
    return moment.astimezone(UTC)


# ---------------------------------------------------------------------------- environments


def instance_url(env: Environment) -> str:
    return f"https://{env.domain_name}.{crm_label(env.location)}.dynamics.com/"


def dataverse_url(base_url: str, env_id: str) -> str:
    """Where the simulator serves the environment's Dataverse (`instanceApiUrl`, no slash)."""
    return f"{base_url.rstrip('/')}/orgs/{env_id}"


def _enforcement(env: Environment) -> dict[str, Any]:
    disallowed: dict[str, str] = {}
    if env.is_default or env.sku == SKU_DEFAULT:
        for op in ("Backup", "Restore", "ModifySku"):
            disallowed[op] = f"{op} cannot be performed on environment of type Default."
    elif env.sku == SKU_PRODUCTION:
        disallowed["Restore"] = "Restore cannot be performed on environment of type Production."
    allowed = [op for op in ("Backup", "Restore", "ModifySku") if op not in disallowed]
    return {
        "allowedOperations": [{"type": {"id": op}} for op in allowed],
        "disallowedOperations": [
            {"type": {"id": op}, "reason": {"message": msg, "type": "EnvironmentType"}}
            for op, msg in disallowed.items()
        ],
    }


def bap_environment(
    env: Environment,
    *,
    busy: bool,
    restorable_from: datetime,
    retention_days: int,
    tenant_id: str,
    dataverse: str,
) -> dict[str, Any]:
    """`dataverse`: the environment's Web API URL on this simulator (`dataverse_url`)."""
    period = f"P{retention_days}D"
    return {
        "id": f"{BAP_PREFIX}/scopes/admin/environments/{env.id}",
        "name": env.id,
        "type": "Microsoft.BusinessAppPlatform/scopes/environments",
        "location": env.location,
        "properties": {
            "tenantId": tenant_id,
            "displayName": env.display_name,
            "createdTime": fmt_time(env.created_at),
            "azureRegion": env.azure_region,
            "isDefault": env.is_default,
            "environmentSku": env.sku,
            "provisioningState": "Succeeded",
            "states": {
                # TF loops while "Running"; an environment with a lifecycle operation (or its
                # settle lag) in progress is Running.
                "management": {"id": "Running" if busy else "Ready"},
                "runtime": {
                    "id": env.runtime_state,
                    "runtimeReasonCode": "NotSpecified",
                    "requestedBy": {"displayName": "SYSTEM", "type": "NotSpecified"},
                },
            },
            "linkedEnvironmentMetadata": {
                "type": "Dynamics365Instance",
                "instanceUrl": f"{dataverse}/",
                "instanceApiUrl": dataverse,
                "domainName": env.domain_name,
                "uniqueName": f"org{env.id.replace('-', '')[-8:].lower()}",
                "resourceId": str(uuid.uuid5(uuid.NAMESPACE_URL, env.id)),
                "version": "9.2.25111.00000",
                "instanceState": "Ready",
                "backgroundOperationsState": env.background_operations,
                "securityGroupId": env.security_group_id,
            },
            "retentionPeriod": period,
            "retentionDetails": {
                "retentionPeriod": period,
                "backupsAvailableFromDateTime": fmt_time(restorable_from),
            },
            "governanceConfiguration": {"protectionLevel": "Standard" if env.managed else "Basic"},
            "lifecycleOperationsEnforcement": _enforcement(env),
        },
    }


def restore_candidate(env: Environment) -> dict[str, Any]:
    return {
        "environmentId": env.id,
        "displayName": env.display_name,
        "dataverseOrganizationUrl": instance_url(env),
    }


# ---------------------------------------------------------------------------- backups


def backup_json(backup: Backup, tenant_id: str) -> dict[str, Any]:
    if backup.system:
        # No label: the platform made it. `createdBy.type` "System" is how the list tells it
        # from a manual backup (reference §3.2: scripts keep `createdBy.type -eq "User"`).
        return {
            "id": backup.id,
            "backupPointDateTime": fmt_time(backup.point),
            "backupExpiryDateTime": fmt_time(backup.expiry),
            "createdBy": {**SYSTEM_CREATOR, "tenantId": tenant_id},
        }
    return {
        "id": backup.id,
        "label": backup.label,
        "backupPointDateTime": fmt_time(backup.point),
        "backupExpiryDateTime": fmt_time(backup.expiry),
        "createdBy": {**REQUESTED_BY, "tenantId": tenant_id},
    }


# ---------------------------------------------------------------------------- operations


def _stage_times(op: Operation, index: int, now: datetime) -> dict[str, str]:
    start, end = op.stage_window(index)
    times: dict[str, str] = {}
    if now >= start and index <= op.last_stage:
        times["start"] = fmt_time(start)
        if now >= end:
            times["end"] = fmt_time(end)
    return times


def bap_lifecycle(op: Operation, now: datetime, tenant_id: str) -> dict[str, Any]:
    state = op.state_at(now)
    last_action = op.ends_at if state in (OpState.SUCCEEDED, OpState.FAILED) else now
    stages = []
    for index, name in enumerate(STAGES if op.kind in LIFECYCLE_KINDS else ()):
        stage: dict[str, Any] = {"id": name, "name": name,
                                 "state": {"id": op.stage_state_at(index, now).value}}
        times = _stage_times(op, index, now)
        if "start" in times:
            stage["firstActionDateTime"] = times["start"]
            stage["lastActionDateTime"] = times.get("end", fmt_time(now))
        stages.append(stage)
    body: dict[str, Any] = {
        "id": op.id,
        "links": {
            "self": {"path": f"{BAP_PREFIX}/lifecycleOperations/{op.id}"},
            "environment": {"path": f"{BAP_PREFIX}/environments/{op.environment_id}"},
        },
        "type": {"id": op.kind.value},
        "typeDisplayName": op.kind.value,
        "state": {"id": state.value},
        "createdDateTime": fmt_time(op.created_at),
        "lastActionDateTime": fmt_time(min(last_action, now)),
        "requestedBy": {**REQUESTED_BY, "tenantId": tenant_id},
        "stages": stages,
    }
    if state is OpState.FAILED:
        body["error"] = {"code": op.error_code, "message": op.error_message}
    return body


def pp_operation(
    op: Operation, now: datetime, tenant_id: str, target: Environment | None
) -> dict[str, Any]:
    state = op.state_at(now)
    body: dict[str, Any] = {
        "operationId": op.id,
        "name": op.kind.value,
        "status": _PP_STATUS[state],
        "startTime": fmt_time(op.created_at),
        "requestedBy": {**REQUESTED_BY, "tenantId": tenant_id},
        "stageStatuses": [],
    }
    if state in (OpState.SUCCEEDED, OpState.FAILED):
        body["endTime"] = fmt_time(op.ends_at)
    for index, name in enumerate(STAGES if op.kind in LIFECYCLE_KINDS else ()):
        stage: dict[str, Any] = {
            "name": name, "status": _PP_STAGE_STATUS[op.stage_state_at(index, now)],
        }
        times = _stage_times(op, index, now)
        if "start" in times:
            stage["startTime"] = times["start"]
        if "end" in times:
            stage["endTime"] = times["end"]
        body["stageStatuses"].append(stage)
    if state is OpState.FAILED:
        body["errorDetail"] = {"code": op.error_code, "message": op.error_message}
    if target is not None and op.kind in LIFECYCLE_KINDS:
        body["updatedEnvironment"] = restore_candidate(target)
    return body


# ---------------------------------------------------------------------------- errors


def bap_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detailUrlType": "NotSpecified"}}


def pp_error(error: SimError, *, short_form: bool) -> dict[str, Any]:
    """`errorDetail` as documented, or the `{"error": {"code"}}` form seen live (reference §5)."""
    if short_form:
        return {"error": {"code": error.code}}
    detail: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field_errors:
        detail["fieldErrors"] = {
            name: {"errorMessages": [text]} for name, text in error.field_errors.items()
        }
    return {"errorDetail": detail}


# ---------------------------------------------------------------------------- paging


def encode_token(seq: int) -> str:
    raw = json.dumps({"after": seq}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> int:
    """Keyset token: the `seq` of the last item handed out. Opaque to the client."""
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad_request("InvalidContinuationToken", "The continuation token is invalid.") from exc
    if not isinstance(value, int):
        raise bad_request("InvalidContinuationToken", "The continuation token is invalid.")
    return value
