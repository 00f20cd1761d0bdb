"""Save and load a tenant as JSON (`ppbackup simulator --state FILE`).

Saved: environments (with their data history), unexpired backups, operations, the simulated
time, and each Dataverse organisation in use (its changes since the seed). Loading resumes the
clock at the later of the saved time and now: the platform "kept running" while the simulator
was off, so operations that were due have finished and backups that were due have expired.
Options and faults are not state and are not saved.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ppbackup.simulator.model import (
    Backup,
    ContentVersion,
    Environment,
    Operation,
    OperationKind,
)
from ppbackup.simulator.state import SimState

FORMAT_VERSION = 1


def _t(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse_t(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _req_t(text: Any) -> datetime:
    moment = _parse_t(text)
    if moment is None:
        raise ValueError(f"expected a timestamp, got {text!r}")
    return moment


def dump_state(state: SimState) -> dict[str, Any]:
    with state.lock:
        now = state.settle()
        live_backups = [b for b in state.backups.values() if b.expiry > now]
        seqs = [e.seq for e in state.environments.values()]
        seqs += [b.seq for b in state.backups.values()] + [o.seq for o in state.operations.values()]
        return {
            "version": FORMAT_VERSION,
            "clock": _t(now),
            "tenantId": state.tenant_id,
            "lastSeq": max(seqs, default=0),
            "environments": [
                {
                    "id": e.id, "displayName": e.display_name, "sku": e.sku,
                    "location": e.location, "azureRegion": e.azure_region,
                    "managed": e.managed, "isDefault": e.is_default,
                    "createdAt": _t(e.created_at), "seq": e.seq, "domainName": e.domain_name,
                    "runtimeState": e.runtime_state,
                    "backgroundOperations": e.background_operations,
                    "retentionFloor": _t(e.retention_floor),
                    "securityGroupId": e.security_group_id,
                    "adminForbiddenUntil": _t(e.admin_forbidden_until),
                    "content": [{"at": _t(c.at), "marker": c.marker} for c in e.content],
                }
                for e in sorted(state.environments.values(), key=lambda e: e.seq)
            ],
            "backups": [
                {
                    "id": b.id, "environmentId": b.environment_id, "label": b.label,
                    "point": _t(b.point), "expiry": _t(b.expiry), "seq": b.seq,
                }
                for b in sorted(live_backups, key=lambda b: b.seq)
            ],
            "operations": [
                {
                    "id": o.id, "kind": o.kind.value, "environmentId": o.environment_id,
                    "createdAt": _t(o.created_at), "seq": o.seq,
                    "queuedSeconds": o.queued_seconds, "stageSeconds": list(o.stage_seconds),
                    "failStage": o.fail_stage, "errorCode": o.error_code,
                    "errorMessage": o.error_message, "settleLagSeconds": o.settle_lag_seconds,
                    "params": o.params, "applied": o.applied,
                }
                for o in sorted(state.operations.values(), key=lambda o: o.seq)
            ],
        }


def restore_state(state: SimState, data: dict[str, Any]) -> None:
    """Replace `state`'s tenant with `data` (from `dump_state`)."""
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"unsupported state file version {data.get('version')!r}")
    environments = {
        raw["id"]: Environment(
            id=raw["id"], display_name=raw["displayName"], sku=raw["sku"],
            location=raw["location"], azure_region=raw["azureRegion"],
            managed=bool(raw["managed"]), is_default=bool(raw["isDefault"]),
            created_at=_req_t(raw["createdAt"]), seq=int(raw["seq"]),
            domain_name=raw["domainName"], runtime_state=raw["runtimeState"],
            background_operations=raw["backgroundOperations"],
            retention_floor=_parse_t(raw.get("retentionFloor")),
            security_group_id=raw.get("securityGroupId"),
            admin_forbidden_until=_parse_t(raw.get("adminForbiddenUntil")),
            content=[ContentVersion(_req_t(c["at"]), str(c["marker"])) for c in raw["content"]],
        )
        for raw in data["environments"]
    }
    backups = {
        raw["id"]: Backup(
            id=raw["id"], environment_id=raw["environmentId"], label=raw["label"],
            point=_req_t(raw["point"]), expiry=_req_t(raw["expiry"]), seq=int(raw["seq"]),
        )
        for raw in data["backups"]
    }
    operations = {
        raw["id"]: Operation(
            id=raw["id"], kind=OperationKind(raw["kind"]), environment_id=raw["environmentId"],
            created_at=_req_t(raw["createdAt"]), seq=int(raw["seq"]),
            queued_seconds=float(raw["queuedSeconds"]),
            stage_seconds=tuple(float(s) for s in raw["stageSeconds"]),
            fail_stage=raw.get("failStage"), error_code=raw.get("errorCode"),
            error_message=raw.get("errorMessage"),
            settle_lag_seconds=float(raw.get("settleLagSeconds", 0.0)),
            params=dict(raw.get("params") or {}), applied=bool(raw["applied"]),
        )
        for raw in data["operations"]
    }
    with state.lock:
        state.clear()
        state.tenant_id = str(data["tenantId"])
        state.environments.update(environments)
        state.backups.update(backups)
        state.operations.update(operations)
        state.restart_sequence(int(data.get("lastSeq", 0)))
        state.reindex_active()
        clock = _parse_t(data.get("clock"))
        if clock is not None:
            state.clock.advance_to(clock)
        state.settle()


def save_state(state: SimState, path: Path, extra: Mapping[str, Any] | None = None) -> None:
    """Write atomically (temp file + rename), so Ctrl-C mid-save never leaves half a file.

    `extra`: more top-level keys (the Dataverse organisations, `dataverse/persist.py`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({**dump_state(state), **(extra or {})}, indent=2)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(state: SimState, path: Path) -> dict[str, Any]:
    """Restore the tenant from `path`; returns the whole file (for the `extra` keys)."""
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    restore_state(state, data)
    return data
