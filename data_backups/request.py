"""The data backup request (contract section 9): the queue message and the POST body.

Parsed like every intake request (`shared.validation.validate_object`: unknown members refused,
every bad field named in one `RequestInvalid`), with `shared.inputs`' parsers per kind.
Imported inside function bodies only (pydantic loads with it).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, PlainValidator
from pydantic.dataclasses import dataclass

from shared.inputs import json_type, parse_text
from shared.validation import (
    MAX_LABEL,
    EnvironmentId,
    RequestedBy,
    RequestId,
    parse_table_names,
    validate_object,
)


def _tables(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    return parse_table_names(value, when_omitted=" (omit it for every table)")


def _full(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {json_type(value)}")
    return value


def _label(value: object) -> str | None:
    return None if value is None else parse_text(value, max_length=MAX_LABEL)


_CONFIG = ConfigDict(extra="forbid", validate_by_alias=True, validate_by_name=False)


@dataclass(frozen=True, slots=True, config=_CONFIG)
class DataBackupRequest:
    environment_id: Annotated[EnvironmentId, Field(alias="environmentId")]
    tables: Annotated[tuple[str, ...] | None, PlainValidator(_tables)] = None
    full: Annotated[bool, PlainValidator(_full)] = False
    label: Annotated[str | None, PlainValidator(_label)] = None
    requested_by: RequestedBy = None
    request_id: RequestId = None


def parse_data_backup_request(data: object) -> DataBackupRequest:
    return validate_object(DataBackupRequest, data, "data backup request")
