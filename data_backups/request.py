"""The data backup request (contract section 9): the queue message and the POST body.

Parsed like every intake request (`shared.validation.validate_object`: unknown members refused,
every bad field named in one `RequestInvalid`), with `shared.inputs`' parsers per kind.
Imported inside function bodies only (pydantic loads with it).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import ConfigDict, Field, PlainValidator
from pydantic.dataclasses import dataclass

from shared.inputs import json_type, parse_text
from shared.validation import (
    MAX_LABEL,
    EnvironmentId,
    RequestedBy,
    RequestId,
    validate_object,
)

MAX_TABLES = 500
_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")


def _tables(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError(f"must be a list of table logical names, not {json_type(value)}")
    if not value or len(value) > MAX_TABLES:
        raise ValueError(f"must name 1 to {MAX_TABLES} tables (omit it for every table)")
    names = []
    for item in value:
        if not isinstance(item, str) or not _TABLE.match(item.strip().lower()):
            shown = item[:60] if isinstance(item, str) else json_type(item)
            raise ValueError(
                f"must hold table logical names (letters, digits and '_', e.g. account); "
                f"got {shown!r}"
            )
        names.append(item.strip().lower())
    return tuple(dict.fromkeys(names))


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
