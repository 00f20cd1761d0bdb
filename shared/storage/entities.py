"""Operation <-> Table entity mapping, and Table Storage's entity limits enforced in our own code.

Azurite does not enforce the 1 MiB entity or the 252-property limit (reference 5.3), so a test
suite that only talks to Azurite would never see the errors Azure raises; we check before writing.

Layout of an operation entity:

    kind, status     plain strings: the only properties the listings filter on server-side
    record           the contract record (`Operation.to_record()`, steps and options included) as
                     JSON; `record1`, `record2`, ... + `recordParts` when it passes 32K characters
    internal         the orchestrator's private state as JSON, split the same way (main row only)
    v                layout version

Why one JSON document rather than a property per field: the Python SDK decodes entities property
by property (and datetimes through their `@odata.type` annotations), which made a 50-row
listing of a 16-property layout cost ~3x the same rows with 5 properties (8.3 ms vs 3.1 ms on
Azurite, see bench/history_bench.py), while the point read barely changed. Datetimes inside the
JSON are RFC 3339 UTC with milliseconds, as in the contract record.

Why split strings instead of refusing them: a worst-case restore record (seven steps at the
model's caps, details of characters JSON escapes six-fold) is legitimately larger than 32K
characters, and a checkpoint that cannot be written strands a restore half-way. Splitting bounds
every property at 32K, so only the 1 MiB entity limit can refuse a record, with a clear
ValueError and before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import EdmType, EntityProperty

from shared.operations import Operation

SCHEMA_VERSION = 1
# Edm.String is at most 64 KiB in UTF-16, i.e. 32K code units (Azurite agrees: 32768 accepted,
# 32769 refused; an astral character counts twice).
MAX_STRING_UNITS = 32 * 1024
MAX_ENTITY_BYTES = 1024 * 1024
MAX_CUSTOM_PROPERTIES = 252
_INT32 = range(-(2**31), 2**31)


def operation_entity(
    operation: Operation,
    *,
    partition_key: str,
    row_key: str,
    internal: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The entity for `operation`; ValueError if it would break a Table Storage limit."""
    _check_times(operation)
    record = operation.to_record()
    record.pop("durationSeconds", None)  # derived from the times; from_record ignores it
    entity: dict[str, Any] = {
        "PartitionKey": partition_key,
        "RowKey": row_key,
        "v": SCHEMA_VERSION,
        "kind": operation.kind.value,
        "status": operation.status.value,
    }
    entity.update(split_string("record", to_json(record, "the record")))
    if internal:
        entity.update(split_string("internal", to_json(dict(internal), "internal")))
    check_entity(entity, what=f"operation {operation.operation_id}")
    return entity


def entity_operation(entity: Mapping[str, Any]) -> Operation:
    return Operation.from_record(json.loads(join_string(entity, "record")))


def entity_internal(entity: Mapping[str, Any]) -> dict[str, Any]:
    text = join_string(entity, "internal") if "internal" in entity else "{}"
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("stored internal state is not a JSON object")
    return value


def split_string(name: str, text: str, *, units: int = MAX_STRING_UNITS) -> dict[str, Any]:
    """`{name: part0, name1: part1, ..., nameParts: n}`, every part within `units` UTF-16 units."""
    parts = list(_utf16_chunks(text, units))
    properties: dict[str, Any] = {name: parts[0]}
    for index, part in enumerate(parts[1:], start=1):
        properties[f"{name}{index}"] = part
    if len(parts) > 1:
        properties[f"{name}Parts"] = len(parts)
    return properties


def join_string(entity: Mapping[str, Any], name: str) -> str:
    # `or 1`: a `$select` of a property an entity lacks may come back as null (Azure) or absent.
    count = int(plain(entity.get(f"{name}Parts")) or 1)
    try:
        return str(entity[name]) + "".join(str(entity[f"{name}{i}"]) for i in range(1, count))
    except KeyError as exc:
        raise ValueError(f"entity is missing part {exc} of {name!r}") from exc


