"""Environment display names, remembered from the platform's listings.

A backup request carries only an environment id, and the create-backup answer names no
environment, yet history and notifications should say "Contoso Prod", not a GUID. Every listing
the app makes anyway (the timer's round, the orchestrator's reads) refreshes this small table, so
naming an environment costs one point read and no platform call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from shared.storage.keys import normalize_environment_id
from shared.storage.tables import upsert_batches

PARTITION = "env"
MAX_NAME = 256


class EnvironmentDirectory:
    def __init__(self, table: Callable[[], TableClient]) -> None:
        self._table = table

    def remember(self, names: Iterable[tuple[str, str]]) -> int:
        """Upsert (environment id, display name) pairs; returns how many were written."""
        entities = []
        for environment_id, name in names:
            key = normalize_environment_id(environment_id)
            if key is None or not name:
                continue
            entities.append({"PartitionKey": PARTITION, "RowKey": key, "name": name[:MAX_NAME]})
        return upsert_batches(self._table(), entities) if entities else 0

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
