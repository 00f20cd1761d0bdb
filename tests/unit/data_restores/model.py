"""A small Dataverse model for the planner's tests: accounts (with parent accounts and a
primary contact), contacts (customer: an account or a contact), notes (regarding an account or a
contact) and system users, with metadata as the Web API describes it and rows as it reads them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from data_restores.plan import guid_order
from data_restores.schema import LOOKUP_TABLE, Schema, TableShape
from shared.dataverse.metadata import ColumnInfo, LookupRelationship, TableInfo

Row = dict[str, Any]


def _table(name: str, entity_set: str, primary: str) -> TableInfo:
    return TableInfo(name, entity_set, primary, None, True, False, True)


def _col(
    name: str, kind: str = "String", *, targets: tuple[str, ...] = (), system: bool = False
) -> ColumnInfo:
    writable = not system
    return ColumnInfo(name, kind, False, True, writable, writable, None, targets)


def _pk(name: str) -> ColumnInfo:
    return ColumnInfo(name, "Uniqueidentifier", True, True, True, False, None)


def _rel(column: str, target: str, nav: str) -> LookupRelationship:
    return LookupRelationship(None, column, target, None, nav)


STATE = (_col("statecode", "State"), _col("statuscode", "Status"))
SYSTEM = (_col("createdon", "DateTime", system=True), _col("versionnumber", "BigInt", system=True))

ACCOUNT = TableShape(
    _table("account", "accounts", "accountid"),
    (
        _pk("accountid"), _col("name"), _col("revenue", "Money"), _col("telephone1"),
        _col("parentaccountid", "Lookup", targets=("account",)),
        _col("primarycontactid", "Lookup", targets=("contact",)),
        _col("ownerid", "Owner", targets=("systemuser", "team")),
        *STATE, *SYSTEM,
    ),
    (
        _rel("parentaccountid", "account", "parentaccountid"),
        _rel("primarycontactid", "contact", "primarycontactid"),
        _rel("ownerid", "systemuser", "ownerid"), _rel("ownerid", "team", "ownerid"),
    ),
)
CONTACT = TableShape(
    _table("contact", "contacts", "contactid"),
    (
        _pk("contactid"), _col("lastname"),
        _col("parentcustomerid", "Customer", targets=("account", "contact")),
        _col("ownerid", "Owner", targets=("systemuser", "team")),
        *STATE, *SYSTEM,
    ),
    (
        _rel("parentcustomerid", "account", "parentcustomerid_account"),
        _rel("parentcustomerid", "contact", "parentcustomerid_contact"),
        _rel("ownerid", "systemuser", "ownerid"),
    ),
)
NOTE = TableShape(
    _table("annotation", "annotations", "annotationid"),
    (
        _pk("annotationid"), _col("subject"),
        _col("objectid", "Lookup", targets=("account", "contact")),
        *SYSTEM,
    ),
    (
        _rel("objectid", "account", "objectid_account"),
        _rel("objectid", "contact", "objectid_contact"),
    ),
)
SCHEMA = Schema(
    {"account": ACCOUNT, "contact": CONTACT, "annotation": NOTE},
    {"systemuser": "systemusers", "team": "teams"},
)
ID = {"account": "accountid", "contact": "contactid", "annotation": "annotationid"}
USER = str(uuid.UUID(int=7))


def gid(kind: int, n: int) -> str:
    return str(uuid.UUID(int=(kind << 64) | (n * 2654435761 % (1 << 63))))


def lookup(row: Row, column: str, table: str | None, record_id: str | None) -> Row:
    row[f"_{column}_value"] = record_id
    if table is not None and record_id is not None:
        row[f"_{column}_value{LOOKUP_TABLE}"] = table
    return row


def account(n: int, *, parent: str | None = None, contact: str | None = None, **extra: Any) -> Row:
    row: Row = {
        "@odata.etag": f'W/"{n + 1000}"', "accountid": gid(1, n), "name": f"Account {n}",
        "revenue": float(n), "telephone1": None, "statecode": 0, "statuscode": 1,
        "createdon": "2026-01-01T00:00:00Z", "versionnumber": n,
    }
    lookup(row, "parentaccountid", "account", parent)
    lookup(row, "primarycontactid", "contact", contact)
    lookup(row, "ownerid", "systemuser", USER)
    row.update(extra)
    return row


def contact(n: int, parent: tuple[str, str] | None, **extra: Any) -> Row:
    row: Row = {
        "@odata.etag": f'W/"{n + 5000}"', "contactid": gid(2, n), "lastname": f"Contact {n}",
        "statecode": 0, "statuscode": 1, "createdon": "2026-01-01T00:00:00Z",
        "versionnumber": n,
    }
    lookup(row, "parentcustomerid", *(parent or (None, None)))
    lookup(row, "ownerid", "systemuser", USER)
    row.update(extra)
    return row


def note(n: int, regarding: tuple[str, str], **extra: Any) -> Row:
    row: Row = {
        "@odata.etag": f'W/"{n + 9000}"', "annotationid": gid(3, n), "subject": f"Note {n}",
        "createdon": "2026-01-01T00:00:00Z", "versionnumber": n,
    }
    lookup(row, "objectid", *regarding)
    row.update(extra)
    return row


class Side:
    """One side (the point, or the target now): rows per table, read sorted by id."""

    def __init__(self, rows: Mapping[str, Iterable[Row]]) -> None:
        self.rows = {t: list(r) for t, r in rows.items()}
        self.reads: dict[str, int] = {}

    def read(self, table: str) -> list[Row]:
        self.reads[table] = self.reads.get(table, 0) + 1
        return sorted(self.rows.get(table, []), key=lambda r: guid_order(r[ID[table]]))

    def has(self, table: str, record_id: str) -> bool:
        key = ID.get(table)
        if key is None:
            return table == "systemuser" and record_id == USER
        return any(r[key] == record_id for r in self.rows.get(table, []))

    def ids(self, table: str) -> set[str]:
        return {r[ID[table]] for r in self.rows.get(table, [])}
