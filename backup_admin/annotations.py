"""Editing what the ledger keeps about a backup: its label and notes (`PATCH
/api/operations/{id}`, `ppbackup annotate`). Pure: parsing the body and applying the edit.

The platform keeps the label a backup was made with (it has no update call); the ledger's label
and notes are the app's own, and every edit is kept in the record's history, under
`options.annotations`: `[{"at", "by", "changes": {"label"|"notes": {"from", "to"}}}]`, oldest
first, the newest MAX_ANNOTATIONS of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from backup_admin.guards import Refusal
from shared.errors import RequestInvalid
from shared.inputs import parse_text, quote
from shared.operations import Operation, OperationKind, format_time
from shared.validation import MAX_LABEL, MAX_NOTES, MAX_REQUESTED_BY

ANNOTATION_FIELDS = ("label", "notes")
MAX_ANNOTATIONS = 20
HISTORY_KEY = "annotations"


@dataclass(frozen=True, slots=True)
class Annotation:
    """What to change; a field left out stays as it is. `notes` None clears the notes."""

    label: str | None = None
    notes: str | None = None
    set_label: bool = False
    set_notes: bool = False


def parse_annotation(data: object) -> Annotation:
    """The body `{"label"?, "notes"?}`: at least one; unknown fields refused. A label cannot be
    emptied (a backup is found by it); notes can (`""` or null)."""
    if not isinstance(data, Mapping):
        raise RequestInvalid(
            "InvalidRequest", 'The body must be a JSON object: {"label"?: "...", "notes"?: "..."}.'
        )
    problems: dict[str, str] = {}
    for name in sorted(set(data) - set(ANNOTATION_FIELDS))[:5]:
        problems[quote(str(name))[1:-1]] = "unknown field; allowed fields are label, notes"
    if not set(data) & set(ANNOTATION_FIELDS) and not problems:
        problems["body"] = "name label, notes or both"
    label: str | None = None
    if "label" in data:
        try:
            label = parse_text(data["label"], max_length=MAX_LABEL)
        except ValueError as error:
            problems["label"] = str(error)
        else:
            if label is None:
                problems["label"] = "must not be empty (a backup is found by its label)"
    notes: str | None = None
    if "notes" in data and data["notes"] is not None:
        try:
            notes = parse_text(data["notes"], max_length=MAX_NOTES, multiline=True)
        except ValueError as error:
            problems["notes"] = str(error)
    if problems:
        summary = "; ".join(f"{k}: {v}" for k, v in problems.items())
        raise RequestInvalid("InvalidRequest", f"The annotation is invalid: {summary}", problems)
    return Annotation(label=label, notes=notes, set_label="label" in data,
                      set_notes="notes" in data)


def annotation_problem(operation: Operation) -> Refusal | None:
    """Why `operation`'s label and notes cannot be edited (HTTP 409); None if they can."""
    if operation.kind is not OperationKind.BACKUP:
        return Refusal(
            "NotABackup",
            f"{operation.operation_id} is a {operation.kind.value}, not a backup: only what the "
            "ledger keeps about a backup can be edited.",
        )
    if not operation.status.terminal:
        # Its attempts still create (or look for) the platform backup by this label.
        return Refusal(
            "BackupStillRunning",
            f"Backup {operation.operation_id} is still {operation.status.value}; edit it once "
            "it has ended.",
        )
    return None


def annotate(
    operation: Operation, annotation: Annotation, *, by: str, now: datetime
) -> Operation | None:
    """`operation` with the edit applied and kept in its history; None when nothing changes
    (a repeated request is not a second edit)."""
    changes: dict[str, dict[str, Any]] = {}
    label, notes = operation.label, operation.notes
    if annotation.set_label and annotation.label != operation.label:
        changes["label"] = {"from": operation.label, "to": annotation.label}
        label = annotation.label
    if annotation.set_notes and annotation.notes != operation.notes:
        changes["notes"] = {"from": operation.notes, "to": annotation.notes}
        notes = annotation.notes
    if not changes:
        return None
    entry = {"at": format_time(now), "by": by[:MAX_REQUESTED_BY], "changes": changes}
    history = [*list(operation.options.get(HISTORY_KEY) or []), entry][-MAX_ANNOTATIONS:]
    options = {**operation.options, HISTORY_KEY: history}
    return replace(operation, label=label, notes=notes, options=options, updated_at=now)
