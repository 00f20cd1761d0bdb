"""What a plan needs to know about the target's tables: columns, lookups, navigation properties.

Built by the wiring from `shared.dataverse` metadata reads (`table`, `columns`,
`lookup_relationships`); the types are imported for checking only, so this module stays pure
(no client, no HTTP library at import).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.dataverse.metadata import ColumnInfo, LookupRelationship, TableInfo

LOOKUP_TABLE = "@Microsoft.Dynamics.CRM.lookuplogicalname"
OWNER = "ownerid"
STATE_COLUMNS = ("statecode", "statuscode")


@dataclass(frozen=True)
class TableShape:
    """One table of the target as its metadata describes it now."""

    info: TableInfo
    columns: tuple[ColumnInfo, ...]
    relationships: tuple[LookupRelationship, ...] = ()

    @property
    def name(self) -> str:
        return self.info.logical_name

    @property
    def id_column(self) -> str:
        return self.info.primary_id

    @cached_property
    def by_read_name(self) -> dict[str, ColumnInfo]:
        """Columns by the property a row carries them under (`_x_value` for a lookup)."""
        return {c.read_name: c for c in self.columns}

    def navigation(self, column: str, target: str) -> str | None:
        for relationship in self.relationships:
            if relationship.column == column and relationship.target == target:
                return relationship.navigation_property
        return None


@dataclass(frozen=True)
class Schema:
    """The restored tables' shapes, and the entity set of every table a lookup may point to
    (a bind value names the target's set: `/systemusers(<id>)`)."""

    tables: Mapping[str, TableShape]
    entity_sets: Mapping[str, str] = field(default_factory=dict)

    def entity_set(self, table: str) -> str | None:
        shape = self.tables.get(table)
        if shape is not None and shape.info.entity_set:
            return shape.info.entity_set
        return self.entity_sets.get(table)


def lookup_target(row: Mapping[str, Any], column: ColumnInfo) -> str | None:
    """The table a lookup value of `row` points to: the row's own annotation (polymorphic
    lookups carry it), else the column's only target."""
    named = row.get(column.read_name + LOOKUP_TABLE)
    if isinstance(named, str) and named:
        return named
    return column.targets[0] if len(column.targets) == 1 else None
