"""Editing what the ledger keeps about a backup: its label and notes (`PATCH
/api/operations/{id}`, `ppbackup annotate`). Pure: parsing the body and applying the edit.

The platform keeps the label a backup was made with (it has no update call); the ledger's label
and notes are the app's own, and every edit is kept in the record's history, under
`options.annotations`: `[{"at", "by", "changes": {"label"|"notes": {"from", "to"}}}]`, oldest
first, the newest MAX_ANNOTATIONS of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator

from backup_admin.guards import Refusal
from shared.errors import RequestInvalid
from shared.inputs import parse_text
from shared.operations import Operation, OperationKind, format_time
from shared.validation import MAX_LABEL, MAX_REQUESTED_BY, Notes, validate_object

MAX_ANNOTATIONS = 20
HISTORY_KEY = "annotations"


@dataclass(frozen=True, slots=True)
class Annotation:
    """What to change; a field left out stays as it is. `notes` None clears the notes."""

    label: str | None = None
    notes: str | None = None
    set_label: bool = False
    set_notes: bool = False


def _label(value: object) -> str:
    label = parse_text(value, max_length=MAX_LABEL)
    if label is None:
        raise ValueError("must not be empty (a backup is found by its label)")
    return label


class AnnotationBody(BaseModel):
    """The body `{"label"?, "notes"?}`. A label cannot be emptied (a backup is found by it);
    notes can (`""` or null). Which members were sent is `model_fields_set`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Annotated[str | None, PlainValidator(_label)] = None
    notes: Notes = None


def parse_annotation(data: object) -> Annotation:
    """The edit a PATCH body asks for: at least one of label and notes; unknown fields refused."""
    body = validate_object(AnnotationBody, data, "annotation")
    sent = body.model_fields_set
    if not sent:
        raise RequestInvalid(
            "InvalidRequest", "The annotation is invalid: name label, notes or both.",
            {"body": "name label, notes or both"},
        )
    return Annotation(label=body.label, notes=body.notes, set_label="label" in sent,
                      set_notes="notes" in sent)


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
