"""The simulated organisation's schema: tables, columns, lookups, and their metadata JSON.

A realistic slice of a Dataverse org (reference §2): `account`, `contact` (with the polymorphic
`parentcustomerid` customer lookup), a custom `new_project` with a lookup to itself, notes
(`annotation`, polymorphic `objectid` "regarding"), an N:N intersect table, a custom table
without change tracking, the owners (`systemuser`, `team`), and the `workflow` /
`connectionreference` tables cloud flows live in. Columns can be added and removed at runtime
(`Table.add_column` / `remove_column`, the control surface), so a backup can meet schema drift.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

_META = uuid.UUID("6a3e4f1c-2d5b-4c8a-9e7f-1b0c2d3e4f5a")  # namespace of metadata ids

# Attribute types as `AttributeType` spells them.
UNIQUEIDENTIFIER = "Uniqueidentifier"
STRING = "String"
MEMO = "Memo"
INTEGER = "Integer"
BIGINT = "BigInt"
MONEY = "Money"
DECIMAL = "Decimal"
DATETIME = "DateTime"
BOOLEAN = "Boolean"
PICKLIST = "Picklist"
STATE = "State"
STATUS = "Status"
LOOKUP = "Lookup"
CUSTOMER = "Customer"
OWNER = "Owner"

LOOKUP_TYPES = frozenset({LOOKUP, CUSTOMER, OWNER})
_ODATA_TYPES = {
    UNIQUEIDENTIFIER: "Edm.Guid", STRING: "Edm.String", MEMO: "Edm.String",
    INTEGER: "Edm.Int32", BIGINT: "Edm.Int64", MONEY: "Edm.Decimal", DECIMAL: "Edm.Decimal",
    DATETIME: "Edm.DateTimeOffset", BOOLEAN: "Edm.Boolean", PICKLIST: "Edm.Int32",
    STATE: "Edm.Int32", STATUS: "Edm.Int32",
}
_METADATA_CAST = {
    UNIQUEIDENTIFIER: "UniqueIdentifierAttributeMetadata", STRING: "StringAttributeMetadata",
    MEMO: "MemoAttributeMetadata", INTEGER: "IntegerAttributeMetadata",
    BIGINT: "BigIntAttributeMetadata", MONEY: "MoneyAttributeMetadata",
    DECIMAL: "DecimalAttributeMetadata", DATETIME: "DateTimeAttributeMetadata",
    BOOLEAN: "BooleanAttributeMetadata", PICKLIST: "PicklistAttributeMetadata",
    STATE: "StateAttributeMetadata", STATUS: "StatusAttributeMetadata",
    LOOKUP: "LookupAttributeMetadata", CUSTOMER: "LookupAttributeMetadata",
    OWNER: "LookupAttributeMetadata",
}
# Columns the platform maintains: never writable from outside (reference §5.7); a write of one
# is ignored, as the platform does.
SYSTEM_COLUMNS = ("createdon", "modifiedon", "versionnumber")


def odata_type(column_type: str) -> str:
    return _ODATA_TYPES.get(column_type, "Edm.Guid")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    targets: tuple[str, ...] = ()
    """Lookup target tables (logical names)."""
    create: bool = True
    update: bool = True
    required: str = "None"
    """`RequiredLevel`: None, ApplicationRequired, SystemRequired."""
    options: tuple[int, ...] = ()
    """Valid values of a State/Status/Picklist column."""
    length: int | None = None
    """`MaxLength` of a String/Memo column; None = the type's default."""

    @property
    def max_length(self) -> int | None:
        if self.length is not None:
            return self.length
        return {STRING: 200, MEMO: 1_048_576}.get(self.type)  # Memo: Dataverse's maximum

    @property
    def is_lookup(self) -> bool:
        return self.type in LOOKUP_TYPES

    @property
    def read_name(self) -> str:
        """The property a GET shows: `_<name>_value` for a lookup (reference §3.3)."""
        return f"_{self.name}_value" if self.is_lookup else self.name


@dataclass(frozen=True, slots=True)
class NavProperty:
    """A single-valued navigation property: how a lookup is written (`<nav>@odata.bind`)."""

    name: str
    column: str
    target: str | None
    """Target table, or None for the owner's `ownerid` (systemuser or team by the bound URL)."""


