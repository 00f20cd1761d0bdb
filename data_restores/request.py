"""The record restore request (contract section 10): the queue message and the POST body.

Parsed like every intake request (`shared.validation.validate_object`: unknown members refused,
every bad field named in one `RequestInvalid`), with `shared.inputs`' parsers per kind. Imported
inside function bodies only (pydantic loads with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Final

from pydantic import ConfigDict, Field, PlainValidator
from pydantic.dataclasses import dataclass

from shared.errors import RequestInvalid
from shared.inputs import json_type, parse_guid, parse_timestamp
from shared.validation import (
    ConfirmProduction,
    DefaultedEnvironmentId,
    EnvironmentId,
    Reason,
    RequestedBy,
    RequestId,
    choice,
    flag,
    invalid_request,
    parse_table_names,
    validate_object,
)

MAX_RECORD_IDS = 1000
MODES: Final = ("missing", "changed", "all")
# The two ways to name the point; exactly one is given.
POINT_FIELDS: Final = ("pointId", "at")


def _tables(value: object) -> tuple[str, ...]:
    if value is None:
        raise ValueError("is required: name the tables to restore rows of, e.g. [\"account\"]")
    return parse_table_names(value)


def _point_id(value: object) -> str | None:
    from shared.data_store.layout import check_point_id

    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {json_type(value)}")
    try:
        return check_point_id(value.strip())
    except ValueError:
        raise ValueError(
            "must be a data backup point id such as 20261203T020000123Z-1a2b3c4d "
            "(ppbackup data points ENV_ID lists them)"
        ) from None


def _at(value: object) -> datetime | None:
    return None if value is None else parse_timestamp(value)


def _record_ids(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError(f"must be a list of record ids (GUIDs), not {json_type(value)}")
    if not value or len(value) > MAX_RECORD_IDS:
        raise ValueError(
            f"must hold 1 to {MAX_RECORD_IDS} record ids (omit it for every row of the tables)"
        )
    ids = []
    for item in value:
        try:
            ids.append(parse_guid(item))
        except ValueError:
            shown = item[:60] if isinstance(item, str) else json_type(item)
            raise ValueError(
                f"must hold record ids (GUIDs such as 00000000-0000-0000-0000-000000000000); "
                f"got {shown!r}"
            ) from None
    return tuple(dict.fromkeys(ids))


_CONFIG = ConfigDict(extra="forbid", validate_by_alias=True, validate_by_name=False)


@dataclass(frozen=True, slots=True, config=_CONFIG)
class DataRestoreRequest:
    source_environment_id: Annotated[EnvironmentId, Field(alias="sourceEnvironmentId")]
    tables: Annotated[tuple[str, ...], PlainValidator(_tables)]
    # Empty when not given: then it is the source (a restore in place), see __post_init__.
    target_environment_id: Annotated[
        DefaultedEnvironmentId, Field(alias="targetEnvironmentId")
    ] = ""
    point_id: Annotated[str | None, Field(alias="pointId"), PlainValidator(_point_id)] = None
    at: Annotated[datetime | None, Field(alias="at"), PlainValidator(_at)] = None
    record_ids: Annotated[
        tuple[str, ...] | None, Field(alias="recordIds"), PlainValidator(_record_ids)
    ] = None
    mode: Annotated[str, Field(alias="mode"), choice(*MODES)] = "missing"
    with_related: Annotated[bool, Field(alias="withRelated"), flag(False)] = False
    apply: Annotated[bool, Field(alias="apply"), flag(False)] = False
    confirm_production: ConfirmProduction = None
    requested_by: RequestedBy = None
    reason: Reason = None
    request_id: RequestId = None

    def __post_init__(self) -> None:
        if not self.target_environment_id:
            object.__setattr__(self, "target_environment_id", self.source_environment_id)


def parse_data_restore_request(data: object) -> DataRestoreRequest:
    what = "record restore request"
    try:
        request = validate_object(DataRestoreRequest, data, what)
    except RequestInvalid as error:
        if error.fields and isinstance(data, Mapping) and not error.fields.keys() & set(
            POINT_FIELDS
        ):
            # Other members are bad: the one-point rule is still named with them, so a person
            # fixes the request in one go.
            problem = _point_problem(data)
            if problem is not None:
                raise invalid_request(what, {**error.fields, "point": problem}) from None
        raise
    problem = _point_problem(data) if isinstance(data, Mapping) else None  # (it is: it validated)
    if problem is not None:
        raise invalid_request(what, {"point": problem})
    return request


def _point_problem(data: Mapping[str, object]) -> str | None:
    given = [name for name in POINT_FIELDS if data.get(name) is not None]
    if len(given) == 1:
        return None
    what = "none was given" if not given else "both were given"
    return f"give exactly one of pointId or at ({what})"

