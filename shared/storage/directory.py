"""Environment display names (and types), remembered from the platform's listings.

A backup request carries only an environment id, and the create-backup answer names no
environment, yet history and notifications should say "Contoso Prod", not a GUID. Every listing
the app makes anyway (the timer's round, the orchestrator's reads) refreshes this small table, so
naming an environment costs one point read and no platform call. The status page lists the
table (environments in scope: their type decides `type:` selectors) for the same reason.

Names also stay in memory for a few minutes, whether read or remembered: a timer round
remembers every name in scope, and the backups it fans out in the same process then name their
environments with no storage round trip at all. A name is only a label, so one that changed a
few minutes ago on another instance is a price worth that trip per backup.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
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
# How long a name read or remembered here is used without reading it again (one entry per
# environment this process has named: hundreds, a few thousand at most).
NAME_TTL = timedelta(minutes=5)


class _KeptNames:
    """Names by environment key, each with the moment it stops being used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, tuple[str | None, datetime]] = {}

    def put(self, named: Iterable[tuple[str, str | None]], until: datetime) -> None:
        with self._lock:
            self._names.update((key, (name, until)) for key, name in named)

    def get(self, key: str) -> tuple[str | None, datetime] | None:
        with self._lock:
            return self._names.get(key)


@dataclass(frozen=True, slots=True)
class KnownEnvironment:
    environment_id: str
    name: str
    type: str | None = None


class EnvironmentDirectory(OneTable):
    """`{prefix}Environments`: PK "env", RK <environment id>: its display name and type."""

    TABLE = "Environments"

    @functools.cached_property
    def _kept(self) -> _KeptNames:
        # Made on first use (two threads racing here may each make one; the loser's entries
        # are only read again from the table).
        return _KeptNames()

    def _keep(self, named: Iterable[tuple[str, str | None]]) -> None:
        self._kept.put(named, self._clock() + NAME_TTL)

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
        if not entities:
            return 0
        written = upsert_batches(self._table(), entities)
        self._keep((e["RowKey"], e["name"]) for e in entities)
        return written

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
        kept = self._kept.get(key)
        if kept is not None and self._clock() < kept[1]:
            return kept[0]
        try:
            name = self._table().get_entity(PARTITION, key).get("name")
        except ResourceNotFoundError:
            name = None
        found = str(name) if name else None
        self._keep([(key, found)])
        return found


def directory_for(ctx: AppContext) -> EnvironmentDirectory:
    """The directory on the context's storage account and table prefix, built once per context."""
    from shared.runtime import side_store

    return side_store(ctx, EnvironmentDirectory)
