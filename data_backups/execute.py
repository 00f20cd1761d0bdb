"""Carrying out a data backup's commands: Dataverse reads and backup store writes (the I/O).

Every Dataverse fault becomes an answer (`engine.execute.fault_answer`), per table for a page;
storage failures propagate and the queue delivers the step again. Each write is idempotent:
chunk names come from the state's counters, so a step run again rewrites the same blobs.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from data_backups import commands as c
from engine.answers import Refused, Throttled
from engine.execute import fault_answer
from shared import errors
from shared.concurrency import at_once
from shared.data_store import (
    ChainBroken,
    DataStore,
    IncompletePoint,
    IndexAppends,
    PointAlreadyComplete,
    layout,
    new_point_id,
)
from shared.policy.backoff import MIN_WAIT_SECONDS
from shared.runtime import AppContext

if TYPE_CHECKING:
    from shared.data_store import FileEntry, Manifest

K = TypeVar("K")
V = TypeVar("V")


def execute(ctx: AppContext, command: Any, operation_id: str) -> Any:
    if isinstance(command, c.ReadTables):
        started = _plan_reads.take(command)
        if started is not None:
            from shared.power_platform import record_call

            answer, calls = started.result()
            for call in calls:  # the step's call log holds them, as if made here
                record_call(call)
            return answer
    return _answered(ctx, command)


def _answered(ctx: AppContext, command: Any, asked: threading.Event | None = None) -> Any:
    from shared.dataverse import NoDataverse

    try:
        return _carry_out(ctx, command, asked)
    except NoDataverse as error:
        return Refused("NoDataverse", error.message)
    except errors.PowerPlatformError as error:
        return fault_answer(error)


class _Waiting(Generic[K, V]):
    """Answers started ahead for a step that will ask for them in this process: each taken
    once by its key; one nobody took within `seconds` is dropped at the next start or take,
    and no more than `limit` wait, so what a step elsewhere never takes stays bounded."""

    def __init__(self, seconds: float, limit: int) -> None:
        self._seconds, self._limit = seconds, limit
        self._waiting: dict[K, tuple[float, Future[V]]] = {}
        self._lock = threading.Lock()

    def start(self, key: K, work: Callable[[], V]) -> bool:
        """Whether `work` was started (not when the key already waits, nor when full)."""
        with self._lock:
            now = self._drop_stale()
            if key not in self._waiting and len(self._waiting) < self._limit:
                self._waiting[key] = (now, _read_ahead_pool().submit(work))
                return True
            return False

    def take(self, key: K) -> Future[V] | None:
        with self._lock:
            self._drop_stale()
            found = self._waiting.pop(key, None)
        return found[1] if found is not None else None

    def _drop_stale(self) -> float:
        now = time.monotonic()
        for key in [k for k, (at, _) in self._waiting.items() if now - at > self._seconds]:
            del self._waiting[key]
        return now


@functools.lru_cache(maxsize=1)
def _read_ahead_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(8, thread_name_prefix="data-read-ahead")


# A plan step's reads started before its operation is admitted: the queue intake knows the plan's
# command from the request alone (`planning.first_read`), so the metadata, the previous points
# and the first pages are read while the admission is written, not after it; taken by the plan
# step running the same command in this process (a duplicate request, not run, leaves its answer
# to expire).
_plan_reads: _Waiting[c.ReadTables, tuple[Any, list[Any]]] = _Waiting(60.0, 8)


# How long the admission's writes, and the plan's own reads of the store and the environment,
# hold back for the remembered Web API's requests to go out first. A bound, not a wait for an
# answer: from a real environment the metadata's answer takes longer, and they then go on beside it.
HEAD_START_SECONDS = 0.05


def start_plan_read(ctx: AppContext, command: c.ReadTables) -> threading.Event:
    """Carry out `command` now, in the background, for the plan step that will ask for it.
    Returns what is set once the read has asked the platform for all it asks ahead (the
    metadata, and the pages after it) or has nothing to ask: the caller's writes hold back for
    it (`HEAD_START_SECONDS` at most), as the plan's other reads do (`_read_tables`)."""
    from shared.power_platform import recording_calls

    asked = threading.Event()

    def read() -> tuple[Any, list[Any]]:
        try:
            with recording_calls() as calls:
                answer = _answered(ctx, command, asked)
            return answer, list(calls)
        finally:
            asked.set()

    if not _plan_reads.start(command, read):
        asked.set()
    return asked


