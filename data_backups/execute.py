"""Carrying out a data backup's commands: Dataverse reads and backup store writes (the I/O).

Every Dataverse fault becomes an answer (`engine.execute.fault_answer`), per table for a page;
storage failures propagate and the queue delivers the step again. Each write is idempotent:
chunk names come from the state's counters, so a step run again rewrites the same blobs.
"""

from __future__ import annotations

import functools
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from data_backups import commands as c
from engine.answers import Refused
from engine.execute import fault_answer
from shared import errors
from shared.data_store import ChainBroken, DataStore, IncompletePoint, new_point_id
from shared.data_store.layout import point_prefix
from shared.runtime import AppContext

DELTA_LINK = "delta-link.json"


def execute(ctx: AppContext, command: Any, operation_id: str) -> Any:
    from shared.dataverse import NoDataverse

    try:
        return _carry_out(ctx, command)
    except NoDataverse as error:
        return Refused("NoDataverse", error.message)
    except errors.PowerPlatformError as error:
        return fault_answer(error)


@functools.lru_cache(maxsize=8)
def _store(connection: str, container: str, service_uri: str | None) -> DataStore:
    from shared.data_store import open_data_store

    return open_data_store(connection, container, service_uri=service_uri)


def store_for(ctx: AppContext) -> DataStore:
    settings = ctx.settings
    return _store(settings.data_backup_storage.reveal(), settings.data_backup_container,
                  settings.data_backup_blob_service_uri)


def _carry_out(ctx: AppContext, command: Any) -> Any:
    if isinstance(command, c.ReadTables):
        return _read_tables(ctx, command)
    if isinstance(command, c.CopyPages):
        return _copy_pages(ctx, command)
    if isinstance(command, c.CommitPoint):
        return _commit(ctx, command)
    if isinstance(command, c.Sweep):
        result = store_for(ctx).sweep(
            command.environment_id, ctx.settings.data_backup_retention, ctx.clock()
        )
        return c.Swept(len(result.deleted_points), tuple(result.failures))
    raise TypeError(f"not a data backup command: {type(command).__name__}")


def _read_tables(ctx: AppContext, command: c.ReadTables) -> c.TablesRead:
    from shared.dataverse import DataverseClient

    environment = ctx.platform.get_environment(command.environment_id)
    with DataverseClient.from_settings(ctx.settings, environment) as client:
        infos = client.tables()
        hint = client.recommended_concurrency
    api_url = environment.instance_api_url or environment.instance_url or ""
    store = store_for(ctx)
    store.ensure_container()  # once per point, before its first write
    env = command.environment_id
    newest: dict[str, str] = {}
    for entry in store.list_points(env, policy=ctx.settings.data_backup_retention,
                                   now=ctx.clock()):
        for table in entry.tables:
            newest.setdefault(table, entry.point_id)
    manifests = {p: store.manifest(env, p) for p in set(newest.values())}
    facts = []
    for info in infos:
        previous = newest.get(info.logical_name)
        chain = delta = None
        if previous is not None:
            chain = manifests[previous].tables[info.logical_name].chain_length
            delta = _delta_link(store, env, previous, info.logical_name)
        facts.append(c.TableFacts(info.logical_name, info.entity_set, info.primary_id,
                                  info.change_tracking, info.readable, previous, chain, delta))
    return c.TablesRead(api_url, environment.instance_url or api_url, new_point_id(ctx.clock()),
                        tuple(facts), hint)


def _delta_link(store: DataStore, env: str, point_id: str, table: str) -> str | None:
    from azure.core.exceptions import ResourceNotFoundError

    name = f"{point_prefix(env, point_id)}{table}/{DELTA_LINK}"
    try:
        data = store.container.download_blob(name).readall()
    except ResourceNotFoundError:
        return None
    link = json.loads(data).get("deltaLink")
    return link if isinstance(link, str) else None


def _copy_pages(ctx: AppContext, command: c.CopyPages) -> c.PagesCopied:
    from shared.dataverse import DataverseClient
    from shared.power_platform.auth import token_provider_from_settings

    store = store_for(ctx)
    with DataverseClient(
        command.api_url, instance_url=command.instance_url,
        token_provider=token_provider_from_settings(ctx.settings),
        bap_url=ctx.settings.pp_bap_url,
    ) as client, ThreadPoolExecutor(max(1, len(command.jobs))) as pool:
        results = list(pool.map(lambda job: _one_page(client, store, command, job),
                                command.jobs))
    return c.PagesCopied({job.table: result for job, result in zip(command.jobs, results,
                                                                    strict=True)})


def _one_page(client: Any, store: DataStore, command: c.CopyPages, job: c.PageJob) -> Any:
    from shared.dataverse import ChangeTokenExpired, PageCursor

    env, point = command.environment_id, command.point_id
    try:
        if job.cursor is not None:
            cursor = PageCursor.from_dict(job.cursor)
        elif job.since is not None:
            cursor = client.delta_page(job.since, page_size=command.page_size)
        else:
            cursor = client.first_page(job.entity_set, page_size=command.page_size,
                                       track_changes=True)
        page = client.read_page(cursor)
    except ChangeTokenExpired as error:
        return c.TokenExpired(error.message)
    except errors.PowerPlatformError as error:
        return fault_answer(error)
    size = 0
    if page.rows:
        size += store.write_rows(env, point, job.table, job.row_seq, page.rows,
                                 id_column=job.id_column).bytes
    if page.deleted:
        size += store.write_deleted(env, point, job.table, job.deleted_seq,
                                    [d.id for d in page.deleted], id_column=job.id_column).bytes
    if page.next is None:
        # The next point's incremental read starts here; kept with the point it belongs to.
        store.container.upload_blob(
            f"{point_prefix(env, point)}{job.table}/{DELTA_LINK}",
            json.dumps({"deltaLink": page.delta_link}).encode(), overwrite=True,
        )
    return c.PageCopied(len(page.rows), len(page.deleted), size,
                        page.next.to_dict() if page.next else None, page.dop_hint)


def _commit(ctx: AppContext, command: c.CommitPoint) -> Any:
    from shared.data_store import TableCommit

    try:
        manifest = store_for(ctx).commit_point(
            command.environment_id, command.point_id, command.point_time, command.label,
            [TableCommit(t.table, t.mode, t.id_column, t.row_chunks, t.deleted_chunks,
                         t.previous, t.rows) for t in command.tables],
            failed=dict(command.failed),
        )
    except (IncompletePoint, ChainBroken) as error:
        return c.CommitRefused(str(error))
    return c.Committed({name: (entry.rows, entry.bytes) for name, entry in manifest.tables.items()})
