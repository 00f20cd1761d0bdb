"""The backup store on Blob Storage: write points, list them, read them back, keep them tidy.

Stateless between calls, so a data backup can spread a point over many invocations: each page of
rows is one `write_rows` call that writes one chunk (its name derived from point, table and the
caller's page number) and its record index entries; `commit_point` then lists what was written,
checks it against the counts the caller declares, and writes the manifest last and create-only.
Until that manifest exists the point is not in the catalog, whatever else was written.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.concurrency import at_once, settled
from shared.data_store import frames, layout, record_index, retention
from shared.data_store.manifest import (
    FULL,
    INCREMENTAL,
    FileEntry,
    Manifest,
    PointSummary,
    TableEntry,
    TableSummary,
    from_metadata,
    summarize,
    to_metadata,
)

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

Row = dict[str, Any]
# A chunk and its index appends (up to INDEX_SHARDS blobs) go out at once, from one pool shared
# by every table's page in flight, so a step's writes cost about one round trip, not 65.
_WRITE_WORKERS = 32
_NEXT_POINT = "~next"  # the point being taken, in `sweep_due` (sorts after any point id)
# Files of a point that never completed are left this long: a backup may still be writing them.
SWEEP_GRACE = timedelta(days=7)
# Deletions one sweep call makes (then it says `more`): a step's worth at Blob Storage's pace.
SWEEP_BATCH = 2000
_write_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _writes() -> ThreadPoolExecutor:
    global _write_pool
    with _pool_lock:
        if _write_pool is None:
            _write_pool = ThreadPoolExecutor(_WRITE_WORKERS, thread_name_prefix="data-store")
        return _write_pool


log = logging.getLogger(__name__)


class IncompletePoint(RuntimeError):
    """The chunks a commit names are not all there (a page was never written)."""


class PointAlreadyComplete(RuntimeError):
    """A page that would rewrite a chunk of a point that is committed (a late duplicate of an
    earlier invocation): refused, so it cannot change what the manifest's checksums describe."""


class ChainBroken(RuntimeError):
    """An incremental names a previous point that does not exist or does not hold the table."""


@dataclass(frozen=True, slots=True)
class TableCommit:
    """What the caller declares about one table when it commits a point."""

    table: str
    mode: str  # FULL or INCREMENTAL
    id_column: str
    row_chunks: int
    deleted_chunks: int = 0
    previous: str | None = None  # for INCREMENTAL: the point it is read on top of
    rows: int | None = None  # the table's row count at the point (a full copy counts itself)
    delta_link: str | None = None  # where the next incremental read starts (kept in the manifest)
    # Per chunk (`rows-000003`) written beside its plain name, the file the run whose checkpoint
    # counted wrote (`layout.chunk_file`); a chunk not named here is its plain name's.
    rewritten: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    point_id: str
    point_time: datetime
    environment_id: str
    label: str | None
    tables: dict[str, TableSummary]
    failed: tuple[str, ...]
    expires_at: datetime
    kept: bool  # False: past its expiry, still here until the next sweep (or held by a chain)

    def to_json(self) -> dict[str, Any]:
        """The point as `ppbackup data points --json` and `GET /api/data-backups` show it."""
        doc: dict[str, Any] = {
            "pointId": self.point_id, "pointTime": _iso(self.point_time),
            "environmentId": self.environment_id, "expiresAt": _iso(self.expires_at),
        }
        if self.label is not None:
            doc["label"] = self.label
        doc["tables"] = [{"table": t.table, "rows": t.rows, "mode": t.mode}
                         for t in sorted(self.tables.values(), key=lambda t: t.table)]
        return doc


@dataclass(frozen=True, slots=True)
class RecordVersion:
    point_id: str
    point_time: datetime
    state: str  # "present" or "deleted"
    row: Row | None

    def to_json(self) -> dict[str, Any]:
        """One entry of `versions` in `ppbackup data record --json` (contract section 9)."""
        return {"pointId": self.point_id, "pointTime": _iso(self.point_time),
                "state": self.state, "row": self.row}


def _iso(moment: datetime) -> str:
    from shared.operations import format_time  # the one way times are written in the contract

    return format_time(moment) or ""


@dataclass(slots=True)
class SweepResult:
    kept: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # expired, but read by a kept or the next point
    deleted_points: list[str] = field(default_factory=list)
    deleted_blobs: int = 0
    failures: list[str] = field(default_factory=list)
    more: bool = False  # stopped at its bound with more to delete: sweep again


def _not_found() -> type[Exception]:
    from azure.core.exceptions import ResourceNotFoundError

    return ResourceNotFoundError