@dataclass(slots=True)
class Table:
    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str
    columns: dict[str, Column]
    schema_name: str
    object_type_code: int
    custom: bool = False
    change_tracking: bool = True
    intersect: bool = False
    ownership: str = "UserOwned"
    status_defaults: dict[int, int] = field(default_factory=dict)
    """statecode -> the statuscode a write of statecode alone gets (reference §5.6)."""
    nav_names: dict[tuple[str, str | None], str] = field(default_factory=dict)
    """(lookup column, target) -> nav property name, where it is not the column's name."""
    _navs: dict[str, NavProperty] | None = None
    _nav_by_target: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def metadata_id(self) -> str:
        return str(uuid.uuid5(_META, self.logical_name))

    def navigation(self) -> dict[str, NavProperty]:
        """Nav property name -> what it writes (cached: rows render it for every lookup)."""
        if self._navs is None:
            self._navs = self._build_navigation()
            self._nav_by_target = {(n.column, t): n.name for n in self._navs.values()
                                   for t in (self.columns[n.column].targets
                                             if n.target is None else (n.target,))}
        return self._navs

    def _build_navigation(self) -> dict[str, NavProperty]:
        navs: dict[str, NavProperty] = {}
        for col in self.columns.values():
            if not col.is_lookup or not (col.create or col.update):
                continue
            if col.type == OWNER:
                navs[col.name] = NavProperty(col.name, col.name, None)
                continue
            for target in col.targets:
                name = self.nav_names.get((col.name, target))
                if name is None:
                    name = col.name if len(col.targets) == 1 else f"{col.name}_{target}"
                navs[name] = NavProperty(name, col.name, target)
        return navs

    def nav_for(self, column: str, target: str) -> str:
        self.navigation()
        return self._nav_by_target.get((column, target), column)

    def add_column(self, column: Column) -> None:
        if column.name in self.columns:
            raise ValueError(f"{self.logical_name} already has a column {column.name!r}")
        self.columns[column.name] = column
        self._navs = None

    def remove_column(self, name: str) -> None:
        col = self.columns.get(name)
        if col is None:
            raise ValueError(f"{self.logical_name} has no column {name!r}")
        if name == self.primary_id or name in SYSTEM_COLUMNS:
            raise ValueError(f"{name!r} cannot be removed from {self.logical_name}")
        del self.columns[name]
        self._navs = None


def _dates() -> list[Column]:
    return [
        Column("createdon", DATETIME, create=False, update=False),
        Column("modifiedon", DATETIME, create=False, update=False),
        Column("versionnumber", BIGINT, create=False, update=False),
    ]


def _owned() -> list[Column]:
    return [
        Column("ownerid", OWNER, targets=("systemuser", "team"), required="SystemRequired"),
        Column("overriddencreatedon", DATETIME, update=False),
        *_dates(),
    ]


def _common(state_options: tuple[int, ...] = (0, 1),
            status_options: tuple[int, ...] = (1, 2)) -> list[Column]:
    return [
        Column("statecode", STATE, options=state_options, required="SystemRequired"),
        Column("statuscode", STATUS, options=status_options),
        *_owned(),
    ]


def _table(
    logical: str, entity_set: str, schema: str, otc: int, columns: list[Column], *,
    primary_name: str, custom: bool = False, change_tracking: bool = True,
    intersect: bool = False, ownership: str = "UserOwned",
    status_defaults: dict[int, int] | None = None,
    nav_names: dict[tuple[str, str | None], str] | None = None,
) -> Table:
    pk = f"{logical}id"
    cols = [Column(pk, UNIQUEIDENTIFIER, update=False, required="SystemRequired"), *columns]
    return Table(
        logical_name=logical, entity_set=entity_set, primary_id=pk, primary_name=primary_name,
        columns={c.name: c for c in cols}, schema_name=schema, object_type_code=otc,
        custom=custom, change_tracking=change_tracking, intersect=intersect,
        ownership=ownership, status_defaults=status_defaults or {0: 1, 1: 2},
        nav_names=nav_names or {},
    )


