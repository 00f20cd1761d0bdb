"""Environment display names (and types), remembered from the platform's listings.

A backup request carries only an environment id, and the create-backup answer names no
environment, yet history and notifications should say "Contoso Prod", not a GUID. Every listing
the app makes anyway (the timer's round, the orchestrator's reads) refreshes this small table, so
naming an environment costs one point read and no platform call. The status page lists the
table (environments in scope: their type decides `type:` selectors) for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceNotFoundError

from shared.storage.keys import normalize_environment_id
from shared.storage.tables import OneTable, upsert_batches

if TYPE_CHECKING:
    from shared.runtime import AppContext

PARTITION = "env"
MAX_NAME = 256
# A listing reads at most this many rows: tenants have tens to hundreds of environments.
MAX_LISTED = 2000


@dataclass(frozen=True, slots=True)
class KnownEnvironment:
    environment_id: str
    name: str
    type: str | None = None


class EnvironmentDirectory(OneTable):
    """`{prefix}Environments`: PK "env", RK <environment id>: its display name and type."""

    TABLE = "Environments"

    def remember(self, names: Iterable[tuple[str, str] | tuple[str, str, str | None]]) -> int:
        """Upsert (environment id, display name[, type]) tuples; returns how many were written."""
        entities = []
        for environment_id, name, *rest in names:
            key = normalize_environment_id(environment_id)
            if key is None or not name:
                continue
            entity = {"PartitionKey": PARTITION, "RowKey": key, "name": name[:MAX_NAME]}
            if rest and rest[0]:
                entity["type"] = rest[0][:MAX_NAME]
            entities.append(entity)
        return upsert_batches(self._table(), entities) if entities else 0

    def list(self, limit: int = MAX_LISTED) -> list[KnownEnvironment]:
        """Every remembered environment (at most `limit`), ordered by id."""
        rows = self._table().query_entities(
            "PartitionKey eq @pk", parameters={"pk": PARTITION}, results_per_page=1000
        )
        known: list[KnownEnvironment] = []
        try:
            for row in rows:
                if len(known) >= limit:
                    break
                known.append(KnownEnvironment(
                    str(row["RowKey"]), str(row.get("name") or ""), row.get("type") or None
                ))
        except ResourceNotFoundError:
            return []  # no listing has been remembered yet
        return known

    def name_of(self, environment_id: str) -> str | None:
        key = normalize_environment_id(environment_id)
        if key is None:
            return None
        try:
            entity = self._table().get_entity(PARTITION, key)
        except ResourceNotFoundError:
            return None
        name = entity.get("name")
        return str(name) if name else None


def directory_for(ctx: AppContext) -> EnvironmentDirectory:
    """The directory on the context's storage account and table prefix, built once per context."""
    from shared.runtime import side_store

    return side_store(ctx, EnvironmentDirectory)
