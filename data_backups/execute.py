"""Carrying out a data backup's commands: Dataverse reads and backup store writes (the I/O).

Every Dataverse fault becomes an answer (`engine.execute.fault_answer`), per table for a page;
storage failures propagate and the queue delivers the step again. Each write is idempotent:
chunk names come from the state's counters, so a step run again rewrites the same blobs.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from data_backups import commands as c
from engine.answers import Refused, Throttled
from engine.execute import fault_answer
from shared import errors
from shared.data_store import ChainBroken, DataStore, IncompletePoint, new_point_id
from shared.data_store.layout import point_prefix
from shared.policy.backoff import MIN_WAIT_SECONDS
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

    env = command.environment_id
    with ThreadPoolExecutor(1) as side:
        # The store's part needs nothing from Dataverse: read while the metadata is.
        previous = side.submit(_previous_points, ctx, store_for(ctx), env)
        environment = ctx.platform.get_environment(env)
        with DataverseClient.from_settings(ctx.settings, environment) as client:
            infos = client.tables()
            hint = client.recommended_concurrency
        known = previous.result()
    api_url = environment.instance_api_url or environment.instance_url or ""
    facts = [
        c.TableFacts(info.logical_name, info.entity_set, info.primary_id, info.change_tracking,
                     info.readable, *known.get(info.logical_name, (None, None, None)))
        for info in infos
    ]
    return c.TablesRead(api_url, environment.instance_url or api_url, new_point_id(ctx.clock()),
                        tuple(facts), hint)


def _previous_points(
    ctx: AppContext, store: DataStore, env: str
) -> dict[str, tuple[str, int, str | None]]:
    """Per table: the newest complete point holding it, its chain length and its delta link."""
    store.ensure_container()  # once per point, before its first write
    newest: dict[str, str] = {}
    for entry in store.list_points(env, policy=ctx.settings.data_backup_retention,
                                   now=ctx.clock()):
        for table in entry.tables:
            newest.setdefault(table, entry.point_id)
    points = sorted(set(newest.values()))
    with ThreadPoolExecutor(8) as pool:
        manifests = dict(zip(points, pool.map(lambda p: store.manifest(env, p), points),
                             strict=True))
        links = list(pool.map(lambda item: _delta_link(store, env, item[1], item[0]),
                              newest.items()))
    return {
        table: (point, manifests[point].tables[table].chain_length, link)
        for (table, point), link in zip(newest.items(), links, strict=True)
    }


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

    workers = max(1, len(command.jobs))
    # Per table: one thread writes its pages while another reads the next one, so at most one
    # request per table is in flight (the step's concurrency stays the server's); a page's
    # deleted ids and the delta link go out beside its rows.
    with DataverseClient(
        command.api_url, instance_url=command.instance_url,
        token_provider=token_provider_from_settings(ctx.settings),
        bap_url=ctx.settings.pp_bap_url,
    ) as client, ThreadPoolExecutor(workers) as tables, ThreadPoolExecutor(workers) as reads, \
            ThreadPoolExecutor(2 * workers) as writes:
        step = _Step(client, store_for(ctx), command, reads, writes,
                     time.monotonic() + command.budget_seconds)
        results = list(tables.map(step.copy_table, command.jobs))
    ended = time.monotonic()
    return c.PagesCopied({job.table: _waited(result, stopped_at, ended)
                          for job, (result, stopped_at) in zip(command.jobs, results,
                                                               strict=True)})


def _waited(result: Any, stopped_at: float | None, ended: float) -> Any:
    """A table throttled after some pages: its Retry-After counts from the 429, not from the
    step's end (the other tables' pages were written meanwhile, often for longer)."""
    stopped = getattr(result, "stopped", None)
    if (not isinstance(result, c.PageCopied) or not isinstance(stopped, Throttled)
            or stopped.retry_after is None or stopped_at is None):
        return result
    left = stopped.retry_after - (ended - stopped_at)
    # A wait left below the backoff's floor would read as "no usable Retry-After" (and get the
    # full backoff): wait the floor instead; one already over is none (0).
    left = 0.0 if left <= 0 else max(left, MIN_WAIT_SECONDS)
    return replace(result, stopped=replace(stopped, retry_after=left))


@dataclass(frozen=True, slots=True)
class _Step:
    client: Any
    store: DataStore
    command: c.CopyPages
    reads: ThreadPoolExecutor
    writes: ThreadPoolExecutor
    deadline: float  # monotonic: no read starts after it

    def copy_table(self, job: c.PageJob) -> tuple[Any, float | None]:
        """Up to `max_pages` pages of one table, each written while the next is read. The
        pages' `PageCopied` (with the fault that stopped them, if one did), or the fault alone
        when not even the first page could be read; and when the fault came (monotonic)."""
        from shared.dataverse import Page, PageCursor

        command = self.command
        if job.cursor is not None:
            cursor = PageCursor.from_dict(job.cursor)
        elif job.since is not None:
            cursor = self.client.delta_page(job.since, page_size=command.page_size)
        else:
            cursor = self.client.first_page(job.entity_set, page_size=command.page_size,
                                            track_changes=True)
        progress = _Progress(job.row_seq, job.deleted_seq)
        pending: Future[Any] | None = self.reads.submit(_read_page, self.client, cursor)
        while pending is not None:
            page = pending.result()
            if not isinstance(page, Page):  # a fault's answer: the pages before it stand
                return progress.result(stopped=page), time.monotonic()
            more = (page.next is not None and progress.pages + 1 < command.max_pages
                    and time.monotonic() < self.deadline)
            # A write that fails propagates (the step runs again and rewrites the same chunks);
            # the read in flight is waited for by the pool, its page dropped.
            pending = self.reads.submit(_read_page, self.client, page.next) if more else None
            progress.add(page, self.write_page(job, progress, page))
        return progress.result(), None

    def write_page(self, job: c.PageJob, progress: _Progress, page: Any) -> int:
        """The page's rows, deleted ids and (last page) delta link, at once: none of them
        needs another first (the point counts only once its manifest exists). Returns bytes."""
        env, point, store = self.command.environment_id, self.command.point_id, self.store
        writes: list[Callable[[], int]] = []
        if page.rows:
            writes.append(lambda: store.write_rows(
                env, point, job.table, progress.row_seq, page.rows, id_column=job.id_column
            ).bytes)
        if page.deleted:
            ids = [d.id for d in page.deleted]
            writes.append(lambda: store.write_deleted(
                env, point, job.table, progress.deleted_seq, ids, id_column=job.id_column
            ).bytes)
        if page.next is None:
            # The next point's incremental read starts here; kept with the point it belongs to.
            link = json.dumps({"deltaLink": page.delta_link}).encode()

            def keep_link() -> int:
                store.container.upload_blob(
                    f"{point_prefix(env, point)}{job.table}/{DELTA_LINK}", link, overwrite=True
                )
                return 0

            writes.append(keep_link)
        if len(writes) == 1:
            return writes[0]()
        futures = [self.writes.submit(write) for write in writes]
        wait(futures)  # all settled before a failure is raised: no write lands after the step
        return sum(future.result() for future in futures)


def _read_page(client: Any, cursor: Any) -> Any:
    """The page, or the answer its fault maps to (TokenExpired, Throttled, Refused, ...)."""
    from shared.dataverse import ChangeTokenExpired

    try:
        return client.read_page(cursor)
    except ChangeTokenExpired as error:
        return c.TokenExpired(error.message)
    except errors.PowerPlatformError as error:
        return fault_answer(error)


@dataclass(slots=True)
class _Progress:
    """What one table's pages of this step wrote so far (chunk numbers go on from the state's)."""

    first_row_seq: int
    first_deleted_seq: int
    pages: int = 0
    row_chunks: int = 0
    deleted_chunks: int = 0
    rows: int = 0
    deleted: int = 0
    bytes: int = 0
    next_cursor: dict[str, Any] | None = None
    dop_hint: int | None = None

    @property
    def row_seq(self) -> int:
        return self.first_row_seq + self.row_chunks

    @property
    def deleted_seq(self) -> int:
        return self.first_deleted_seq + self.deleted_chunks

    def add(self, page: Any, size: int) -> None:
        self.pages += 1
        self.row_chunks += 1 if page.rows else 0
        self.deleted_chunks += 1 if page.deleted else 0
        self.rows += len(page.rows)
        self.deleted += len(page.deleted)
        self.bytes += size
        self.next_cursor = page.next.to_dict() if page.next else None
        self.dop_hint = page.dop_hint or self.dop_hint

    def result(self, stopped: Any = None) -> Any:
        if not self.pages:
            return stopped
        return c.PageCopied(self.rows, self.deleted, self.bytes, self.next_cursor,
                            self.row_chunks, self.deleted_chunks, self.dop_hint, stopped)


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
