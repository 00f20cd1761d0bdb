"""Reading the backup store for the routes: an environment's points, one record's versions.

A store that has no container yet (no data backup ever ran) holds no point: an empty answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from shared.runtime import AppContext

if TYPE_CHECKING:
    from shared.data_store import CatalogEntry, RecordVersion

T = TypeVar("T")


def _or_nothing(read: Callable[[], T], nothing: T) -> T:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return read()
    except ResourceNotFoundError:
        return nothing


def list_points(
    ctx: AppContext, environment_id: str, *, table: str | None = None,
    after: str | None = None, limit: int = 100,
) -> tuple[list[dict[str, Any]], str | None]:
    """The environment's complete points, newest first, `limit` at a time; the token is the last
    point id of the page (the next page starts after it)."""
    from data_backups.execute import store_for

    store = store_for(ctx)
    nothing: tuple[list[CatalogEntry], bool] = ([], False)
    page, more = _or_nothing(lambda: store.catalog_page(
        environment_id, table=table, after=after, limit=limit,
        policy=ctx.settings.data_backup_retention, now=ctx.clock(),
    ), nothing)
    return [e.to_json() for e in page], page[-1].point_id if more and page else None


def record_history(
    ctx: AppContext, environment_id: str, table: str, record_id: str
) -> dict[str, Any]:
    from data_backups.execute import store_for

    store = store_for(ctx)
    none: list[RecordVersion] = []
    versions = _or_nothing(lambda: store.record_versions(environment_id, table, record_id), none)
    versions.sort(key=lambda v: (v.point_time, v.point_id), reverse=True)
    return {"environmentId": environment_id, "table": table, "recordId": record_id,
            "versions": [v.to_json() for v in versions]}