@dataclass(frozen=True, slots=True)
class _Resume:
    """Where an environment's newest point left its tables, as this process last saw it (the
    point it committed, or the manifests its plan read): per table likely copied
    incrementally next, its delta link and id column. A hint: a page read from a stale one
    (another process committed since) is asked for by no step and expires."""

    api_url: str
    instance_url: str
    links: tuple[tuple[str, str, str], ...]


_RESUMES_MAX = 64
_resumes: dict[tuple[str, str], _Resume] = {}
_resumes_lock = threading.Lock()


def _resume_key(ctx: AppContext, env: str) -> tuple[str, str]:
    return store_for(ctx).container.url, env.strip().lower()


def _resume_of(ctx: AppContext, env: str) -> _Resume | None:
    with _resumes_lock:
        return _resumes.get(_resume_key(ctx, env))


def _remember(ctx: AppContext, env: str, resume: _Resume | None) -> None:
    key = _resume_key(ctx, env)
    with _resumes_lock:
        _resumes.pop(key, None)
        if resume is not None and resume.links:
            if len(_resumes) >= _RESUMES_MAX:
                del _resumes[next(iter(_resumes))]  # the least recently remembered
            _resumes[key] = resume


def _remember_point(ctx: AppContext, api_url: str, instance_url: str, manifest: Manifest) -> None:
    """Remember where a point just committed left its tables."""
    _remember(ctx, manifest.environment_id, _Resume(api_url, instance_url, tuple(_likely(
        {name: (manifest.point_id, entry.chain_length, entry.delta_link)
         for name, entry in manifest.tables.items()},
        {name: entry.id_column for name, entry in manifest.tables.items()}))))