def _index_blocks(
    env: str, point_id: str, table: str, chunk: FileEntry, id_column: str, kind: str,
    encoded: frames.EncodedChunk,
) -> dict[str, bytes]:
    """Per index blob the chunk's records belong to, the block to append there."""
    entry_kind = record_index.KIND_ROW if kind == layout.ROWS else record_index.KIND_DELETED
    by_shard = record_index.pack_by_shard(
        ((frame.keys, frame.offset, frame.length) for frame in encoded.frames), entry_kind,
        layout.index_shards(encoded.rows),
    )
    # (A shard number is its own hash modulo the family's size.)
    return {
        layout.index_name(env, table, shard, chunk_rows=encoded.rows):
            record_index.encode_packed(point_id, table, chunk.name, chunk.write_id, id_column,
                                       packed)
        for shard, packed in by_shard.items()
    }


# Full generations an append may meet in a row before it gives up (each holds ~49,000 appends:
# more than a few in a row is a server that refuses every append, not a full index).
_MAX_REFUSALS = 16
# One append block holds at most 4 MiB (Blob Storage's limit); held-back blocks go out in
# appends of at most this much.
MAX_APPEND_BYTES = 4 * 1024 * 1024


class IndexAppends:
    """Index blocks of several chunks held back, to go out as one append per index blob
    (`DataStore.append_index`) instead of one per chunk: a full copy's page touches every shard,
    so ten pages would be 160 appends; held until the table's run ends, 16. Several blocks in
    one append read as they would one by one (`record_index.decode_blocks`). Nothing is lost
    by holding them: a block counts only for a committed chunk, and a commit comes after the
    writer appended what it held (a crash before that re-runs the pages, with new write ids)."""

    def __init__(self) -> None:
        self._blocks: dict[str, list[bytes]] = defaultdict(list)
        self._lock = threading.Lock()  # a page's rows and its deleted ids are written at once

    def add(self, blocks: Mapping[str, bytes]) -> None:
        with self._lock:
            for name, block in blocks.items():
                self._blocks[name].append(block)

    def take(self) -> list[tuple[str, bytes]]:
        """The appends to make, each at most `MAX_APPEND_BYTES` (unless one block is larger);
        the buffer is empty afterwards."""
        with self._lock:
            held, self._blocks = self._blocks, defaultdict(list)
        appends: list[tuple[str, bytes]] = []
        for name, blocks in held.items():
            batch: list[bytes] = []
            size = 0
            for block in blocks:
                if batch and size + len(block) > MAX_APPEND_BYTES:
                    appends.append((name, b"".join(batch)))
                    batch, size = [], 0
                batch.append(block)
                size += len(block)
            appends.append((name, b"".join(batch)))
        return appends