def _utf16_chunks(text: str, units: int) -> Iterator[str]:
    data = text.encode("utf-16-le")
    step = 2 * units
    start = 0
    while True:
        end = min(start + step, len(data))
        # Never cut between the two halves of a surrogate pair (an astral character).
        if end < len(data) and 0xD8 <= data[end - 1] <= 0xDB:
            end -= 2
        yield data[start:end].decode("utf-16-le")
        if end >= len(data):
            return
        start = end


def _check_times(operation: Operation) -> None:
    # A naive datetime would be formatted as local time; refuse it instead of guessing.
    for owner, names in [
        (
            operation,
            (
                "created_at",
                "updated_at",
                "ended_at",
                "backup_point",
                "backup_expiry",
                "restore_point",
            ),
        ),
        *[(step, ("started_at", "ended_at")) for step in operation.steps],
    ]:
        for name in names:
            value = getattr(owner, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(
                    f"operation {operation.operation_id}: {name} is a naive datetime; "
                    "the store needs timezone-aware values"
                )


def to_json(value: object, what: str) -> str:
    # ensure_ascii=False: Table Storage counts UTF-16 units, and `\uXXXX` escapes would turn one
    # unit into six (twelve for an astral character) and make the 32K cap six times closer.
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from exc


def utc(value: datetime | None, what: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"{what} is a naive datetime; the store needs timezone-aware values")
    return value.astimezone(UTC)


def from_table_time(value: object) -> datetime | None:
    """The SDK's TablesEntityDatetime as a plain aware datetime (tests compare records with ==)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"expected a datetime property, got {type(value).__name__}")
    v = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=UTC)


def int_property(value: int) -> int | EntityProperty:
    """Python ints are sent as Edm.Int32; anything wider must say Int64 (reference 2.6)."""
    return value if value in _INT32 else EntityProperty(value, EdmType.INT64)


def plain(value: object) -> Any:
    """Unwrap the EntityProperty the SDK returns for Int64 (and other typed) values."""
    return value.value if isinstance(value, EntityProperty) else value


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def entity_size(entity: Mapping[str, Any]) -> int:
    """Bytes by the service's formula (understanding-the-table-service-data-model#entity-size)."""
    size = 4
    for name, raw in entity.items():
        value = plain(raw)
        if name in ("PartitionKey", "RowKey"):
            size += 2 * utf16_units(str(value))
            continue
        size += 8 + 2 * len(name)
        if isinstance(value, str):
            size += 4 + 2 * utf16_units(value)
        elif isinstance(value, bytes):
            size += 4 + len(value)
        elif isinstance(value, bool):
            size += 1
        elif isinstance(value, int):
            size += 4 if value in _INT32 else 8
        else:  # datetime, double, guid-sized values
            size += 16
    return size


def check_entity(entity: Mapping[str, Any], *, what: str) -> None:
    """ValueError naming the property when `entity` would be refused by Azure Table Storage."""
    custom = [n for n in entity if n not in ("PartitionKey", "RowKey")]
    if len(custom) > MAX_CUSTOM_PROPERTIES:
        raise ValueError(
            f"{what}: {len(custom)} properties; Table Storage allows {MAX_CUSTOM_PROPERTIES}"
        )
    for name, value in entity.items():
        if isinstance(value, str) and (units := utf16_units(value)) > MAX_STRING_UNITS:
            raise ValueError(
                f"{what}: property {name!r} is {units} UTF-16 characters; Table Storage allows "
                f"{MAX_STRING_UNITS} per string property. Shorten it (long output belongs in "
                "the call log, not in the record)"
            )
    if (size := entity_size(entity)) > MAX_ENTITY_BYTES:
        raise ValueError(f"{what}: entity is {size} bytes; Table Storage allows {MAX_ENTITY_BYTES}")