def build_schema() -> dict[str, Table]:
    """A fresh schema (each environment owns one, so a column added in one stays there)."""
    tables = [
        _table("systemuser", "systemusers", "SystemUser", 8, [
            Column("fullname", STRING, create=False, update=False),
            Column("firstname", STRING), Column("lastname", STRING),
            Column("domainname", STRING), Column("applicationid", UNIQUEIDENTIFIER),
            Column("isdisabled", BOOLEAN),
            *_dates(),
        ], primary_name="fullname", ownership="BusinessOwned"),
        _table("team", "teams", "Team", 9, [
            Column("name", STRING, required="SystemRequired"),
            Column("teamtype", PICKLIST, options=(0, 1, 2, 3)),
            *_dates(),
        ], primary_name="name", ownership="BusinessOwned"),
        _table("account", "accounts", "Account", 1, [
            Column("name", STRING, required="ApplicationRequired", length=160),
            Column("accountnumber", STRING, length=20), Column("telephone1", STRING),
            Column("emailaddress1", STRING), Column("address1_city", STRING),
            Column("revenue", MONEY), Column("numberofemployees", INTEGER),
            Column("industrycode", PICKLIST, options=tuple(range(1, 34))),
            Column("description", MEMO),
            Column("primarycontactid", LOOKUP, targets=("contact",)),
            Column("parentaccountid", LOOKUP, targets=("account",)),
            *_common(),
        ], primary_name="name"),
        _table("contact", "contacts", "Contact", 2, [
            Column("fullname", STRING, create=False, update=False),
            Column("firstname", STRING), Column("lastname", STRING, required="ApplicationRequired"),
            Column("emailaddress1", STRING), Column("telephone1", STRING),
            Column("jobtitle", STRING), Column("birthdate", DATETIME),
            Column("parentcustomerid", CUSTOMER, targets=("account", "contact")),
            *_common(),
        ], primary_name="fullname"),
        _table("new_project", "new_projects", "new_Project", 10010, [
            Column("new_name", STRING, required="ApplicationRequired"),
            Column("new_code", STRING), Column("new_budget", MONEY),
            Column("new_startdate", DATETIME), Column("new_progress", DECIMAL),
            Column("new_parentprojectid", LOOKUP, targets=("new_project",)),
            Column("new_accountid", LOOKUP, targets=("account",)),
            *_common(),
        ], primary_name="new_name", custom=True, nav_names={
            ("new_parentprojectid", "new_project"): "new_ParentProjectId",
            ("new_accountid", "account"): "new_AccountId",
        }),
        _table("annotation", "annotations", "Annotation", 5, [
            Column("subject", STRING), Column("notetext", MEMO),
            Column("isdocument", BOOLEAN), Column("filename", STRING),
            Column("mimetype", STRING),
            Column("objectid", LOOKUP, targets=("account", "contact", "new_project")),
            Column("objecttypecode", STRING, update=False),
            *_owned(),
        ], primary_name="subject"),
        _table("new_project_contact", "new_project_contactset", "new_project_contact", 10011, [
            Column("new_projectid", UNIQUEIDENTIFIER, update=False),
            Column("contactid", UNIQUEIDENTIFIER, update=False),
            Column("versionnumber", BIGINT, create=False, update=False),
        ], primary_name="new_project_contactid", custom=True, intersect=True,
            ownership="None"),
        _table("new_importlog", "new_importlogs", "new_ImportLog", 10012, [
            Column("new_name", STRING, required="ApplicationRequired"),
            Column("new_source", STRING), Column("new_rowcount", INTEGER),
            Column("new_message", MEMO),
            *_common(),
        ], primary_name="new_name", custom=True, change_tracking=False),
        _table("workflow", "workflows", "Workflow", 4703, [
            Column("name", STRING, required="SystemRequired"),
            Column("category", PICKLIST, options=(0, 1, 2, 3, 4, 5, 6), update=False),
            Column("type", PICKLIST, options=(1, 2, 3)),
            Column("primaryentity", STRING), Column("uniquename", STRING),
            Column("clientdata", MEMO, length=1_073_741_823),
            Column("description", MEMO),
            *_common(state_options=(0, 1, 2), status_options=(1, 2, 3)),
        ], primary_name="name", status_defaults={0: 1, 1: 2, 2: 3}),
        _table("connectionreference", "connectionreferences", "ConnectionReference", 10161, [
            Column("connectionreferencelogicalname", STRING, required="SystemRequired"),
            Column("connectionreferencedisplayname", STRING),
            Column("connectorid", STRING, length=1000), Column("connectionid", STRING, length=1000),
            *_common(),
        ], primary_name="connectionreferencedisplayname"),
    ]
    return {t.logical_name: t for t in tables}


# ---------------------------------------------------------------------------- metadata JSON


