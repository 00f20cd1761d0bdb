"""The data backup store (contract section 9): points of Dataverse table rows in Blob Storage.

Layout and design: docs/data-store.md. The data backup operation calls, per point:
`write_rows` / `write_deleted` for each page, then `commit_point`; readers use `list_points`,
`read_table`, `record_versions`; the retention timer calls `sweep`.

The names below load on first use, so `shared.settings` (which needs only the retention rule)
does not pull the store into the function app's cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.data_store.connection import data_store_from_settings, open_data_store
    from shared.data_store.layout import new_point_id
    from shared.data_store.manifest import FULL, INCREMENTAL, FileEntry, Manifest, TableEntry
    from shared.data_store.retention import (
        DEFAULT_CHAIN_BOUND,
        DEFAULT_RETENTION,
        RetentionPolicy,
        expiries,
        kept,
        needs_full_copy,
    )
    from shared.data_store.store import (
        CatalogEntry,
        ChainBroken,
        DataStore,
        IncompletePoint,
        IndexAppends,
        PointAlreadyComplete,
        RecordVersion,
        SweepResult,
        TableCommit,
    )

_HOME = {
    "data_store_from_settings": "connection", "open_data_store": "connection",
    "new_point_id": "layout",
    "FULL": "manifest", "INCREMENTAL": "manifest", "FileEntry": "manifest",
    "Manifest": "manifest", "TableEntry": "manifest",
    "DEFAULT_CHAIN_BOUND": "retention", "DEFAULT_RETENTION": "retention",
    "RetentionPolicy": "retention", "expiries": "retention", "kept": "retention",
    "needs_full_copy": "retention",
    "CatalogEntry": "store", "ChainBroken": "store", "DataStore": "store",
    "IncompletePoint": "store", "IndexAppends": "store", "PointAlreadyComplete": "store",
    "RecordVersion": "store", "SweepResult": "store",
    "TableCommit": "store",
}

__all__ = [
    "DEFAULT_CHAIN_BOUND", "DEFAULT_RETENTION", "FULL", "INCREMENTAL", "CatalogEntry",
    "ChainBroken", "DataStore", "FileEntry", "IncompletePoint", "IndexAppends", "Manifest",
    "PointAlreadyComplete", "RecordVersion",
    "RetentionPolicy", "SweepResult", "TableCommit", "TableEntry", "data_store_from_settings",
    "expiries", "kept", "needs_full_copy", "new_point_id", "open_data_store",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
