"""Validation of intake requests (contract section 3), shared by the queue, HTTP and CLI paths.

Pure functions: a decoded JSON value in, a typed request out, or one `RequestInvalid` that names
every bad field, so a person fixes the request in one go. Unknown fields are refused (a typo such
as `lable` must not silently produce an unlabeled backup).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.errors import RequestInvalid

MAX_LABEL = 200
MAX_NOTES = 2000
MAX_REASON = 2000
MAX_REQUESTED_BY = 256
MAX_REQUEST_ID = 200
MAX_BACKUP_ID = 200
MAX_CONFIRMATION = 256

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


@dataclass(frozen=True, slots=True)
class BackupRequest:
    environment_id: str
    label: str
    notes: str | None = None
    requested_by: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class RestoreRequest:
    target_environment_id: str
    source_environment_id: str
    backup_id: str | None = None
    backup_label: str | None = None
    restore_point: datetime | None = None
    latest: bool = False
    skip_audit_data: bool = True
    safety_backup: bool = True
    confirm_production: str | None = None
    dry_run: bool = False
    requested_by: str | None = None
    reason: str | None = None
    request_id: str | None = None

    @property
    def source_kind(self) -> str:
        if self.backup_id is not None:
            return "backupId"
        if self.backup_label is not None:
            return "backupLabel"
        if self.restore_point is not None:
            return "restorePointDateTime"
        return "latest"


class _Fields:
    """Collects field problems while reading a JSON object."""

    def __init__(self, data: Mapping[str, Any], allowed: frozenset[str]) -> None:
        self.data = data
        self.problems: dict[str, str] = {}
        for name in sorted(set(data) - allowed):
            self.problems[name] = f"unknown field; allowed fields are {', '.join(sorted(allowed))}"

    def string(self, name: str, *, required: bool = False, max_length: int) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problems[name] = "is required"
            return None
        if not isinstance(value, str):
            self.problems[name] = f"must be a string, not {_json_type(value)}"
            return None
        text = value.strip()
        if not text:
            if required:
                self.problems[name] = "must not be empty"
            return None
        if len(text) > max_length:
            self.problems[name] = f"must be at most {max_length} characters (got {len(text)})"
            return None
        if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
            self.problems[name] = "must not contain control characters"
            return None
        return text

    def guid(self, name: str, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problems[name] = "is required"
            return None
        if not isinstance(value, str) or not is_guid(value):
            self.problems[name] = (
                "must be an environment id (a GUID such as 00000000-0000-0000-0000-000000000000)"
            )
            return None
        return value.strip().lower()

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problems[name] = f"must be true or false, not {_json_type(value)}"
            return default
        return value

    def raise_if_any(self, what: str) -> None:
        if self.problems:
            summary = "; ".join(f"{k}: {v}" for k, v in self.problems.items())
            raise RequestInvalid(
                "InvalidRequest", f"The {what} is invalid: {summary}", self.problems
            )


BACKUP_FIELDS = frozenset({"environmentId", "label", "notes", "requestedBy", "requestId"})
RESTORE_FIELDS = frozenset(
    {
        "targetEnvironmentId",
        "sourceEnvironmentId",
        "backupId",
        "backupLabel",
        "restorePointDateTime",
        "latest",
        "skipAuditData",
        "safetyBackup",
        "confirmProduction",
        "dryRun",
        "requestedBy",
        "reason",
        "requestId",
    }
)


def parse_backup_request(data: object) -> BackupRequest:
    obj = _object(data, "backup request")
    fields = _Fields(obj, BACKUP_FIELDS)
    environment_id = fields.guid("environmentId", required=True)
    label = fields.string("label", required=True, max_length=MAX_LABEL)
    notes = fields.string("notes", max_length=MAX_NOTES)
    requested_by = fields.string("requestedBy", max_length=MAX_REQUESTED_BY)
    request_id = fields.string("requestId", max_length=MAX_REQUEST_ID)
    fields.raise_if_any("backup request")
    # Narrowing only: a missing field was reported above.
    assert environment_id is not None
    assert label is not None
    return BackupRequest(environment_id, label, notes, requested_by, request_id)


def parse_restore_request(data: object) -> RestoreRequest:
    obj = _object(data, "restore request")
    fields = _Fields(obj, RESTORE_FIELDS)
    target = fields.guid("targetEnvironmentId", required=True)
    source = fields.guid("sourceEnvironmentId")
    backup_id = fields.string("backupId", max_length=MAX_BACKUP_ID)
    backup_label = fields.string("backupLabel", max_length=MAX_LABEL)
    restore_point = _restore_point(fields)
    latest = fields.boolean("latest", False)
    chosen = [
        name
        for name, present in (
            ("backupId", backup_id is not None),
            ("backupLabel", backup_label is not None),
            ("restorePointDateTime", restore_point is not None),
            ("latest", latest),
        )
        if present
    ]
    if len(chosen) != 1 and not any(
        k in fields.problems for k in ("backupId", "backupLabel", "restorePointDateTime", "latest")
    ):
        what = "none was given" if not chosen else f"got {', '.join(chosen)}"
        fields.problems["source"] = (
            "give exactly one of backupId, backupLabel, restorePointDateTime or latest: true "
            f"({what})"
        )
    request = RestoreRequest(
        target_environment_id=target or "",
        source_environment_id=source or target or "",
        backup_id=backup_id,
        backup_label=backup_label,
        restore_point=restore_point,
        latest=latest,
        skip_audit_data=fields.boolean("skipAuditData", True),
        safety_backup=fields.boolean("safetyBackup", True),
        confirm_production=fields.string("confirmProduction", max_length=MAX_CONFIRMATION),
        dry_run=fields.boolean("dryRun", False),
        requested_by=fields.string("requestedBy", max_length=MAX_REQUESTED_BY),
        reason=fields.string("reason", max_length=MAX_REASON),
        request_id=fields.string("requestId", max_length=MAX_REQUEST_ID),
    )
    fields.raise_if_any("restore request")
    return request


def _restore_point(fields: _Fields) -> datetime | None:
    raw = fields.data.get("restorePointDateTime")
    if raw is None:
        return None
    if not isinstance(raw, str) or not _RFC3339.match(raw.strip()):
        fields.problems["restorePointDateTime"] = (
            "must be an RFC 3339 date-time with a UTC offset, e.g. 2026-11-20T09:00:00+01:00 "
            "or 2026-11-20T08:00:00Z"
        )
        return None
    return parse_rfc3339(raw)


def parse_rfc3339(raw: str) -> datetime:
    text = raw.strip().replace("t", "T").replace(" ", "T")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python keeps microseconds only; platform restore points are at most millisecond-precise.
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", text)
    if match and match.group(2):
        text = match.group(1) + match.group(2)[:7] + match.group(3)
    return datetime.fromisoformat(text)


def is_guid(value: str) -> bool:
    text = value.strip()
    if len(text) != 36:
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _object(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise RequestInvalid(
            "InvalidRequest", f"The {what} must be a JSON object, not {_json_type(data)}"
        )
    return data


def _json_type(value: object) -> str:
    names: dict[type, str] = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)