def _label(text: str) -> dict[str, Any]:
    return {"LocalizedLabels": [{"Label": text, "LanguageCode": 1033}],
            "UserLocalizedLabel": {"Label": text, "LanguageCode": 1033}}


def entity_metadata(table: Table) -> dict[str, Any]:
    return {
        "MetadataId": table.metadata_id,
        "LogicalName": table.logical_name,
        "SchemaName": table.schema_name,
        "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set,
        "PrimaryIdAttribute": table.primary_id,
        "PrimaryNameAttribute": table.primary_name,
        "ObjectTypeCode": table.object_type_code,
        "OwnershipType": table.ownership,
        "TableType": "Standard",
        "IsCustomEntity": table.custom,
        "IsIntersect": table.intersect,
        "IsActivity": False,
        "IsValidForAdvancedFind": not table.intersect,
        "IsOptimisticConcurrencyEnabled": not table.intersect,
        "ChangeTrackingEnabled": table.change_tracking,
        "CanChangeTrackingBeEnabled": {
            "Value": True, "CanBeChanged": not table.change_tracking,
            "ManagedPropertyLogicalName": "canchangetrackingbeenabled",
        },
        "DisplayName": _label(table.schema_name.replace("new_", "")),
    }


def attribute_metadata(table: Table, column: Column) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@odata.type": f"#Microsoft.Dynamics.CRM.{_METADATA_CAST[column.type]}",
        "MetadataId": str(uuid.uuid5(_META, f"{table.logical_name}.{column.name}")),
        "LogicalName": column.name,
        "SchemaName": column.name,
        "EntityLogicalName": table.logical_name,
        "AttributeType": column.type,
        "AttributeTypeName": {"Value": f"{column.type}Type"},
        "IsPrimaryId": column.name == table.primary_id,
        "IsPrimaryName": column.name == table.primary_name,
        "IsValidForCreate": column.create,
        "IsValidForUpdate": column.update,
        "IsValidForRead": True,
        "IsCustomAttribute": column.name.startswith("new_"),
        "AttributeOf": None,
        "RequiredLevel": {"Value": column.required,
                          "CanBeChanged": column.required != "SystemRequired"},
    }
    if column.is_lookup:
        body["Targets"] = list(column.targets)
    if column.max_length is not None:
        body["MaxLength"] = column.max_length
    return body


def many_to_one(table: Table, tables: dict[str, Table]) -> list[dict[str, Any]]:
    """The lookups of `table`, one relationship per target (reference §2.3)."""
    out = []
    for col in table.columns.values():
        if not col.is_lookup:
            continue
        for target in col.targets:
            referenced = tables.get(target)
            if referenced is None:
                continue
            name = f"{table.logical_name}_{col.name}_{target}"
            out.append({
                "MetadataId": str(uuid.uuid5(_META, name)),
                "SchemaName": name,
                "RelationshipType": "OneToManyRelationship",
                "ReferencedEntity": target,
                "ReferencedAttribute": referenced.primary_id,
                "ReferencingEntity": table.logical_name,
                "ReferencingAttribute": col.name,
                "ReferencingEntityNavigationPropertyName": table.nav_for(col.name, target),
                "ReferencedEntityNavigationPropertyName": name,
            })
    return out


def one_to_many(table: Table, tables: dict[str, Table]) -> list[dict[str, Any]]:
    return [
        rel for other in tables.values() for rel in many_to_one(other, tables)
        if rel["ReferencedEntity"] == table.logical_name
    ]


def many_to_many(table: Table, tables: dict[str, Table]) -> list[dict[str, Any]]:
    out = []
    for inter in tables.values():
        if not inter.intersect:
            continue
        ends = [c.name for c in inter.columns.values()
                if c.type == UNIQUEIDENTIFIER and c.name != inter.primary_id]
        entities = [name[:-2] for name in ends]  # new_projectid -> new_project
        if table.logical_name not in entities:
            continue
        out.append({
            "MetadataId": str(uuid.uuid5(_META, inter.logical_name)),
            "SchemaName": inter.logical_name,
            "RelationshipType": "ManyToManyRelationship",
            "IntersectEntityName": inter.logical_name,
            "Entity1LogicalName": entities[0],
            "Entity1IntersectAttribute": ends[0],
            "Entity1NavigationPropertyName": inter.logical_name,
            "Entity2LogicalName": entities[1],
            "Entity2IntersectAttribute": ends[1],
            "Entity2NavigationPropertyName": inter.logical_name,
        })
    return out
