"""Tables, columns and lookups as the Dataverse metadata endpoints describe them (reference §2).

Pure parsing: each `from_wire` takes one JSON object of an `EntityDefinitions`, `Attributes` or
`ManyToOneRelationships` answer. Properties an answer leaves out take the value that is safe
for a backup (a table is read in full, a column is not written back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The $select of each metadata read: only what the backup and the restores use.
TABLE_PROPERTIES = (
    "LogicalName",
    "EntitySetName",
    "PrimaryIdAttribute",
    "PrimaryNameAttribute",
    "ChangeTrackingEnabled",
    "IsIntersect",
    "TableType",
)
COLUMN_PROPERTIES = (
    "LogicalName",
    "AttributeType",
    "IsPrimaryId",
    "IsValidForRead",
    "IsValidForCreate",
    "IsValidForUpdate",
    "AttributeOf",
)
LOOKUP_PROPERTIES = ("LogicalName", "Targets")
RELATIONSHIP_PROPERTIES = (
    "SchemaName",
    "ReferencingAttribute",
    "ReferencedEntity",
    "ReferencedAttribute",
    "ReferencingEntityNavigationPropertyName",
)
LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and value else None


def _required(body: Mapping[str, Any], name: str, what: str) -> str:
    value = _text(body, name)
    if value is None:
        raise ValueError(f"{what} without {name}")
    return value


def _flag(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if isinstance(value, Mapping):  # managed properties: {"Value": bool, ...}
        value = value.get("Value")
    return value if isinstance(value, bool) else default


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One table. `entity_set` is the URL segment; `readable` is False for tables the Web API
    does not serve rows of (no entity set, or virtual: their rows live elsewhere)."""

    logical_name: str
    entity_set: str | None
    primary_id: str
    primary_name: str | None
    change_tracking: bool
    is_intersect: bool
    readable: bool

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> TableInfo:
        logical = _required(body, "LogicalName", "table")
        entity_set = _text(body, "EntitySetName")
        table_type = _text(body, "TableType") or "Standard"
        return cls(
            logical_name=logical,
            entity_set=entity_set,
            primary_id=_required(body, "PrimaryIdAttribute", f"table {logical}"),
            primary_name=_text(body, "PrimaryNameAttribute"),
            change_tracking=_flag(body, "ChangeTrackingEnabled", False),
            is_intersect=_flag(body, "IsIntersect", False),
            readable=entity_set is not None and table_type != "Virtual",
        )


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """One column. `targets` names the tables a lookup may point to (empty for other types);
    `attribute_of` is set on helper columns (`...name`) that a restore must not write."""

    logical_name: str
    type: str
    is_primary_id: bool
    readable: bool
    creatable: bool
    updatable: bool
    attribute_of: str | None
    targets: tuple[str, ...] = ()

    @property
    def is_lookup(self) -> bool:
        return self.type in LOOKUP_TYPES

    @property
    def read_name(self) -> str:
        """The property a row carries this column under (`_x_value` for a lookup)."""
        return f"_{self.logical_name}_value" if self.is_lookup else self.logical_name

    @classmethod
    def from_wire(
        cls, body: Mapping[str, Any], targets: Mapping[str, tuple[str, ...]]
    ) -> ColumnInfo:
        logical = _required(body, "LogicalName", "column")
        return cls(
            logical_name=logical,
            type=_text(body, "AttributeType") or "Unknown",
            is_primary_id=_flag(body, "IsPrimaryId", False),
            readable=_flag(body, "IsValidForRead", True),
            creatable=_flag(body, "IsValidForCreate", False),
            updatable=_flag(body, "IsValidForUpdate", False),
            attribute_of=_text(body, "AttributeOf"),
            targets=targets.get(logical, ()),
        )


def lookup_targets(body: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """(column, targets) of one `LookupAttributeMetadata` item."""
    targets = body.get("Targets")
    names = tuple(t for t in targets if isinstance(t, str)) if isinstance(targets, list) else ()
    return _required(body, "LogicalName", "lookup column"), names


@dataclass(frozen=True, slots=True)
class LookupRelationship:
    """A many-to-one relationship seen from the referencing table: to set `column` to a row of
    `target`, write `"<navigation_property>@odata.bind": "/<target set>(<id>)"`. A polymorphic
    lookup (customer, owner, regarding) has one of these per target."""

    schema_name: str | None
    column: str
    target: str
    target_column: str | None
    navigation_property: str

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> LookupRelationship:
        return cls(
            schema_name=_text(body, "SchemaName"),
            column=_required(body, "ReferencingAttribute", "relationship"),
            target=_required(body, "ReferencedEntity", "relationship"),
            target_column=_text(body, "ReferencedAttribute"),
            navigation_property=_required(
                body, "ReferencingEntityNavigationPropertyName", "relationship"
            ),
        )


def navigation_property(
    relationships: tuple[LookupRelationship, ...] | list[LookupRelationship],
    column: str,
    target: str,
) -> str | None:
    """The navigation property that sets lookup `column` to a row of table `target`."""
    for relationship in relationships:
        if relationship.column == column and relationship.target == target:
            return relationship.navigation_property
    return None
