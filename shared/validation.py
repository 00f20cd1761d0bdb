"""Validation of intake requests (contract section 3), shared by the queue, HTTP and CLI paths.

Pure functions: a decoded JSON value in, a typed request out, or one `RequestInvalid` that names
every bad field, so a person fixes the request in one go. Unknown fields are refused (a typo such
as `lable` must not silently produce an unlabeled backup).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from shared.errors import RequestInvalid
from shared.inputs import (
    json_type,
    parse_guid,
    parse_request_id,
    parse_text,
    parse_timestamp,
    quote,
)

T = TypeVar("T")

MAX_LABEL = 200
MAX_NOTES = 2000
MAX_REASON = 2000
MAX_REQUESTED_BY = 256
MAX_BACKUP_ID = 200
MAX_CONFIRMATION = 256
# Unknown fields named in one refusal; the rest are counted (a hostile body can hold thousands,
# and the refusal is kept in history, whose rows have a size limit).
_UNKNOWN_NAMED = 5


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
        unknown = sorted(set(data) - allowed)
        for name in unknown[:_UNKNOWN_NAMED]:
            self.problems[quote(name)[1:-1]] = (
                f"unknown field; allowed fields are {', '.join(sorted(allowed))}"
            )
        if len(unknown) > _UNKNOWN_NAMED:
            self.problems["(more)"] = f"{len(unknown) - _UNKNOWN_NAMED} more unknown fields"

    def string(
        self, name: str, *, required: bool = False, max_length: int, multiline: bool = False
    ) -> str | None:
        value = self.data.get(name)
        text: str | None = None
        if value is not None:
            try:
                text = parse_text(value, max_length=max_length, multiline=multiline)
            except ValueError as error:
                self.problems[name] = str(error)
                return None
        if text is None and required:
            self.problems[name] = "is required" if value is None else "must not be empty"
        return text

    def parsed(self, name: str, parse: Callable[[object], T]) -> T | None:
        """`parse` of the field, None when it is absent; a ValueError is the field's problem."""
        value = self.data.get(name)
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as error:
            self.problems[name] = str(error)
            return None

    def guid(self, name: str, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problems[name] = "is required"
            return None
        try:
            return parse_guid(value)
        except ValueError:
            self.problems[name] = (
                "must be an environment id (a GUID such as 00000000-0000-0000-0000-000000000000)"
            )
            return None

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problems[name] = f"must be true or false, not {json_type(value)}"
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
    notes = fields.string("notes", max_length=MAX_NOTES, multiline=True)
    requested_by = fields.string("requestedBy", max_length=MAX_REQUESTED_BY)
    request_id = fields.parsed("requestId", parse_request_id)
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
    restore_point = fields.parsed("restorePointDateTime", parse_timestamp)
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
        reason=fields.string("reason", max_length=MAX_REASON, multiline=True),
        request_id=fields.parsed("requestId", parse_request_id),
    )
    fields.raise_if_any("restore request")
    return request


def parse_requested_by(value: object) -> str | None:
    """Who asks, where a caller names it outside a request (a cancel body, a CLI option)."""
    if value is None:
        return None
    try:
        return parse_text(value, max_length=MAX_REQUESTED_BY)
    except ValueError as error:
        raise RequestInvalid(
            "InvalidRequest", f"requestedBy {error}.", {"requestedBy": str(error)}
        ) from None


def _object(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise RequestInvalid(
            "InvalidRequest", f"The {what} must be a JSON object, not {json_type(data)}"
        )
    return data
