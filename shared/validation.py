"""Validation of intake requests (contract section 3), shared by the queue, HTTP and CLI paths.

The requests are pydantic dataclasses: a decoded JSON value in, a typed request out, or one
`RequestInvalid` that names every bad field, so a person fixes the request in one go (pydantic
reads every field before it reports). Unknown fields are refused (a typo such as `lable` must not
silently produce an unlabeled backup). Each field's rule is `shared.inputs`'s parser for its kind,
attached with `Annotated`: the models say which member is which kind, the parsers say what a kind
accepts, and the messages are theirs ("<field> must be ...").

pydantic takes about 0.2 s to import: this module is imported inside function bodies, on first
use, never when the host indexes the app (tests/contract/test_cold_imports.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Final, TypeVar

from pydantic import ConfigDict, Field, PlainValidator, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from shared.errors import RequestInvalid
from shared.inputs import (
    is_table_name,
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
MAX_TABLES = 500
# Unknown fields named in one refusal; the rest are counted (a hostile body can hold thousands,
# and the refusal is kept in history, whose rows have a size limit).
_UNKNOWN_NAMED = 5


# --------------------------------------------------------------------------------- field kinds
# A JSON null is an absent member everywhere: a required field "is required", an optional one
# takes its default. Each is a PlainValidator: the parser alone decides, pydantic adds no
# coercion of its own.


def _required(parse: Callable[[object], T | None]) -> PlainValidator:
    def required(value: object) -> T:
        if value is None:
            raise ValueError("is required")
        parsed = parse(value)
        if parsed is None:
            raise ValueError("must not be empty")
        return parsed

    return PlainValidator(required)


def _optional(parse: Callable[[object], T | None]) -> PlainValidator:
    return PlainValidator(lambda value: None if value is None else parse(value))


def _text(max_length: int, *, multiline: bool = False) -> Callable[[object], str | None]:
    return lambda value: parse_text(value, max_length=max_length, multiline=multiline)


def _environment_id(value: object) -> str:
    try:
        return parse_guid(value)
    except ValueError:
        raise ValueError(
            "must be an environment id (a GUID such as 00000000-0000-0000-0000-000000000000)"
        ) from None


def flag(default: bool) -> PlainValidator:
    """A JSON boolean; null or absent is `default`."""

    def read(value: object) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {json_type(value)}")
        return value

    return PlainValidator(read)


def parse_table_names(value: object, *, when_omitted: str = "") -> tuple[str, ...]:
    """1 to MAX_TABLES Dataverse logical names, trimmed and lower-cased, each once (in order);
    `when_omitted` says what leaving the field out would mean, where it may be left out."""
    if not isinstance(value, list):
        raise ValueError(f"must be a list of table logical names, not {json_type(value)}")
    if not value or len(value) > MAX_TABLES:
        raise ValueError(f"must name 1 to {MAX_TABLES} tables{when_omitted}")
    names = []
    for item in value:
        if not isinstance(item, str) or not is_table_name(item.strip().lower()):
            shown = item[:60] if isinstance(item, str) else json_type(item)
            raise ValueError(
                f"must hold table logical names (letters, digits and '_', e.g. account); "
                f"got {shown!r}"
            )
        names.append(item.strip().lower())
    return tuple(dict.fromkeys(names))


def choice(*values: str) -> PlainValidator:
    """One of `values` (a JSON string, exactly as spelled); null or absent is the first."""

    def read(value: object) -> str:
        if value is None:
            return values[0]
        if not isinstance(value, str) or value not in values:
            shown = value if isinstance(value, str) else json_type(value)
            raise ValueError(f"must be one of {', '.join(values)}; got {shown!r}")
        return value

    return PlainValidator(read)


RequestedBy = Annotated[
    str | None, Field(alias="requestedBy"), _optional(_text(MAX_REQUESTED_BY))
]
Reason = Annotated[
    str | None, Field(alias="reason"), _optional(_text(MAX_REASON, multiline=True))
]
ConfirmProduction = Annotated[
    str | None, Field(alias="confirmProduction"), _optional(_text(MAX_CONFIRMATION))
]
RequestId = Annotated[str | None, Field(alias="requestId"), _optional(parse_request_id)]
# A required environment id, in its canonical spelling.
EnvironmentId = Annotated[str, _required(_environment_id)]
# One that defaults to another member of its request: "" when not given (the model fills it in).
DefaultedEnvironmentId = Annotated[
    str, PlainValidator(lambda value: "" if value is None else _environment_id(value))
]
# A backup's notes: in a backup request, and in the edit of a backup's label and notes.
Notes = Annotated[str | None, _optional(_text(MAX_NOTES, multiline=True))]

# The JSON request is camelCase (the contract), Python snake_case; only the contract's names are
# read: a snake_case member is an unknown field.
_CONFIG = ConfigDict(extra="forbid", validate_by_alias=True, validate_by_name=False)


@dataclass(frozen=True, slots=True, config=_CONFIG)
class BackupRequest:
    environment_id: Annotated[EnvironmentId, Field(alias="environmentId")]
    label: Annotated[str, Field(alias="label"), _required(_text(MAX_LABEL))]
    notes: Notes = None
    requested_by: RequestedBy = None
    request_id: RequestId = None


# The restore's four ways to name its source; exactly one is given.
BackupId = Annotated[str | None, Field(alias="backupId"), _optional(_text(MAX_BACKUP_ID))]
BackupLabel = Annotated[str | None, Field(alias="backupLabel"), _optional(_text(MAX_LABEL))]
RestorePoint = Annotated[
    datetime | None, Field(alias="restorePointDateTime"), _optional(parse_timestamp)
]
Latest = Annotated[bool, Field(alias="latest"), flag(False)]


@dataclass(frozen=True, slots=True, config=_CONFIG)
class RestoreRequest:
    target_environment_id: Annotated[EnvironmentId, Field(alias="targetEnvironmentId")]
    # Empty when not given: then it is the target (a restore in place), see __post_init__.
    source_environment_id: Annotated[
        DefaultedEnvironmentId, Field(alias="sourceEnvironmentId")
    ] = ""
    backup_id: BackupId = None
    backup_label: BackupLabel = None
    restore_point: RestorePoint = None
    latest: Latest = False
    skip_audit_data: Annotated[bool, Field(alias="skipAuditData"), flag(True)] = True
    safety_backup: Annotated[bool, Field(alias="safetyBackup"), flag(True)] = True
    confirm_production: ConfirmProduction = None
    dry_run: Annotated[bool, Field(alias="dryRun"), flag(False)] = False
    # Which cloud flows the step after the restore turns on (contract sections 3 and 11).
    reactivate_flows: Annotated[
        str, Field(alias="reactivateFlows"), choice("previous", "all", "none")
    ] = "previous"
    requested_by: RequestedBy = None
    reason: Reason = None
    request_id: RequestId = None

    def __post_init__(self) -> None:
        if not self.source_environment_id:
            object.__setattr__(self, "source_environment_id", self.target_environment_id)

    @property
    def source_kind(self) -> str:
        return next(iter(_sources(self)), "latest")


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="ignore"))
class _RestoreSource:
    """The source members alone, read when another member of a restore request is bad: the
    one-source rule is still checked, so every problem is reported at once."""

    backup_id: BackupId = None
    backup_label: BackupLabel = None
    restore_point: RestorePoint = None
    latest: Latest = False


SOURCE_FIELDS: Final = ("backupId", "backupLabel", "restorePointDateTime", "latest")


def _sources(request: RestoreRequest | _RestoreSource) -> list[str]:
    """The source members a request gives (a valid one, exactly one)."""
    given = (
        request.backup_id is not None,
        request.backup_label is not None,
        request.restore_point is not None,
        request.latest,
    )
    return [name for name, present in zip(SOURCE_FIELDS, given, strict=True) if present]


def parse_backup_request(data: object) -> BackupRequest:
    return validate_object(BackupRequest, data, "backup request")


def parse_restore_request(data: object) -> RestoreRequest:
    what = "restore request"
    try:
        request = validate_object(RestoreRequest, data, what)
    except RequestInvalid as error:
        if error.fields and not error.fields.keys() & set(SOURCE_FIELDS):
            # Other members are bad; the source rule is still named with them.
            source = _adapter(_RestoreSource).validate_python(data)
            problem = _source_problem(_sources(source))
            if problem is not None:
                raise invalid_request(what, {**error.fields, "source": problem}) from None
        raise
    problem = _source_problem(_sources(request))
    if problem is not None:
        raise invalid_request(what, {"source": problem})
    return request


def _source_problem(chosen: list[str]) -> str | None:
    if len(chosen) == 1:
        return None
    what = "none was given" if not chosen else f"got {', '.join(chosen)}"
    return (
        "give exactly one of backupId, backupLabel, restorePointDateTime or latest: true "
        f"({what})"
    )


@dataclass(frozen=True, slots=True, config=_CONFIG)
class CancelRequest:
    """The optional body of `POST /api/operations/{id}/cancel`: who asks."""

    requested_by: RequestedBy = None


def parse_cancel_request(data: object) -> CancelRequest:
    return validate_object(CancelRequest, data, "cancel body")


def parse_requested_by(value: object) -> str | None:
    """Who asks, where a caller names it outside a request body (a CLI option)."""
    return validate_object(CancelRequest, {"requestedBy": value}, "caller's name").requested_by


# ------------------------------------------------------------------------------------ reporting


def validate_object(model: type[T], data: object, what: str) -> T:
    """`data` (a decoded JSON value) read as `model`; one RequestInvalid naming every problem
    otherwise, `what` saying what was sent ("backup request")."""
    if not isinstance(data, Mapping):
        raise RequestInvalid(
            "InvalidRequest", f"The {what} must be a JSON object, not {json_type(data)}"
        )
    try:
        return _adapter(model).validate_python(dict(data))
    except ValidationError as error:
        raise invalid_request(what, field_problems(error, fields_of(model))) from None


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(model: type[T]) -> TypeAdapter[T]:
    """The model's validator, built once (building one costs a few milliseconds)."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter


