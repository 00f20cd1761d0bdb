"""The recycle bin's Web API (reference §8): FetchXML queries with `datasource="bin"` and the
`Restore` message. The bin itself lives in the store (`TableData.bin`, filled by `Org.remove`
while `Org.recycle_bin` is on), so change sets roll it back and `--state` saves it.

    GET  <set>?fetchXml=<fetch datasource="bin"><entity name="account">...</fetch>
    POST Restore  {"Target": {"@odata.id": "accounts(<id>)"}}
                  {"Target": {"@odata.type": "Microsoft.Dynamics.CRM.account",
                              "accountid": "<id>", <column overrides>...}}

Only what clients of the bin need: FetchXML is answered for `datasource="bin"` alone, with
`<attribute>`/`<all-attributes>`, `top`/`count`, and filters on the primary id (`in`, `eq`).
A restored row's lookup whose target no longer exists comes back cleared (an owner that is gone
falls back to the app user): the simulator's choice where the platform's is not documented.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ppbackup.simulator.dataverse import errors as dverr
from ppbackup.simulator.dataverse.query import MAX_PAGE_SIZE, Prefer, parse_guid, parse_key
from ppbackup.simulator.dataverse.schema import OWNER, Table
from ppbackup.simulator.dataverse.store import TableData
from ppbackup.simulator.errors import SimError
from ppbackup.simulator.messages import Request, Response

if TYPE_CHECKING:
    from ppbackup.simulator.dataverse.tables import TableApi

NOT_IN_BIN = "0x80049959"
"""RefCannotBeRestoredRecycleBinNotFound."""
DUPLICATE_RESTORE = "0x80044a02"
"""DuplicateExceptionRestoreRecycleBin."""
INVALID_FETCH = "0x80041103"
_CRM_TYPE = "Microsoft.Dynamics.CRM."


@dataclass(frozen=True, slots=True)
class BinQuery:
    """A parsed `<fetch datasource="bin">`."""

    entity: str
    attributes: tuple[str, ...] | None
    """Logical names asked for; None = all (`<all-attributes/>` or no attribute element)."""
    ids: tuple[str, ...] | None
    """Primary ids the filter allows; None = no filter."""
    top: int


def _fetch_error(message: str) -> SimError:
    return SimError(400, INVALID_FETCH, message)


def parse_fetch(text: str, primary_id: str) -> BinQuery:
    """The FetchXML of a recycle-bin query; anything else is refused with a clear message."""
    try:
        # The simulator is test infrastructure, and expat >= 2.4.1 refuses entity expansion bombs.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise _fetch_error(f"The fetchXml is not well-formed XML: {exc}.") from exc
    if root.tag != "fetch":
        raise _fetch_error("The fetchXml must have <fetch> as its root element.")
    if root.get("datasource") != "bin":
        raise _fetch_error("FetchXML other than recycle-bin queries (<fetch datasource="
                           "\"bin\">) is not supported by the simulator; read the rows that "
                           "exist with OData query options ($filter, $select).")
    top = MAX_PAGE_SIZE
    for name in ("top", "count"):
        value = root.get(name)
        if value is not None:
            if not value.isdigit() or int(value) < 1:
                raise _fetch_error(f"The fetch attribute {name}='{value}' is not a positive "
                                   "integer.")
            top = min(top, int(value))
    entities = root.findall("entity")
    if len(entities) != 1 or not entities[0].get("name"):
        raise _fetch_error("The fetchXml needs exactly one <entity name=\"...\">.")
    entity = entities[0]
    attributes: list[str] | None = None
    for child in entity:
        if child.tag == "attribute":
            attributes = [*(attributes or []), child.get("name") or ""]
        elif child.tag == "all-attributes":
            attributes = None
            break
        elif child.tag not in ("filter", "order"):
            raise _fetch_error(f"<{child.tag}> in a recycle-bin fetch is not supported by the "
                               "simulator (attribute, all-attributes, filter and order are).")
    ids = None
    filters = entity.findall("filter")
    if len(filters) > 1:
        raise _fetch_error("Put the conditions of a recycle-bin fetch in one <filter>.")
    if filters:
        ids = _filter_ids(filters[0], primary_id)
    return BinQuery(str(entity.get("name")), None if attributes is None else tuple(attributes),
                    ids, top)


def _filter_ids(node: ET.Element, primary_id: str) -> tuple[str, ...]:
    kind = node.get("type", "and")
    if kind not in ("and", "or"):
        raise _fetch_error(f"<filter type='{kind}'> is not valid; use 'and' or 'or'.")
    sets: list[dict[str, None]] = []
    for condition in node:
        if condition.tag != "condition":
            raise _fetch_error(f"<{condition.tag}> inside a recycle-bin <filter> is not "
                               "supported by the simulator; use <condition>.")
        attribute, operator = condition.get("attribute"), condition.get("operator")
        if attribute != primary_id or operator not in ("in", "eq"):
            raise _fetch_error(
                "The simulator filters recycle-bin queries on the primary id only: "
                f"<condition attribute=\"{primary_id}\" operator=\"in\"><value>GUID</value>..."
                f"</condition> or operator=\"eq\" value=\"GUID\"; got attribute="
                f"\"{attribute}\" operator=\"{operator}\".")
        texts = ([v.text or "" for v in condition.findall("value")] if operator == "in"
                 else [condition.get("value") or ""])
        sets.append({parse_guid(t.strip().strip("{}"), primary_id): None for t in texts})
    if not sets:
        return ()
    if kind == "or":
        return tuple({i: None for s in sets for i in s})
    return tuple(i for i in sets[0] if all(i in s for s in sets[1:]))


def query(api: TableApi, data: TableData, request: Request, prefer: Prefer) -> Response:
    """`GET <set>?fetchXml=...`: the deleted rows the bin holds, rendered as a read renders
    rows (at most one page; `@Microsoft.Dynamics.CRM.morerecords` says when there were more)."""
    table = data.table
    fetch = parse_fetch(request.param("fetchXml") or "", table.primary_id)
    if fetch.entity != table.logical_name:
        raise _fetch_error(f"The fetch names entity '{fetch.entity}' but the request is on "
                           f"'{table.entity_set}' ({table.logical_name}).")
    select = _select(table, fetch.attributes)
    candidates = list(data.bin) if fetch.ids is None else [i for i in fetch.ids
                                                            if i in data.bin]
    rows = []
    for row_id in candidates[:fetch.top]:
        raw = data.binned(row_id)
        assert raw is not None
        raw[table.primary_id] = row_id
        if "versionnumber" in table.columns:
            raw["versionnumber"] = data.version(row_id)
        rows.append(api.render_raw(data, row_id, raw, select, prefer))
    body: dict[str, Any] = {"@odata.context": f"{api.base}$metadata#{table.entity_set}",
                            "value": rows}
    if len(candidates) > fetch.top:
        body["@Microsoft.Dynamics.CRM.morerecords"] = True
    return Response(200, body)


def _select(table: Table, attributes: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if attributes is None:
        return None
    names = []
    for name in attributes:
        column = table.columns.get(name)
        if column is None:
            raise _fetch_error(f"'{table.logical_name}' entity doesn't contain attribute with "
                               f"Name = '{name}'.")
        names.append(column.read_name)
    return tuple(names)


def _target(api: TableApi, body: dict[str, Any]) -> tuple[TableData, str, dict[str, Any]]:
    """The `Target` of a `Restore`: (table, id, column overrides)."""
    target = body.get("Target")
    if not isinstance(target, dict):
        raise dverr.bad_query("Restore needs a 'Target': {\"@odata.id\": \"accounts(<id>)\"} or "
                              "{\"@odata.type\": \"Microsoft.Dynamics.CRM.account\", "
                              "\"accountid\": \"<id>\", ...}.")
    reference = target.get("@odata.id")
    if reference is not None:
        if not isinstance(reference, str) or "(" not in reference:
            raise dverr.bad_query(f"Target @odata.id '{reference}' does not name a row, e.g. "
                                  "\"accounts(<id>)\".")
        path = reference.split("/api/data/v9.2/", 1)[-1].lstrip("/")
        entity_set, _, rest = path.partition("(")
        data = api.table(entity_set)
        if not rest.endswith(")"):
            raise dverr.bad_query(f"Target @odata.id '{reference}' does not name a row.")
        return data, parse_key(rest[:-1], data.table.primary_id, entity_set), {}
    kind = str(target.get("@odata.type") or "").lstrip("#")
    if not kind.startswith(_CRM_TYPE):
        raise dverr.bad_query("The Target of Restore needs \"@odata.id\" or \"@odata.type\": "
                              "\"Microsoft.Dynamics.CRM.<table>\".")
    logical = kind[len(_CRM_TYPE):]
    data_or_none = api.org.tables.get(logical)
    if data_or_none is None:
        raise dverr.bad_query(f"'{kind}' is not a table of this environment.")
    pk = data_or_none.table.primary_id
    if target.get(pk) is None:
        raise dverr.bad_query(f"The Target of Restore needs its primary key '{pk}' (alternate "
                              "keys are not supported for Restore).")
    overrides = {k: v for k, v in target.items() if k not in ("@odata.type", pk)}
    return data_or_none, parse_guid(target[pk], pk), overrides


def restore(api: TableApi, request: Request, body: dict[str, Any]) -> Response:
    """`POST Restore`: the deleted row comes back with its id and last values (overrides
    applied), leaves the bin, and the write log records a `restore`."""
    data, row_id, overrides = _target(api, body)
    table = data.table
    api.check_privilege(data, "Create")
    if data.exists(row_id):
        raise SimError(400, DUPLICATE_RESTORE,
                       f"Cannot restore {table.logical_name} {row_id}: a record with this id "
                       "already exists.")
    raw = data.binned(row_id)
    if raw is None:
        raise SimError(404, NOT_IN_BIN,
                       f"The {table.logical_name} record {row_id} cannot be restored: the "
                       "recycle bin does not hold it (never deleted, deleted while the recycle "
                       "bin was off, or restored already).")
    for column in table.columns.values():
        value = raw.get(column.name)
        if column.is_lookup and value is not None:
            target_table, target_id = value
            target = api.org.tables.get(target_table)
            if target is None or not target.exists(target_id):
                raw[column.name] = (("systemuser", api.org.id_of("systemuser", 0))
                                    if column.type == OWNER else None)
    raw.update(api.column_values(table, overrides, creating=True))
    api.finish_row(table, raw)
    api.org.undelete(data, row_id, raw, api.now)
    api.log_write(data, row_id, "restore", body)
    return Response(200, {
        "@odata.context": f"{api.base}$metadata#Microsoft.Dynamics.CRM.RestoreResponse",
        "id": row_id,
    })