def _likely(known: Mapping[str, tuple[str | None, int | None, str | None]],
            id_columns: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(table, delta link, id column) of the tables whose next copy is likely incremental."""
    from shared.data_store.retention import DEFAULT_CHAIN_BOUND, needs_full_copy

    return [(table, link, id_columns[table])
            for table, (_, chain_length, link) in sorted(known.items())
            if link is not None and needs_full_copy(chain_length, DEFAULT_CHAIN_BOUND) is None]


def _client_at(ctx: AppContext, api_url: str, instance_url: str) -> Any:
    """A client of the environment's Web API on the process's shared connection pool (so not
    closed: read-ahead pages may still use it)."""
    from shared.dataverse import DataverseClient
    from shared.dataverse.client import shared_http_client
    from shared.power_platform.auth import token_provider_from_settings

    return DataverseClient(
        api_url, instance_url=instance_url,
        token_provider=token_provider_from_settings(ctx.settings),
        bap_url=ctx.settings.pp_bap_url, http_client=shared_http_client(),
    )


@functools.lru_cache(maxsize=8)
def _store(connection: str, container: str, service_uri: str | None) -> DataStore:
    from shared.data_store import open_data_store

    return open_data_store(connection, container, service_uri=service_uri)


def store_for(ctx: AppContext) -> DataStore:
    settings = ctx.settings
    return _store(settings.data_backup_storage.reveal(), settings.data_backup_container,
                  settings.data_backup_blob_service_uri)


def _carry_out(ctx: AppContext, command: Any, asked: threading.Event | None = None) -> Any:
    if isinstance(command, c.ReadTables):
        return _read_tables(ctx, command, asked or threading.Event())
    if isinstance(command, c.CopyPages):
        return _copy_pages(ctx, command)
    if isinstance(command, c.CommitPoint):
        return _commit(ctx, command)
    if isinstance(command, c.Sweep):
        result = store_for(ctx).sweep(
            command.environment_id, ctx.settings.data_backup_retention, ctx.clock()
        )
        return c.Swept(len(result.deleted_points), tuple(result.failures), result.more)
    raise TypeError(f"not a data backup command: {type(command).__name__}")


def _read_tables(ctx: AppContext, command: c.ReadTables, asked: threading.Event) -> c.TablesRead:
    """The plan's reads; `asked` is set once the remembered Web API's requests are out (or there
    are none to make)."""
    from shared.dataverse import DataverseClient
    from shared.dataverse.client import shared_http_client

    env = command.environment_id
    resume = _resume_of(ctx, env) if command.read_ahead else None

    def read_ahead_of(links: Sequence[tuple[str, str, str]], client: Any) -> None:
        chosen = [(link, id_column) for table, link, id_column in links
                  if command.tables is None or table in command.tables]
        # More tables than wait in memory: their copy steps read them as they come.
        if len(chosen) <= _READ_AHEAD_MAX:
            for link, id_column in chosen:
                read_ahead(client, client.delta_page(link, page_size=command.page_size),
                           id_column)

    # Not a `with`: its end would wait for the remembered Web API's metadata, which is waited
    # for only if the platform names that API (one that hangs would hold the plan otherwise).
    side = ThreadPoolExecutor(3)
    try:
        # Where the newest point left off names the Web API before the platform does: its
        # metadata is asked for beside the environment, and the pages as soon as the metadata
        # has come (asked before it, the metadata could wait its turn behind the pages), not
        # after the platform's answer: a page is taken only by a cursor of the URL the platform
        # names, so one read from an old URL is a wasted request that expires, never a wrong
        # row. The store is read meanwhile, to plan from, once those requests are out: on a busy
        # interpreter its reads (and the admission's writes, `start_plan_read`) beside them
        # would slow the metadata's answer, and the asking for the pages after it.
        # The remembered Web API: its URLs, its client, its metadata.
        early: tuple[tuple[str, str], Any, Future[Any]] | None = None
        if resume is not None:
            early_client, links = _client_at(ctx, resume.api_url, resume.instance_url), resume.links
            early_metadata = side.submit(early_client.tables)
            early = (resume.api_url, resume.instance_url), early_client, early_metadata

            def ask_pages(done: Future[Any]) -> None:
                try:
                    if done.exception() is None:
                        read_ahead_of(links, early_client)
                finally:
                    asked.set()

            early_metadata.add_done_callback(ask_pages)
            asked.wait(HEAD_START_SECONDS)
        else:
            asked.set()
        previous = side.submit(_previous_points, ctx, store_for(ctx), env)
        environment = ctx.platform.get_environment(env)
        api_url = environment.instance_api_url or environment.instance_url or ""
        instance_url = environment.instance_url or api_url
        if early is not None and early[0] == (api_url, instance_url):
            _, client, metadata = early
        else:
            # Not closed: the shared pool is the process's; read-ahead pages may still use it.
            client = DataverseClient.from_settings(ctx.settings, environment,
                                                   http_client=shared_http_client())
            metadata = side.submit(client.tables)
        known, id_columns, sweep_due = previous.result()
        likely = tuple(_likely(known, id_columns))
        infos = metadata.result()
        if command.read_ahead:
            read_ahead_of(likely, client)  # (a page already asked for is not asked again)
        hint = client.recommended_concurrency
    finally:
        side.shutdown(wait=False)
    _remember(ctx, env, _Resume(api_url, instance_url, likely))
    facts = [
        c.TableFacts(info.logical_name, info.entity_set, info.primary_id, info.change_tracking,
                     info.readable, *known.get(info.logical_name, (None, None, None)))
        for info in infos
    ]
    return c.TablesRead(api_url, instance_url, new_point_id(ctx.clock()), tuple(facts), hint,
                        sweep_due)


# First pages of incremental reads, requested by a plan step for the copy step that follows it in
# this process (the engine runs it in the same invocation): the reads overlap the metadata read
# and the plan's checkpoint. At most one step's tables wait (8); a page not taken is read again
# by its copy step.
_READ_AHEAD_MAX = 8
_read_ahead: _Waiting[tuple[str, int, str], Any] = _Waiting(60.0, _READ_AHEAD_MAX)


def read_ahead(client: Any, cursor: Any, id_column: str) -> None:
    """Request a page now, for `take_read_ahead` (a read of the same cursor) later."""
    _read_ahead.start((cursor.url, cursor.page_size, id_column),
                      functools.partial(_read_page, client, cursor, id_column))


def take_read_ahead(cursor: Any, id_column: str) -> Future[Any] | None:
    """The page a plan step requested for this cursor, if one is waiting (taken: once)."""
    return _read_ahead.take((cursor.url, cursor.page_size, id_column))


def _previous_points(
    ctx: AppContext, store: DataStore, env: str
) -> tuple[dict[str, tuple[str, int, str | None]], dict[str, str], bool]:
    """Per table: the newest complete point holding it, its chain length and the delta link its
    copy ended with (both in that point's manifest: one read per point, all at once); per
    table, its id column there; and whether the point's retention sweep would delete anything
    (`DataStore.sweep_due`)."""
    from azure.core.exceptions import ResourceNotFoundError

    now = ctx.clock()
    try:
        catalog = store.list_points(env, policy=ctx.settings.data_backup_retention, now=now)
    except ResourceNotFoundError:  # the container itself: the store's very first point
        store.ensure_container()
        return {}, {}, False
    newest: dict[str, str] = {}
    for entry in catalog:
        for table in entry.tables:
            newest.setdefault(table, entry.point_id)
    points = sorted(set(newest.values()))
    with ThreadPoolExecutor(max(1, min(8, len(points) + 1))) as pool:
        due = pool.submit(store.sweep_due, env, catalog, ctx.settings.data_backup_retention, now)
        manifests = dict(zip(points, pool.map(lambda p: store.manifest(env, p), points),
                             strict=True))
        sweep_due = due.result()
    return {
        table: (point, manifests[point].tables[table].chain_length,
                manifests[point].tables[table].delta_link)
        for table, point in newest.items()
    }, {table: manifests[point].tables[table].id_column for table, point in newest.items()}, \
        sweep_due


def _copy_pages(ctx: AppContext, command: c.CopyPages) -> c.PagesCopied:
    store = store_for(ctx)
    workers = max(1, len(command.jobs))
    client = _client_at(ctx, command.api_url, command.instance_url)
    # Per table: one thread writes its pages while another reads the next one, so at most one
    # request per table is in flight (the step's concurrency stays the server's); a page's
    # deleted ids and the delta link go out beside its rows.
    with ThreadPoolExecutor(workers) as tables, ThreadPoolExecutor(workers) as reads, \
            ThreadPoolExecutor(2 * workers) as writes:
        # The commit (when this step may make it) reads the previous points' manifests: now,
        # while the pages are read and written, not after them.
        previous = {p: writes.submit(store.manifest, command.environment_id, p)
                    for p in {job.previous for job in command.jobs} if p} \
            if command.commit is not None else {}
        step = _Step(client, store, command, reads, writes,
                     time.monotonic() + command.budget_seconds,
                     {job.table: [] for job in command.jobs})
        try:
            results = list(tables.map(step.copy_table, command.jobs))
        except PointAlreadyComplete:
            results = None
    if results is None:
        # This step ran before and committed the point (the commit below), then crashed
        # before its checkpoint: the point stands as committed. What this run wrote before it
        # found that out is in no manifest (its writes have all settled: the pools are shut).
        committed = store.manifest(command.environment_id, command.point_id)
        store.drop_unnamed(command.environment_id, command.point_id, committed,
                           {t: [f.name for f in files] for t, files in step.written.items()})
        return c.PagesCopied({}, _committed(committed))
    ended = time.monotonic()
    copied = c.PagesCopied({job.table: _waited(result, stopped_at, ended)
                            for job, (result, stopped_at) in zip(command.jobs, results,
                                                                 strict=True)})
    if command.commit is not None and not any(
            isinstance(r, c.PageCopied) for r in copied.results.values()) \
            and store.is_complete(command.environment_id, command.point_id):
        # Run again after it committed (a crash before its checkpoint), and no table could be
        # read this time (throttled, refused): no write met the commit, so ask.
        return c.PagesCopied({}, _committed(store.manifest(command.environment_id,
                                                           command.point_id)))
    if command.commit is None or not all(_finished(r) for r in copied.results.values()):
        return copied
    manifest = _commit_written(store, command, copied, step.written, previous)
    if isinstance(manifest, c.CommitRefused):
        return replace(copied, committed=manifest)
    _remember_point(ctx, command.api_url, command.instance_url, manifest)
    return replace(copied, committed=_committed(manifest))


def _finished(result: Any) -> bool:
    return isinstance(result, c.PageCopied) and result.next_cursor is None \
        and result.stopped is None


def _commit_written(
    store: DataStore, command: c.CopyPages, copied: c.PagesCopied,
    written: Mapping[str, list[FileEntry]], previous: Mapping[str, Future[Manifest]],
) -> Manifest | c.CommitRefused:
    """The point, committed in the step that copied every table from its start (the plan says
    when: `CopyPages.commit`), from the files the step wrote: no listing, no second step."""
    from shared.data_store import FULL, TableCommit

    plan = command.commit
    assert plan is not None
    tables = []
    for job in command.jobs:
        result = copied.results[job.table]
        tables.append(TableCommit(
            job.table, job.mode, job.id_column, result.row_chunks, result.deleted_chunks,
            job.previous, result.rows if job.mode == FULL else None, result.delta_link))
    try:
        return store.commit_point(
            command.environment_id, command.point_id, plan.point_time, plan.label, tables,
            failed=dict(plan.failed), written=written, previous_read=previous,
        )
    except (IncompletePoint, ChainBroken) as error:
        return c.CommitRefused(str(error))


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
    written: dict[str, list[FileEntry]]  # per table, the files this step wrote

    def copy_table(self, job: c.PageJob) -> tuple[Any, float | None]:
        """Up to `max_pages` pages of one table, each written while the next is read. The
        pages' `PageCopied` (with the fault that stopped them, if one did), or the fault alone
        when not even the first page could be read; and when the fault came (monotonic). The
        files written are kept in `written`."""
        from shared.dataverse import Page, PageCursor

        command = self.command
        if job.cursor is not None:
            cursor = PageCursor.from_dict(job.cursor)
        elif job.since is not None:
            cursor = self.client.delta_page(job.since, page_size=command.page_size)
        else:
            cursor = self.client.first_page(job.entity_set, page_size=command.page_size,
                                            track_changes=True)
        progress = _Progress(job.row_seq, job.deleted_seq, files=self.written[job.table])
        # The pages' index blocks go out together when the table's run ends (before its
        # result counts): one append per index blob, not one per page.
        index = IndexAppends()
        pending: Future[Any] | None = (
            take_read_ahead(cursor, job.id_column)
            if job.cursor is None and job.since is not None else None
        ) or self.reads.submit(_read_page, self.client, cursor, job.id_column)
        stopped: tuple[Any, float | None] | None = None
        while pending is not None:
            page = pending.result()
            if not isinstance(page, Page):  # a fault's answer: the pages before it stand
                stopped = page, time.monotonic()
                break
            more = (page.next is not None and progress.pages + 1 < command.max_pages
                    and time.monotonic() < self.deadline)
            # A write that fails propagates (the step runs again and rewrites the same chunks);
            # the read in flight is waited for by the pool, its page dropped.
            pending = self.reads.submit(_read_page, self.client, page.next, job.id_column) \
                if more else None
            progress.add(page, self.write_page(job, progress, page, index,
                                               send=pending is None))
        self.store.append_index(index)  # what a fault left held (nothing, mostly)
        if stopped is not None:
            return progress.result(stopped=stopped[0]), stopped[1]
        return progress.result(), None

    def write_page(
        self, job: c.PageJob, progress: _Progress, page: Any, index: IndexAppends, *,
        send: bool,
    ) -> list[FileEntry]:
        """The page's rows and deleted ids, at once: neither needs the other first (the point
        counts only once its manifest exists); their index blocks join those `index` holds,
        all sent with the run's last page (`send`). Returns the files written."""
        env, point, store = self.command.environment_id, self.command.point_id, self.store
        writes: list[Callable[[], FileEntry]] = []
        if page.lines:
            writes.append(lambda: store.write_row_lines(
                env, point, job.table, progress.row_seq, page.lines, page.ids,
                id_column=job.id_column, index=index, send=send, previous=job.previous))
        if page.deleted:
            ids = [d.id for d in page.deleted]
            writes.append(lambda: store.write_deleted(
                env, point, job.table, progress.deleted_seq, ids, id_column=job.id_column,
                index=index, send=send, previous=job.previous))
        # All settled before a failure is raised: no write lands after the step.
        return at_once([functools.partial(_recorded, progress.files, w) for w in writes],
                       lambda: self.writes)


def _recorded(files: list[FileEntry], write: Callable[[], FileEntry]) -> FileEntry:
    """`write()`, its file recorded as it returns: one whose sibling write failed (found the
    point committed) is then among the files a run that lost deletes."""
    entry = write()
    files.append(entry)
    return entry


def _read_page(client: Any, cursor: Any, id_column: str) -> Any:
    """The page, or the answer its fault maps to (TokenExpired, Throttled, Refused, ...)."""
    from shared.dataverse import ChangeTokenExpired

    try:
        return client.read_page(cursor, id_column=id_column)
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
    delta_link: str | None = None
    dop_hint: int | None = None
    files: list[FileEntry] = field(default_factory=list)

    @property
    def row_seq(self) -> int:
        return self.first_row_seq + self.row_chunks

    @property
    def deleted_seq(self) -> int:
        return self.first_deleted_seq + self.deleted_chunks

    def add(self, page: Any, files: list[FileEntry]) -> None:
        """Count a page whose `files` are written (and recorded in `files` by `write_page`)."""
        self.pages += 1
        size = sum(f.bytes for f in files)
        self.row_chunks += 1 if page.lines else 0
        self.deleted_chunks += 1 if page.deleted else 0
        self.rows += len(page.lines)
        self.deleted += len(page.deleted)
        self.bytes += size
        self.next_cursor = page.next.to_dict() if page.next else None
        self.delta_link = page.delta_link if page.next is None else None
        self.dop_hint = page.dop_hint or self.dop_hint

    def result(self, stopped: Any = None) -> Any:
        if not self.pages:
            return stopped
        return c.PageCopied(self.rows, self.deleted, self.bytes, self.next_cursor,
                            self.row_chunks, self.deleted_chunks, self.dop_hint, stopped,
                            self.delta_link, layout.rewritten(f.name for f in self.files))


def _commit(ctx: AppContext, command: c.CommitPoint) -> Any:
    from shared.data_store import TableCommit

    try:
        manifest = store_for(ctx).commit_point(
            command.environment_id, command.point_id, command.point_time, command.label,
            [TableCommit(t.table, t.mode, t.id_column, t.row_chunks, t.deleted_chunks,
                         t.previous, t.rows, t.delta_link, t.rewritten)
             for t in command.tables],
            failed=dict(command.failed),
        )
    except (IncompletePoint, ChainBroken) as error:
        return c.CommitRefused(str(error))
    if command.api_url is None:  # (a step planned before the address was in the command)
        _remember(ctx, command.environment_id, None)
    else:
        _remember_point(ctx, command.api_url, command.instance_url or command.api_url, manifest)
    return _committed(manifest)


def _committed(manifest: Manifest) -> c.Committed:
    return c.Committed(
        {name: (entry.rows, entry.bytes) for name, entry in manifest.tables.items()},
        {name: (entry.changed, entry.deleted) for name, entry in manifest.tables.items()},
    )
