"""Raw rows -> Web API JSON (reference §3.1-§3.4): `@odata.etag`, `_x_value` lookups and the
annotations `Prefer: odata.include-annotations` asks for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ppbackup.simulator.dataverse.query import Prefer
from ppbackup.simulator.dataverse.schema import (
    BOOLEAN,
    DATETIME,
    DECIMAL,
    INTEGER,
    MONEY,
    PICKLIST,
    STATE,
    STATUS,
    Table,
)

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION_PROPERTY = "Microsoft.Dynamics.CRM.associatednavigationproperty"
_STATE_LABELS = {0: "Active", 1: "Inactive", 2: "Suspended"}
_STATUS_LABELS = {1: "Active", 2: "Inactive", 3: "Company DLP Violation"}

NameOf = Callable[[str, str], str | None]
"""(table, id) -> the row's primary name, for a lookup's formatted value."""


def etag(version: int) -> str:
    return f'W/"{version}"'


def _formatted(column_type: str, value: Any) -> str | None:
    if value is None:
        return None
    if column_type == STATE:
        return _STATE_LABELS.get(value, str(value))
    if column_type == STATUS:
        return _STATUS_LABELS.get(value, str(value))
    if column_type == PICKLIST:
        return f"Option {value}"
    if column_type == BOOLEAN:
        return "Yes" if value else "No"
    if column_type == MONEY:
        return f"${value:,.2f}"
    if column_type in (INTEGER, DECIMAL):
        return f"{value:,}"
    if column_type == DATETIME:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return f"{moment.month}/{moment.day}/{moment.year} {moment:%I:%M %p}".lstrip("0")
    return None


def row_json(
    table: Table, raw: dict[str, Any], version: int, select: tuple[str, ...] | None,
    prefer: Prefer, name_of: NameOf,
) -> dict[str, Any]:
    out: dict[str, Any] = {"@odata.etag": etag(version)}
    want_formatted = prefer.wants(FORMATTED)
    want_logical = prefer.wants(LOOKUP_LOGICAL_NAME)
    want_nav = prefer.wants(NAVIGATION_PROPERTY)
    for col in table.columns.values():
        name = col.read_name
        if select is not None and name not in select and col.name != table.primary_id:
            continue
        value = raw.get(col.name)
        if col.is_lookup:
            if value is None:
                out[name] = None
                continue
            target, ref_id = value
            if want_formatted:
                label = name_of(target, ref_id)
                if label is not None:
                    out[f"{name}@{FORMATTED}"] = label
            if want_nav:
                out[f"{name}@{NAVIGATION_PROPERTY}"] = table.nav_for(col.name, target)
            if want_logical:
                out[f"{name}@{LOOKUP_LOGICAL_NAME}"] = target
            out[name] = ref_id
            continue
        if want_formatted:
            label = _formatted(col.type, value)
            if label is not None:
                out[f"{name}@{FORMATTED}"] = label
        out[name] = value
    return out


def select_context(base: str, entity_set: str, select: tuple[str, ...] | None) -> str:
    columns = f"({','.join(select)})" if select else ""
    return f"{base}$metadata#{entity_set}{columns}"
