"""A record restore's files in the backup store, under `restores/<operationId>/`.

    plan/<table>/<job>.jsonl.zz      the rows a planning job found to write (before `settle`)
    related.json.zz                  the related-rows walk: {"seed": {...}, "found": {...}},
                                     each {"<table>": [ids]}
    diff/<table>.jsonl.zz            the settled plan: every row's action and difference (the
                                     `ppbackup data diff` view; kept with the points' immutability)
    layout.json.zz                   an apply's layout, written once (create-only): {"run",
                                     "counts", "stages": [[pass, table, batches]]}; its diff and
                                     writes are the run's (`diff/<run>/`, `writes/<run>/`)
    writes/<stage>.json.zz           a stage of writes: {"pass", "table", "entitySet",
                                     "idColumn", "batches": <how many>}
    writes/<stage>-<batch>.json.zz   one batch of a stage: [write] (<= 500; an apply step reads
                                     the batches it sends, never a whole stage)
    outcomes/<stage>-<batch>.json.zz what a batch's rows came to, where it is not plain success
                                     ({} when none; every send of a batch rewrites it)
    bin/<stage>-<batch>-held.json.zz what the recycle bin held of a bin batch's rows, read
                                     once, before its Restore was first sent
    bin/<stage>-<batch>-restored.json.zz  the rows it brought back: id -> ETag right after

Every name is derived from the state's counters, so a step run again after a crash rewrites the
same blob with the same content (overwrite is harmless) and nothing is written twice under two
names. The one exception is settling an apply: it reads the target (the recycle bin, the rows a
lookup points to), which the apply itself changes, so a second run of it (a duplicate message, the
watchdog driving a slow step) may lay the writes out otherwise while the first run's apply is
sending them. Each run writes its layout under its own name and the first to name it in
`layout.json.zz` is the layout every step reads; a later run adopts it. Rows are JSON lines in
compressed frames (shared.data_store.frames), like the points.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from shared.data_store import frames
from shared.data_store.compression import compress, decompress

if TYPE_CHECKING:
    from shared.data_store.store import DataStore

ROOT = "restores"
LAYOUT = "layout.json.zz"


def _prefix(operation_id: str) -> str:
    if not operation_id or "/" in operation_id or operation_id.startswith("."):
        raise ValueError(f"not an operation id: {operation_id!r}")
    return f"{ROOT}/{operation_id}/"


def _table(table: str) -> str:
    from shared.data_store.layout import check_table

    return check_table(table)


class RestoreFiles:
    """One operation's files; `store` is the backup store (its container)."""

    def __init__(self, store: DataStore, operation_id: str) -> None:
        self._store = store
        self._prefix = _prefix(operation_id)

    # -- rows (plan chunks, the diff) ---------------------------------------------------------

    def _put_rows(self, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        encoded = frames.encode_chunk((dict(r) for r in rows), lambda r: r.get("id", ""))
        self._store.container.upload_blob(self._prefix + name, encoded.data, overwrite=True)
        return encoded.rows

    def _rows(self, name: str) -> Iterator[dict[str, Any]]:
        data = self._get(name)
        if data is not None:
            yield from frames.iter_chunk(data)

    def put_plan_chunk(self, table: str, job: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """`job` names the planning job (e.g. `all-000003`): a job run again rewrites its own."""
        if not job.replace("-", "").isalnum():
            raise ValueError(f"not a planning job name: {job!r}")
        return self._put_rows(f"plan/{_table(table)}/{job}.jsonl.zz", rows)

    def plan_counts(self) -> dict[str, int]:
        """How many rows the planning jobs kept, per table (counted, not decoded)."""
        counts: dict[str, int] = {}
        for name in self._names("plan/"):
            data = self._get(name)
            if data:
                table = name.split("/")[1]
                counts[table] = counts.get(table, 0) + frames.count_rows(data)
        return counts

    def plan_rows(self) -> Iterator[dict[str, Any]]:
        """Every planning job's rows, table by table, unit by unit."""
        for name in self._names("plan/"):
            yield from self._rows(name)

    def put_diff(
        self, table: str, rows: Iterable[Mapping[str, Any]], *, run: str | None = None
    ) -> int:
        return self._put_rows(f"{_folder('diff', run)}{_table(table)}.jsonl.zz", rows)

    def diff_rows(self, table: str | None = None) -> Iterator[dict[str, Any]]:
        """The settled plan's rows (all tables, or one): `{"table", "id", "action", "values",
        "before", "references", "state", "reasons", "notes"}`. Empty before the plan settled.
        Of an apply, those of its layout's run."""
        folder = _folder("diff", self._run())
        for name in self._names(folder):
            rest = name[len(folder):]
            if "/" not in rest and (table is None or rest == f"{table}.jsonl.zz"):
                yield from self._rows(name)

    # -- the layout of an apply ---------------------------------------------------------------

    def put_layout(self, layout: Mapping[str, Any]) -> dict[str, Any]:
        """Name `layout` ({"run", ...}) the apply's layout unless one was named before; returns
        the one that holds (the first, whichever run wrote it)."""
        from azure.core.exceptions import ResourceExistsError

        data = compress(json.dumps(dict(layout), separators=(",", ":")).encode())
        try:
            self._store.container.upload_blob(self._prefix + LAYOUT, data, overwrite=False)
        except ResourceExistsError:
            held = self.layout()
            if held is None:  # (a layout is never deleted)
                raise
            return held
        return dict(layout)

    def layout(self) -> dict[str, Any] | None:
        value = self._json(LAYOUT)
        return value if isinstance(value, dict) else None

    def _run(self) -> str | None:
        try:
            return _run_of(self._store, self._prefix)
        except LookupError:
            return None

    # -- JSON documents ----------------------------------------------------------------------

    def _put_json(self, name: str, value: Any) -> None:
        data = compress(json.dumps(value, separators=(",", ":")).encode())
        self._store.container.upload_blob(self._prefix + name, data, overwrite=True)

    def _json(self, name: str) -> Any:
        data = self._get(name)
        return None if data is None else json.loads(decompress(data))

    def put_related(
        self, seed: Mapping[str, Iterable[str]], found: Mapping[str, Iterable[str]]
    ) -> None:
        self._put_json("related.json.zz", {
            "seed": {t: sorted(v) for t, v in sorted(seed.items())},
            "found": {t: sorted(v) for t, v in sorted(found.items())},
        })

    def related(self) -> tuple[dict[str, set[str]], dict[str, set[str]]] | None:
        """(seed, found) of the related-rows walk; None before it began."""
        value = self._json("related.json.zz")
        if not isinstance(value, dict):
            return None
        return (
            {str(t): set(v) for t, v in (value.get("seed") or {}).items()},
            {str(t): set(v) for t, v in (value.get("found") or {}).items()},
        )

    def put_stage(self, stage: int, value: Mapping[str, Any], *, run: str | None = None) -> None:
        self._put_json(f"{_folder('writes', run)}{stage:05d}.json.zz", dict(value))

    def stage(self, stage: int) -> dict[str, Any]:
        """A stage as settling laid it out (the layout's run: never rewritten, so a process
        keeps what it read: each step of a stage reads it once)."""
        value = _stages(self._store, self._prefix, _folder("writes", self._run()), stage)
        if not isinstance(value, dict):
            raise LookupError(f"stage {stage} of {self._prefix} was never written")
        return value

    def put_batch(
        self, stage: int, batch: int, writes: list[Mapping[str, Any]], *, run: str | None = None
    ) -> None:
        self._put_json(f"{_folder('writes', run)}{stage:05d}-{batch:06d}.json.zz",
                       [dict(w) for w in writes])

    def batch(self, stage: int, batch: int) -> list[dict[str, Any]]:
        value = self._json(f"{_folder('writes', self._run())}{stage:05d}-{batch:06d}.json.zz")
        if not isinstance(value, list):
            raise LookupError(f"batch {batch} of stage {stage} of {self._prefix} was never written")
        return value

    def put_outcomes(self, stage: int, batch: int, outcomes: Mapping[str, Any]) -> None:
        self._put_json(f"outcomes/{stage:05d}-{batch:06d}.json.zz", dict(outcomes))

    def put_bin_held(self, stage: int, batch: int, rows: Mapping[str, Any]) -> None:
        self._put_json(f"bin/{stage:05d}-{batch:06d}-held.json.zz", dict(rows))

    def bin_held(self, stage: int, batch: int) -> dict[str, Any] | None:
        """What the recycle bin held of a bin batch's rows before its Restore was first sent
        (None: never read)."""
        value = self._json(f"bin/{stage:05d}-{batch:06d}-held.json.zz")
        return value if isinstance(value, dict) else None

    def put_restored(self, stage: int, batch: int, etags: Mapping[str, str]) -> None:
        self._put_json(f"bin/{stage:05d}-{batch:06d}-restored.json.zz", dict(etags))

    def bin_sent(self, stage: int, batch: int) -> tuple[dict[str, str], dict[str, Any]] | None:
        """What a bin batch's send recorded, once it recorded all of it: the ETags of the rows
        it brought back and its outcomes (None: never sent to its end)."""
        outcomes = self._json(f"outcomes/{stage:05d}-{batch:06d}.json.zz")
        restored = self._json(f"bin/{stage:05d}-{batch:06d}-restored.json.zz")
        if not isinstance(outcomes, dict) or not isinstance(restored, dict):
            return None
        return {str(k): str(v) for k, v in restored.items()}, outcomes

    def restored(self) -> dict[str, str]:
        """Every row the bin stages brought back: id -> its ETag right after."""
        found: dict[str, str] = {}
        for name in self._names("bin/"):
            if name.endswith("-restored.json.zz"):
                value = self._json(name)
                if isinstance(value, dict):
                    found.update({str(k): str(v) for k, v in value.items()})
        return found

    def outcomes(self) -> Iterator[dict[str, Any]]:
        """Every batch's recorded outcomes, in stage and batch order."""
        for name in self._names("outcomes/"):
            value = self._json(name)
            if isinstance(value, dict):
                yield value

    # -- helpers -----------------------------------------------------------------------------

    def _names(self, under: str) -> list[str]:
        start = len(self._prefix)
        return sorted(b.name[start:] for b in self._store.container.list_blobs(
            name_starts_with=self._prefix + under))

    def _get(self, name: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._store.container.download_blob(self._prefix + name).readall()
        except ResourceNotFoundError:
            return None


def _folder(kind: str, run: str | None) -> str:
    """`diff/` or `writes/`, or a run's own under them (an apply's layout)."""
    if run is None:
        return f"{kind}/"
    if not run.isalnum():
        raise ValueError(f"not a layout run: {run!r}")
    return f"{kind}/{run}/"


@functools.lru_cache(maxsize=64)
def _run_of(store: DataStore, prefix: str) -> str:
    """The run of an operation's layout; LookupError while it has none (not kept: a layout,
    once named, never changes, but one not named yet may be named at any time)."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        data = store.container.download_blob(prefix + LAYOUT).readall()
    except ResourceNotFoundError:
        raise LookupError(f"{prefix} has no layout") from None
    return str(json.loads(decompress(data))["run"])


@functools.lru_cache(maxsize=16)
def _stages(store: DataStore, prefix: str, folder: str, stage: int) -> Any:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        data = store.container.download_blob(f"{prefix}{folder}{stage:05d}.json.zz").readall()
    except ResourceNotFoundError:
        return None
    return json.loads(decompress(data))
