"""Steering an environment's Dataverse between backups (`/_sim/dataverse/...` and the
`SimulatorApp.dataverse_*` helpers): users changing rows, a maker adding or removing a column,
change-tracking tokens expiring or no longer valid, an admin revoking the app user's privilege on
a table.

These changes are what *people* do in the environment, so they bump row versions (change
tracking sees them) but never enter the write log, which holds only what a client wrote through
the Web API.

    GET  /_sim/dataverse/{env}                    tables (rows, change tracking), version, writes
    GET  /_sim/dataverse/{env}/writes             the write log; POST .../writes/clear empties it
    POST /_sim/dataverse/{env}/rows               {"table", "action": "create|update|delete",
                                                   "id"?, "values"?}
    POST /_sim/dataverse/{env}/columns            {"table", "add": {"name", "type"}}
                                                  or {"table", "remove": name}
    POST /_sim/dataverse/{env}/expire-tokens      every delta token handed out so far expires
    POST /_sim/dataverse/{env}/invalidate-tokens  every delta token handed out so far is not
                                                  valid (400), as after a restore or a copy
    POST /_sim/dataverse/{env}/privileges         {"table", "privilege": "Read", "revoked": bool}
    POST /_sim/dataverse/{env}/recycle-bin        {"enabled": bool}: keep deleted rows or not
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ppbackup.simulator.dataverse.schema import LOOKUP_TYPES, Column
from ppbackup.simulator.dataverse.store import Org
from ppbackup.simulator.errors import SimError
from ppbackup.simulator.messages import Request, Response

if TYPE_CHECKING:
    from ppbackup.simulator.dataverse.api import DataverseApi

PRIVILEGES = ("Read", "Write", "Create", "Delete")
ADDABLE_TYPES = ("String", "Memo", "Integer", "BigInt", "Money", "Decimal", "DateTime",
                 "Boolean", "Picklist")


def summary(org: Org) -> dict[str, Any]:
    with org.lock:
        return {
            "environmentId": org.env_id,
            "version": org.version,
            "writes": len(org.writes),
            "recycleBin": org.recycle_bin,
            "tables": {
                name: {"entitySet": d.table.entity_set, "rows": d.count(),
                       "changeTracking": d.table.change_tracking,
                       "revoked": sorted(org.revoked.get(name, set())),
                       "inRecycleBin": len(d.bin)}
                for name, d in org.tables.items()
            },
        }


def writes(org: Org) -> list[dict[str, Any]]:
    with org.lock:
        return [w.as_json() for w in org.writes]


def clear_writes(org: Org) -> None:
    with org.lock:
        org.writes.clear()


def change_row(org: Org, table: str, action: str, row_id: str | None,
               values: dict[str, Any], now: datetime) -> str:
    """Create, update or delete a row as a user would; lookups as {"table", "id"}.

    Returns the row's id."""
    with org.lock:
        data = org.tables.get(table)
        if data is None:
            raise ValueError(f"unknown table {table!r}")
        if action not in ("create", "update", "delete"):
            raise ValueError("action must be create, update or delete")
        row_id = (row_id or str(uuid.uuid4())).lower()
        exists = data.exists(row_id)
        if exists == (action == "create"):
            raise ValueError(f"{table} row {row_id} {'exists' if exists else 'does not exist'}")
        if action == "delete":
            org.remove(data, row_id, now)
            return row_id
        raw = org.raw(data, row_id) or {c: None for c in data.table.columns}
        for name, value in values.items():
            col = data.table.columns.get(name)
            if col is None:
                raise ValueError(f"{table} has no column {name!r}")
            if col.type in LOOKUP_TYPES and value is not None:
                if not isinstance(value, dict) or set(value) != {"table", "id"}:
                    raise ValueError(f"{name}: a lookup is {{'table', 'id'}} or null")
                value = (str(value["table"]), str(value["id"]).lower())
            raw[name] = value
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        raw["modifiedon"] = stamp
        if action == "create":
            raw["createdon"] = stamp
        raw.pop(data.table.primary_id, None)
        raw.pop("versionnumber", None)
        org.put(data, row_id, raw, now)
        return row_id