def fields_of(model: type) -> frozenset[str]:
    """The JSON members `model` reads."""
    fields: dict[str, Any] = model.__pydantic_fields__  # type: ignore[attr-defined]
    return frozenset(info.alias or name for name, info in fields.items())


BACKUP_FIELDS = fields_of(BackupRequest)
RESTORE_FIELDS = fields_of(RestoreRequest)


def field_problems(error: ValidationError, allowed: frozenset[str]) -> dict[str, str]:
    """What pydantic found, keyed by the JSON member: unknown members first (the first few by
    name, the rest counted), then each bad field with its parser's message."""
    unknown: list[str] = []
    problems: dict[str, str] = {}
    for item in error.errors(include_url=False):
        name = str(item["loc"][0]) if item["loc"] else "body"
        if item["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            unknown.append(name)
        elif item["type"] == "missing":
            problems[name] = "is required"
        else:
            cause = (item.get("ctx") or {}).get("error")
            problems[name] = str(cause) if isinstance(cause, ValueError) else item["msg"]
    named = {
        quote(name)[1:-1]: f"unknown field; allowed fields are {', '.join(sorted(allowed))}"
        for name in sorted(unknown)[:_UNKNOWN_NAMED]
    }
    if len(unknown) > _UNKNOWN_NAMED:
        named["(more)"] = f"{len(unknown) - _UNKNOWN_NAMED} more unknown fields"
    return {**named, **problems}


def invalid_request(what: str, problems: Mapping[str, str]) -> RequestInvalid:
    """The refusal of a `what` ("restore request") naming each of `problems`."""
    summary = "; ".join(f"{k}: {v}" for k, v in problems.items())
    return RequestInvalid("InvalidRequest", f"The {what} is invalid: {summary}", problems)
