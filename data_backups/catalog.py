"""Reading the backup store for the routes: an environment's points, one record's versions."""

from __future__ import annotations

from typing import Any

from shared.runtime import AppContext


def list_points(
    ctx: AppContext, environment_id: str, *, table: str | None = None,
    after: str | None = None, limit: int = 100,
) -> tuple[list[dict[str, Any]], str | None]:
    """The environment's complete points, newest first, `limit` at a time; the token is the last
    point id of the page (the next page starts after it)."""
    from data_backups.execute import store_for

    entries = store_for(ctx).list_points(
        environment_id, table=table, policy=ctx.settings.data_backup_retention, now=ctx.clock()
    )
    if after is not None:
        entries = [e for e in entries if e.point_id < after]
    page = entries[:limit]
    token = page[-1].point_id if len(entries) > limit else None
    return [e.to_json() for e in page], token


def record_history(
    ctx: AppContext, environment_id: str, table: str, record_id: str
) -> dict[str, Any]:
    from data_backups.execute import store_for

    versions = store_for(ctx).record_versions(environment_id, table, record_id)
    versions.sort(key=lambda v: (v.point_time, v.point_id), reverse=True)
    return {"environmentId": environment_id, "table": table, "recordId": record_id,
            "versions": [v.to_json() for v in versions]}