class DataStore:
    """One container of the backup store. `before_write(name)` runs before every write (tests
    inject crashes there)."""

    def __init__(
        self, container: ContainerClient, *, before_write: Callable[[str], None] | None = None
    ) -> None:
        self._container = container
        self._before_write = before_write or (lambda _name: None)
        # Per index blob, the generation this process appends to (absent: 0). A process that
        # starts afresh finds the newest by appending: one block in each full one on its way.
        self._generations: dict[str, int] = {}
        self._generations_lock = threading.Lock()

    @property
    def container(self) -> ContainerClient:
        return self._container

    def ensure_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()

    # -- writing -----------------------------------------------------------------------------

    def write_rows(
        self, env: str, point_id: str, table: str, seq: int, rows: Iterable[Row], *,
        id_column: str,
    ) -> FileEntry:
        """Write one page of rows (changed rows, or a page of a full copy) as chunk `seq`."""
        return self._write_chunk(
            env, point_id, table, layout.ROWS, seq, id_column,
            lambda: frames.encode_chunk(rows, lambda row: row[id_column]),
        )

    def write_row_lines(
        self, env: str, point_id: str, table: str, seq: int, lines: Sequence[bytes],
        ids: Sequence[str], *, id_column: str, index: IndexAppends | None = None,
        send: bool = True, previous: str | None = None,
    ) -> FileEntry:
        """`write_rows` for rows as read (`Page.lines`, `Page.ids`): each stored as it came.

        With `index`, the chunk's index blocks join the ones held there; with `send` (the last
        page of a run), all of them go out beside the chunk, otherwise they wait for a later
        write or `append_index`. `previous`: the point an incremental table is read on top of,
        kept with the chunk so that a sweep keeps that point while this one is being written."""
        return self._write_chunk(
            env, point_id, table, layout.ROWS, seq, id_column,
            lambda: frames.encode_lines(zip(ids, lines, strict=True)), index, send, previous,
        )

    def write_deleted(
        self, env: str, point_id: str, table: str, seq: int, ids: Iterable[str], *,
        id_column: str, index: IndexAppends | None = None, send: bool = True,
        previous: str | None = None,
    ) -> FileEntry:
        """Write ids of rows deleted since the previous point as deleted-chunk `seq` (`index`,
        `send`, `previous`: as for `write_row_lines`)."""
        return self._write_chunk(
            env, point_id, table, layout.DELETED, seq, id_column,
            lambda: frames.encode_lines((i, frames.deleted_line(i)) for i in ids), index, send,
            previous,
        )

    def _write_chunk(
        self, env: str, point_id: str, table: str, kind: str, seq: int, id_column: str,
        encode: Callable[[], frames.EncodedChunk], index: IndexAppends | None = None,
        send: bool = True, previous: str | None = None,
    ) -> FileEntry:
        from azure.core.exceptions import ResourceExistsError

        layout.check_point_id(point_id)
        layout.check_table(table)
        encoded = encode()
        write_id = secrets.token_hex(8)
        digest = hashlib.sha256(encoded.data).hexdigest()
        metadata = {"sha256": digest, "rows": str(encoded.rows), "writeid": write_id}
        if previous is not None:
            metadata["previous"] = layout.check_point_id(previous)

        def entry_as(file: str) -> FileEntry:
            return FileEntry(file, digest, len(encoded.data), encoded.rows, write_id)

        def put(file: str) -> None:
            name = layout.chunk_name(env, point_id, table, file)
            self._before_write(name)
            self._container.upload_blob(name, encoded.data, overwrite=False, metadata=metadata)

        planned = entry_as(layout.chunk_file(kind, seq))

        def upload() -> FileEntry:
            # Every write is create-only: a chunk is never changed once written, because a
            # manifest may name it (another run of this step may be committing it right now).
            # The first write of a chunk takes its plain name; one that finds it taken (a re-run
            # after a crash, two runs of one step at once) writes beside it under its write id,
            # while the point is not committed. Which of them a commit names is the checkpoint's
            # word (`TableCommit.rewritten`), or the committing run's own (`written`).
            try:
                put(planned.name)
            except ResourceExistsError:
                if self.is_complete(env, point_id):
                    raise PointAlreadyComplete(
                        f"point {point_id} is complete; its chunks stay as they are") from None
                beside = entry_as(layout.chunk_file(kind, seq, write_id))
                put(beside.name)
                return beside
            return planned

        def blocks(entry: FileEntry) -> dict[str, bytes]:
            return _index_blocks(env, point_id, table, entry, id_column, kind, encoded)

        if index is None and encoded.rows <= 2:  # at most 3 writes: a pool costs more than it saves
            entry = upload()
            for blob, block in blocks(entry).items():
                self._append(blob, block)
            return entry
        # The chunk goes out first, its index blocks are made while it is on its way and join
        # those held (none, without `index`); with `send`, everything held goes out beside it.
        # They need not wait for the chunk: a block counts only while the chunk's writeid is
        # its own (`_look_up`), and only for chunks a manifest commits, which happens after
        # every write of the page returned.
        # Made for the plain name; a write that found it taken adds its own name's blocks after
        # (the plain name's then never count: that chunk's writeid is another run's).
        held = index if index is not None else IndexAppends()
        pool = _writes()
        uploading = pool.submit(upload)
        sending: list[Future[Any]] = [uploading]
        try:
            held.add(blocks(planned))
            if send:
                sending += [pool.submit(self._append, blob, data) for blob, data in held.take()]
        finally:
            wait(sending)  # every write settles before a failure is raised
        settled(sending)
        entry = uploading.result()
        if entry != planned:
            held.add(blocks(entry))
            if send:
                self.append_index(held)
        return entry

    def append_index(self, index: IndexAppends) -> None:
        """Append what `index` holds: one append per index blob, all at once."""
        at_once([functools.partial(self._append, name, data) for name, data in index.take()],
                _writes)

    def _append(self, name: str, block: bytes) -> None:
        """Append `block` to index blob `name`, in its newest generation: one that holds
        `layout.ROLL_OVER_BLOCKS` appends (or refuses one: it is full) is left for the next."""
        from azure.core.exceptions import HttpResponseError

        with self._generations_lock:
            generation = self._generations.get(name, 0)
        for _ in range(_MAX_REFUSALS):
            target = layout.index_generation(name, generation)
            blob = self._container.get_blob_client(target)
            self._before_write(target)
            try:
                try:
                    appended = blob.append_block(block)
                except _not_found():
                    self._create_index(target)
                    appended = blob.append_block(block)
            except HttpResponseError as error:
                # (The storage SDK sets the service's error code on the error it raises.)
                if getattr(error, "error_code", None) != "BlockCountExceedsLimit":
                    raise
                generation = self._roll_over(name, generation)
                continue
            appends = appended.get("blob_committed_block_count")
            if isinstance(appends, int) and appends >= layout.ROLL_OVER_BLOCKS:
                self._roll_over(name, generation)
            return
        raise RuntimeError(f"index blob {name}: {_MAX_REFUSALS} generations in a row refused "
                           "an append as full")

    def _roll_over(self, name: str, full: int) -> int:
        """Generation `full` of `name` takes no more appends: the next one is appended to."""
        with self._generations_lock:
            generation = max(self._generations.get(name, 0), full + 1)
            self._generations[name] = generation
        return generation

    def _create_index(self, name: str) -> None:
        """An empty index blob, unless it is there (another writer was first)."""
        from azure.core.exceptions import ResourceExistsError

        self._before_write(name)
        with contextlib.suppress(ResourceExistsError):
            self._container.get_blob_client(name).create_append_blob(if_none_match="*")

    def is_complete(self, env: str, point_id: str) -> bool:
        return self._container.get_blob_client(layout.manifest_name(env, point_id)).exists()

    def commit_point(
        self, env: str, point_id: str, point_time: datetime, label: str | None,
        tables: Sequence[TableCommit], failed: Mapping[str, str] | None = None,
        *, written: Mapping[str, Sequence[FileEntry]] | None = None,
        previous_read: Mapping[str, Future[Manifest]] | None = None,
    ) -> Manifest:
        """Check every declared chunk is there and write the manifest, create-only.

        `written`: per table, every chunk of it the caller wrote itself (the `FileEntry`s the
        writes returned, in this process): trusted as they are, instead of listing the table's
        folder. `previous_read`: the previous points' manifests the caller is reading already
        (`manifest` calls it started). Idempotent: committing a point that is already complete
        returns its manifest.
        """
        from azure.core.exceptions import ResourceExistsError

        layout.check_point_id(point_id)
        # (A caller that wrote the chunks just now found the point incomplete with each write;
        # the create-only upload below still answers a commit that came first.)
        if written is None and self.is_complete(env, point_id):
            done = self.manifest(env, point_id)
            # (A crash between this commit's manifest and its deletes left them undone.)
            self.drop_unnamed(env, point_id, done, {})
            return done
        # The small index family of every fully copied table, made now: the next points'
        # changes append to it, and the first append would otherwise find it missing (a failed
        # append, a create, the append again: three requests instead of one per blob).
        index_ready = [_writes().submit(self._create_index, name)
                       for t in tables if t.mode == FULL
                       for name in layout.small_index_names(env, t.table)]
        # Each table's listing, and each previous point's manifest once, all at the same time.
        with ThreadPoolExecutor(max(1, min(8, len(tables)))) as pool:
            previous = {p: (previous_read or {}).get(p) or pool.submit(self.manifest, env, p)
                        for p in {t.previous for t in tables if t.mode == INCREMENTAL} if p}
            entries = dict(zip(
                (t.table for t in tables),
                pool.map(lambda t: self._table_entry(
                    env, point_id, t, previous, (written or {}).get(t.table)), tables),
                strict=True,
            ))
        wait(index_ready)  # settled before the manifest (a failure only costs the requests)
        done = Manifest(env, point_id, point_time, label, entries, dict(failed or {}))
        name = layout.manifest_name(env, point_id)
        self._before_write(name)
        try:
            self._container.upload_blob(
                name, done.to_json(), overwrite=False, metadata=to_metadata(done)
            )
        except ResourceExistsError:
            done = self.manifest(env, point_id)  # a concurrent run committed it first
        # What this run wrote or found written that the manifest does not name: files of a
        # run that did not count (none, unless a step ran twice).
        self.drop_unnamed(env, point_id, done, {
            table: [f.name for f in files] for table, files in (written or {}).items()})
        return done

    def drop_unnamed(
        self, env: str, point_id: str, manifest: Manifest,
        files: Mapping[str, Iterable[str]],
    ) -> int:
        """Delete the chunk files of a committed point that its manifest does not name, of
        those known: `files` (per table, what a run wrote in this point), and for every file
        written beside a chunk, `rows-000003.<write id>`, whether the run's or one the manifest
        names, the chunk's own name, `rows-000003` (another run's, which found it free). They
        are what a run that did not count left (a crash before its checkpoint, a step run twice
        at once); a manifest is written once, so nothing will name them later. No request
        unless a step ran twice; any run that finds the point committed does it again, so a
        crash among the deletes is made good by the next. Best effort: a file the container
        keeps (an immutability policy) stays, and goes with its point when it expires. Returns
        how many went."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        files_named = [(table, f.name) for table, entry in manifest.tables.items()
                       for f in (*entry.row_files, *entry.deleted_files)]
        named = set(files_named)
        known = [*files_named, *((t, name) for t, listed in files.items() for name in listed)]
        unnamed = sorted({(t, name) for t, file in known
                          for name in (file, layout.chunk_key(file))} - named)

        def delete(table: str, file: str) -> bool:
            blob = layout.chunk_name(env, point_id, table, file)
            self._before_write(blob)
            try:
                self._container.delete_blob(blob)
            except ResourceNotFoundError:
                return False
            except AzureError as error:  # kept (a policy, a lease), or the service not reached
                log.warning("data_store.unnamed_file_kept", extra={
                    "pointId": point_id, "blob": blob,
                    "code": getattr(error, "error_code", None) or type(error).__name__})
                return False
            return True

        return sum(at_once([functools.partial(delete, t, f) for t, f in unnamed], _writes))

    def _table_entry(
        self, env: str, point_id: str, commit: TableCommit,
        previous: Mapping[str, Future[Manifest]], written: Sequence[FileEntry] | None,
    ) -> TableEntry:
        layout.check_table(commit.table)
        # The caller's own writes name their files; a listing holds every run's, and the
        # checkpoint says which run's count.
        found = ({layout.chunk_key(f.name): f for f in written} if written is not None
                 else self._listed(env, point_id, commit.table))

        def files(kind: str, count: int) -> tuple[FileEntry, ...]:
            result = []
            for seq in range(count):
                key = layout.chunk_file(kind, seq)
                entry = found.get(key if written is not None
                                  else commit.rewritten.get(key, key))
                if entry is None:
                    raise IncompletePoint(
                        f"{commit.table}: {kind} chunk {seq} of {count} was never written"
                    )
                result.append(entry)
            return tuple(result)

        row_files = files(layout.ROWS, commit.row_chunks)
        deleted_files = files(layout.DELETED, commit.deleted_chunks)
        changed = sum(f.rows for f in row_files)
        chain: tuple[str, ...] = ()
        rows = commit.rows
        if commit.mode == INCREMENTAL:
            if commit.previous is None:
                raise ChainBroken(f"{commit.table}: an incremental point needs a previous point")
            try:
                before = previous[commit.previous].result().tables[commit.table]
            except (KeyError, _not_found()) as error:
                raise ChainBroken(
                    f"{commit.table}: point {commit.previous} does not hold this table"
                ) from error
            chain = (*before.chain, commit.previous)
            if rows is None and not row_files and not deleted_files:
                # Nothing changed since: the same count, when that one is known. Otherwise the
                # count stays unknown: a delta does not tell a created row from an updated one,
                # and names as deleted a row created after the previous point (docs/data-store.md)
                rows = before.rows
        elif commit.mode == FULL:
            if deleted_files:
                raise ValueError(f"{commit.table}: a full copy has no deleted rows")
            rows = changed if rows is None else rows
        else:
            raise ValueError(f"mode must be {FULL!r} or {INCREMENTAL!r}, not {commit.mode!r}")
        return TableEntry(
            commit.table, commit.mode, commit.id_column, chain, rows, changed,
            sum(f.rows for f in deleted_files), row_files, deleted_files, commit.delta_link,
        )

    def _listed(self, env: str, point_id: str, table: str) -> dict[str, FileEntry]:
        """The chunks of a table in a point, as the store holds them (one listing)."""
        folder = f"{layout.point_prefix(env, point_id)}{table}/"
        found = {}
        for blob in self._container.list_blobs(name_starts_with=folder, include=["metadata"]):
            name = blob.name[len(folder):].removesuffix(".zz")
            meta = blob.metadata or {}
            if {"sha256", "rows", "writeid"} <= meta.keys():
                found[name] = FileEntry(name, meta["sha256"], int(blob.size), int(meta["rows"]),
                                        meta["writeid"])
        return found

    # -- reading -----------------------------------------------------------------------------

    def manifest(self, env: str, point_id: str) -> Manifest:
        data = self._container.download_blob(layout.manifest_name(env, point_id)).readall()
        return Manifest.from_json(data)

    def summaries(self, env: str, *, with_tables: bool = True) -> list[PointSummary]:
        """Every complete point of an environment from ONE listing: the manifests' metadata.

        A point with more tables than its metadata holds has its manifest read for them, or,
        `with_tables=False` (what needs only times, labels, failures), keeps `tables` None."""
        prefix = layout.manifest_prefix(env)
        result = [
            from_metadata(env, blob.name[len(prefix):].removesuffix(".json"),
                          dict(blob.metadata or {}))
            for blob in self._container.list_blobs(name_starts_with=prefix, include=["metadata"])
        ]
        return self._with_tables(result) if with_tables else result

    def _with_tables(self, summaries: list[PointSummary]) -> list[PointSummary]:
        """`summaries` with the tables their metadata had no room for, from their manifests."""
        missing = [s for s in summaries if s.tables is None]
        if not missing:
            return summaries
        with ThreadPoolExecutor(max(1, min(8, len(missing)))) as pool:
            read = dict(zip((s.point_id for s in missing), pool.map(
                lambda s: summarize(self.manifest(s.environment_id, s.point_id)), missing),
                strict=True))
        return [read.get(s.point_id, s) for s in summaries]

    def list_points(
        self, env: str, *, table: str | None = None,
        policy: retention.RetentionPolicy | None = None, now: datetime | None = None,
    ) -> list[CatalogEntry]:
        """The catalog: an environment's complete points, newest first, with their expiry."""
        return self._catalog(env, self.summaries(env), table, policy, now)

    def catalog_page(
        self, env: str, *, table: str | None = None, after: str | None = None, limit: int = 100,
        policy: retention.RetentionPolicy | None = None, now: datetime | None = None,
    ) -> tuple[list[CatalogEntry], bool]:
        """Up to `limit` points of the catalog, newest first, older than the point `after`, and
        whether more follow. Manifests are read for the page's points only (a point's expiry
        needs the times of all): not for every point kept, whatever the number of tables."""
        summaries = {s.point_id: s for s in self.summaries(env, with_tables=table is not None)}
        entries = self._catalog(env, list(summaries.values()), table, policy, now)
        if after is not None:
            entries = [e for e in entries if e.point_id < after]
        page = entries[:limit]
        lacking = [summaries[e.point_id] for e in page if summaries[e.point_id].tables is None]
        read = {s.point_id: s.tables or {} for s in self._with_tables(lacking)}
        return [replace(e, tables=read[e.point_id]) if e.point_id in read else e
                for e in page], len(entries) > limit

    def _catalog(
        self, env: str, summaries: list[PointSummary], table: str | None,
        policy: retention.RetentionPolicy | None, now: datetime | None,
    ) -> list[CatalogEntry]:
        from datetime import UTC

        policy = policy or retention.RetentionPolicy()
        now = now or datetime.now(UTC)
        times = {s.point_id: s.point_time for s in summaries}
        ends = retention.expiries(policy, times)
        keep = retention.kept(policy, times, now)
        entries = [
            CatalogEntry(
                s.point_id, s.point_time, env, s.label, s.tables or {}, s.failed,
                ends[s.point_id], s.point_id in keep,
            )
            for s in summaries
            if table is None or table in (s.tables or {})
        ]
        entries.sort(key=lambda e: (e.point_time, e.point_id), reverse=True)
        return entries

    def _chunk(self, env: str, point_id: str, table: str, f: FileEntry) -> bytes:
        data = self._container.download_blob(
            f"{layout.point_prefix(env, point_id)}{table}/{f.name}.zz"
        ).readall()
        if hashlib.sha256(data).hexdigest() != f.sha256:
            raise ValueError(f"{point_id}/{table}/{f.name}: checksum does not match the manifest")
        return data

    def read_table(self, env: str, point_id: str, table: str) -> Iterator[Row]:
        """Every row of `table` as it was at the point: its full copy plus the increments.

        Streams: memory holds the ids the increments touched, never the table.
        """
        top = self.manifest(env, point_id)
        if table not in top.tables:
            raise KeyError(f"point {point_id} does not hold {table}")
        entry = top.tables[table]
        chain = [self.manifest(env, p).tables[table] for p in entry.chain] + [entry]
        points = [*entry.chain, point_id]
        base_point, base, increments = points[0], chain[0], list(zip(points[1:], chain[1:],
                                                                        strict=True))
        # Which increment has the last word on each id it touches, and whether it deleted it.
        last: dict[str, tuple[int, bool]] = {}
        for number, (p, inc) in enumerate(increments):
            for f in inc.row_files:
                for row in frames.iter_chunk(self._chunk(env, p, table, f)):
                    last[str(row[inc.id_column]).lower()] = (number, False)
            for f in inc.deleted_files:
                for row in frames.iter_chunk(self._chunk(env, p, table, f)):
                    last[str(row["id"]).lower()] = (number, True)
        for f in base.row_files:
            for row in frames.iter_chunk(self._chunk(env, base_point, table, f)):
                if str(row[base.id_column]).lower() not in last:
                    yield row
        for number, (p, inc) in enumerate(increments):
            for f in inc.row_files:
                for row in frames.iter_chunk(self._chunk(env, p, table, f)):
                    if last.get(str(row[inc.id_column]).lower()) == (number, False):
                        yield row

    def record_versions(self, env: str, table: str, record_id: str) -> list[RecordVersion]:
        """One record's versions across the complete points, newest first.

        One listing (the catalog) and, at the same time, one read of each index blob that may
        hold the record (its wide shard, the small blob, a legacy small shard), then one ranged
        read of a few kilobytes per point where the record appears: never a whole table.
        """
        layout.check_table(table)
        hashed = layout.record_hash(record_id)
        names = layout.index_names(env, table, hashed)
        with ThreadPoolExecutor(len(names) + 1) as pool:
            shards = list(pool.map(self._shard, names))
            points = {s.point_id: s for s in self.summaries(env)
                      if s.tables and table in s.tables}
        # (point, chunk) -> its blocks, newest append last; only committed chunks count.
        candidates: dict[tuple[str, str], list[record_index.IndexBlock]] = defaultdict(list)
        for block in (b for shard in shards
                      for b in record_index.decode_blocks(shard, only_hash=hashed)):
            summary = points.get(block.point_id)
            if not block.entries or summary is None or summary.tables is None:
                continue
            kind, seq = layout.chunk_seq(block.chunk)
            counts = summary.tables[table]
            limit = counts.row_files if kind == layout.ROWS else counts.deleted_files
            # A file written beside a chunk counts only where the manifest names one (its
            # summary says so); elsewhere it is a run's that did not count, deleted or not.
            counted = block.chunk == layout.chunk_key(block.chunk) or table in summary.rewritten
            if block.table == table and seq < limit and counted:
                candidates[(block.point_id, block.chunk)].append(block)
        # Where a chunk was written again beside an earlier run's (rare: a re-run, two runs of
        # one step), only the manifest names the file that counts: read it for those points.
        for point_id in sorted({p for p, _ in candidates if table in points[p].rewritten}):
            entry = self.manifest(env, point_id).tables[table]
            named = {f.name for f in (*entry.row_files, *entry.deleted_files)}
            for key in [k for k in candidates if k[0] == point_id and k[1] not in named]:
                del candidates[key]
        found: dict[str, tuple[str, Row | None]] = {}
        wanted = record_id.strip().lower()
        for (point_id, chunk), blocks in candidates.items():
            for block in reversed(blocks):
                hit = self._look_up(env, point_id, table, chunk, block, wanted)
                if hit is not None:
                    if hit[0] == "deleted" or point_id not in found:
                        found[point_id] = hit
                    break
        versions: list[RecordVersion] = []
        previous: tuple[str, Row | None] | None = None
        for point_id in sorted(points, key=lambda p: (points[p].point_time, p)):
            summary = points[point_id]
            state = found.get(point_id)
            full = (summary.tables or {})[table].mode == FULL
            if state is None and full and previous is not None and previous[0] == "present":
                state = ("deleted", None)  # a full copy without the record: it was gone
            if state is not None and state != previous:
                versions.append(RecordVersion(point_id, summary.point_time, *state))
                previous = state
        versions.reverse()
        return versions

    def _shard(self, name: str) -> bytes:
        """An index blob's blocks, oldest first: each generation, and the next one only when
        this one was full (`layout.ROLL_OVER_BLOCKS`)."""
        parts: list[bytes] = []
        for generation in itertools.count():
            try:
                download = self._container.download_blob(
                    layout.index_generation(name, generation))
            except _not_found():
                break
            parts.append(download.readall())
            appends = download.properties.append_blob_committed_block_count or 0
            if appends < layout.ROLL_OVER_BLOCKS:
                break
        return b"".join(parts)

    def _look_up(
        self, env: str, point_id: str, table: str, chunk: str, block: record_index.IndexBlock,
        wanted: str,
    ) -> tuple[str, Row | None] | None:
        name = f"{layout.point_prefix(env, point_id)}{table}/{chunk}.zz"
        for entry in {(e.kind, e.offset, e.length) for e in block.entries}:
            kind, offset, length = entry
            download = self._container.download_blob(name, offset=offset, length=length)
            if (download.properties.metadata or {}).get("writeid") != block.write_id:
                return None  # the chunk was rewritten since this block: an older attempt's
            for row in frames.decode_frame(download.readall()):
                if kind == record_index.KIND_DELETED and str(row["id"]).lower() == wanted:
                    return ("deleted", None)
                if kind == record_index.KIND_ROW and \
                        str(row.get(block.id_column, "")).lower() == wanted:
                    return ("present", row)
        return None

    # -- retention ---------------------------------------------------------------------------

    def sweep_due(
        self, env: str, catalog: Sequence[CatalogEntry], policy: retention.RetentionPolicy,
        now: datetime, *, grace: timedelta = SWEEP_GRACE,
    ) -> bool:
        """Whether `sweep` could delete anything once the point being taken at `now` is complete
        (`retention.sweep_due`), counting that point as a full copy of every table (what frees
        the most, so no sweep it makes due is missed): from the catalog the caller listed, and,
        only when that finds nothing, one listing of the point folders."""
        points = {e.point_id: (e.point_time, {t: s.mode for t, s in e.tables.items()})
                  for e in catalog}
        every_table = {t for _, tables in points.values() for t in tables}
        points[_NEXT_POINT] = (now, dict.fromkeys(every_table, FULL))
        keep = retention.kept(policy, {p: at for p, (at, _) in points.items()}, now)
        if retention.sweep_due(points, keep, (), now, grace):
            return True
        root = layout.points_root(env)
        folders = [item.name[len(root):].rstrip("/")
                   for item in self._container.walk_blobs(name_starts_with=root, delimiter="/")]
        return retention.sweep_due(points, keep, folders, now, grace)

    def sweep(
        self, env: str, policy: retention.RetentionPolicy, now: datetime,
        *, grace: timedelta = SWEEP_GRACE, max_deletes: int = SWEEP_BATCH,
    ) -> SweepResult:
        """Delete the points the policy no longer keeps, and leftovers of points never committed.

        At most about `max_deletes` deletions (a point is finished once begun), then `more`:
        a backlog (a shortened retention, months of sweeps an immutability policy refused) is
        worked off over several calls, each bounded. A call that deleted nothing says no more,
        whatever is left (refusals are reported in `failures`, and the next backup tries again).

        Held, whatever their own expiry: the points a kept point's chain reads, the newest
        point holding each table with its chain (the next incremental of that table is written
        on top of it, possibly while this sweep runs), and the points a point still being
        written is read on top of, with their chains (its chunks name them: an overlapping
        backup may have made a newer point since it planned). A deleted point
        loses its manifest first, so a crash mid-sweep leaves an incomplete point (ignored by
        every reader, and removed by the next sweep), never a complete-looking one with holes.
        Leftovers younger than `grace` may belong to a backup still writing, and stay (a backup
        that resumes after the sweep took them gets `IncompletePoint` and writes them again).
        """
        result = SweepResult()
        summaries = {s.point_id: s for s in self.summaries(env)}
        times = {p: s.point_time for p, s in summaries.items()}
        keep = retention.kept(policy, times, now)
        newest_with: dict[str, str] = {}
        for point_id in sorted(summaries, key=lambda p: (times[p], p)):
            newest_with.update(dict.fromkeys(summaries[point_id].tables or {}, point_id))
        # Every file of the environment's points, listed before anything is deleted: a point
        # being written (files, no manifest yet) names in its chunks the points it is read on
        # top of, and those stay, though a newer point (an overlapping backup's full copy) took
        # their place as the newest holding their table.
        points_root = layout.points_root(env)
        leftovers: dict[str, list[str]] = defaultdict(list)
        writing_on: set[str] = set()
        for blob in self._container.list_blobs(name_starts_with=points_root,
                                               include=["metadata"]):
            folder = blob.name[len(points_root):].split("/", 1)[0]
            leftovers[folder].append(blob.name)
            if folder not in summaries and not retention.started_before(folder, now - grace):
                writing_on.add((blob.metadata or {}).get("previous", ""))
        held: set[str] = set(newest_with.values()) | (writing_on & set(summaries))
        chained = sorted(p for p in keep | held if any(
            t.mode == INCREMENTAL for t in (summaries[p].tables or {}).values()))
        with ThreadPoolExecutor(8) as pool:  # a year of daily points: hundreds of manifests
            for manifest in pool.map(lambda p: self.manifest(env, p), chained):
                for entry in manifest.tables.values():
                    held.update(entry.chain)
        result.kept = sorted(keep)
        result.held = sorted(held - keep)
        doomed = sorted(set(summaries) - keep - held)
        abandoned = sorted(p for p in leftovers if p not in summaries
                           and retention.started_before(p, now - grace))
        attempts = 0
        for point_id in [*doomed, *abandoned]:
            if attempts >= max_deletes:
                result.more = result.deleted_blobs > 0
                break
            if point_id in summaries:  # its manifest first: never a complete point with holes
                attempts += 1
                try:
                    self._container.delete_blob(layout.manifest_name(env, point_id))
                except Exception as error:  # noqa: BLE001 (immutability, a blip: report, go on)
                    result.failures.append(f"{point_id}: {error.__class__.__name__}")
                    continue
                result.deleted_blobs += 1
                result.deleted_points.append(point_id)
            for name in leftovers.get(point_id, ()):
                attempts += 1
                try:
                    self._container.delete_blob(name)
                    result.deleted_blobs += 1
                except Exception as error:  # noqa: BLE001
                    result.failures.append(f"{name}: {error.__class__.__name__}")
        return result