def add_column(org: Org, table: str, name: str, column_type: str) -> None:
    if column_type not in ADDABLE_TYPES:
        raise ValueError(f"type must be one of {', '.join(ADDABLE_TYPES)}")
    with org.lock:
        data = org.tables.get(table)
        if data is None:
            raise ValueError(f"unknown table {table!r}")
        data.table.add_column(Column(name, column_type))


def remove_column(org: Org, table: str, name: str) -> None:
    with org.lock:
        data = org.tables.get(table)
        if data is None:
            raise ValueError(f"unknown table {table!r}")
        data.table.remove_column(name)


def set_privilege(org: Org, table: str, privilege: str, revoked: bool) -> None:
    if privilege not in PRIVILEGES:
        raise ValueError(f"privilege must be one of {', '.join(PRIVILEGES)}")
    with org.lock:
        if table not in org.tables:
            raise ValueError(f"unknown table {table!r}")
        held = org.revoked.setdefault(table, set())
        if revoked:
            held.add(privilege)
        else:
            held.discard(privilege)


def set_recycle_bin(org: Org, enabled: bool) -> None:
    """Turn "keep deleted records" on or off; turning it off keeps what the bin holds (those
    rows stay restorable), as the platform keeps them until their retention ends."""
    with org.lock:
        org.recycle_bin = enabled


def expire_tokens(org: Org) -> None:
    with org.lock:
        org.expire_tokens()


def invalidate_tokens(org: Org) -> None:
    with org.lock:
        org.invalidate_tokens()


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} (string) is required")
    return value


def handle(api: DataverseApi, request: Request, env_id: str, action: str,
           data: dict[str, Any]) -> Response:
    """One `/_sim/dataverse/{env}/{action}` request (the caller parsed the JSON body)."""
    org = api.org(env_id)
    method = request.method
    if action == "" and method == "GET":
        return Response(200, summary(org))
    if action == "writes" and method == "GET":
        return Response(200, {"writes": writes(org)})
    if action == "writes/clear" and method == "POST":
        clear_writes(org)
        return Response(200, {"writes": []})
    if action == "rows" and method == "POST":
        values = data.get("values") or {}
        if not isinstance(values, dict):
            raise ValueError("values must be an object")
        row_id = change_row(org, _str(data, "table"), _str(data, "action"), data.get("id"),
                            values, api.state.now())
        return Response(200, {"id": row_id, "version": org.version})
    if action == "columns" and method == "POST":
        if isinstance(data.get("add"), dict):
            add_column(org, _str(data, "table"), _str(data["add"], "name"),
                       _str(data["add"], "type"))
        else:
            remove_column(org, _str(data, "table"), _str(data, "remove"))
        return Response(200, summary(org))
    if action == "expire-tokens" and method == "POST":
        expire_tokens(org)
        return Response(200, {"expiredThrough": org.expired_through})
    if action == "invalidate-tokens" and method == "POST":
        invalidate_tokens(org)
        return Response(200, {"invalidThrough": org.invalid_through})
    if action == "privileges" and method == "POST":
        revoked = data.get("revoked", True)
        if not isinstance(revoked, bool):
            raise ValueError("revoked must be a boolean")
        set_privilege(org, _str(data, "table"), _str(data, "privilege"), revoked)
        return Response(200, summary(org))
    if action == "recycle-bin" and method == "POST":
        enabled = data.get("enabled")
        if not isinstance(enabled, bool):
            raise ValueError("enabled (true or false) is required")
        set_recycle_bin(org, enabled)
        return Response(200, summary(org))
    raise SimError(404, "NotFound", f"No control endpoint {method} /_sim/dataverse/{env_id}/"
                                    f"{action}.")
