"""A data backup's commands (what a step asks the executor to do) and their answers (values).

Platform faults come back as the engine's answers (`engine.answers`: `Throttled`, `Unavailable`,
`Refused`, ...), per table where a table's page failed, so a decision never sees an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.answers import Answer


@dataclass(frozen=True, slots=True)
class ReadTables:
    """The environment's Dataverse, its tables, and the newest point holding each. With
    `read_ahead`, the first page of each incremental read the previous points make likely (their
    delta links, for `tables`, or all) is requested at once, for the copy step that follows in
    this process to take instead of asking again (`execute.read_ahead`)."""

    environment_id: str
    read_ahead: bool = False
    tables: tuple[str, ...] | None = None
    page_size: int = 5000


@dataclass(frozen=True, slots=True)
class TableFacts:
    table: str
    entity_set: str | None
    id_column: str
    change_tracking: bool
    readable: bool
    # The newest complete point holding the table, its chain length and its delta link.
    previous: str | None = None
    chain_length: int | None = None
    delta_link: str | None = None


@dataclass(frozen=True, slots=True)
class TablesRead:
    api_url: str
    instance_url: str
    point_id: str
    tables: tuple[TableFacts, ...]
    # The server's x-ms-dop-hint, when its answer carried one: the first copy step reads no
    # more tables at once than this.
    recommended_concurrency: int | None = None
    # Whether the retention sweep would delete anything (judged from the catalog): if not, the
    # point ends at its commit.
    sweep_due: bool = True


@dataclass(frozen=True, slots=True)
class PageJob:
    """Read pages of one table from its cursor on and write each to the point (chunk numbers
    from the state, so a step run again after a crash rewrites the same chunks)."""

    table: str
    entity_set: str
    id_column: str
    mode: str
    cursor: Mapping[str, Any] | None
    since: str | None
    row_seq: int
    deleted_seq: int
    previous: str | None = None  # for an incremental: the point it is read on top of


@dataclass(frozen=True, slots=True)
class CommitAfter:
    """What a commit needs beyond the copy's own results, when the copy step may commit."""

    point_time: datetime
    label: str | None
    failed: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CopyPages:
    environment_id: str
    api_url: str
    instance_url: str
    point_id: str
    page_size: int
    jobs: tuple[PageJob, ...]
    # A step's bound per table: at most `max_pages` pages, and no read started after
    # `budget_seconds` (the page in flight is still written).
    max_pages: int = 1
    budget_seconds: float = 0.0
    # Set when every table left starts in this step: if all of them end in it too, the step
    # commits the point from the files it wrote (no listing, no commit step of its own).
    commit: CommitAfter | None = None


@dataclass(frozen=True, slots=True)
class PageCopied:
    """The pages of one table a step wrote: their counts, the cursor after the last of them
    (None: the table is done), and the fault that stopped the reads before the step's bound."""

    rows: int
    deleted: int
    bytes: int
    next_cursor: Mapping[str, Any] | None
    row_chunks: int
    deleted_chunks: int
    dop_hint: int | None = None
    stopped: Any = None
    delta_link: str | None = None  # the last page's (when next_cursor is None)
    # Chunks another run had written first, and the files this run wrote them as (chunk ->
    # file, `layout.chunk_file`): the checkpoint keeps them, so the commit names these.
    rewritten: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TokenExpired:
    message: str


@dataclass(frozen=True, slots=True)
class PagesCopied:
    """Per table: `PageCopied`, `TokenExpired`, or the engine's fault answer; and the commit's
    answer when the step committed the point (`CopyPages.commit`), or found it committed by an
    earlier run of itself (then `results` is empty)."""

    results: Mapping[str, Any] = field(default_factory=dict)
    committed: Committed | CommitRefused | None = None


@dataclass(frozen=True, slots=True)
class TableToCommit:
    table: str
    mode: str
    id_column: str
    row_chunks: int
    deleted_chunks: int
    previous: str | None
    rows: int | None
    delta_link: str | None = None
    rewritten: Mapping[str, str] = field(default_factory=dict)  # as `TableWork.rewritten`


@dataclass(frozen=True, slots=True)
class CommitPoint:
    environment_id: str
    point_id: str
    point_time: datetime
    label: str | None
    tables: tuple[TableToCommit, ...]
    failed: Mapping[str, str]
    # The Web API the tables were read from (where the next point's reads start).
    api_url: str | None = None
    instance_url: str | None = None


@dataclass(frozen=True, slots=True)
class Committed:
    """Per table: (rows, bytes) and (changed, deleted) as the manifest holds them."""

    tables: Mapping[str, tuple[int | None, int]]
    counts: Mapping[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommitRefused:
    message: str


@dataclass(frozen=True, slots=True)
class Sweep:
    environment_id: str


@dataclass(frozen=True, slots=True)
class Swept:
    deleted_points: int
    failures: tuple[str, ...]
    more: bool = False  # the step's bound was reached with more to delete: sweep on


@dataclass(frozen=True, slots=True)
class Nothing:
    """No I/O: the step decides on what the state already knows."""


Command = ReadTables | CopyPages | CommitPoint | Sweep | Nothing
DataAnswer = TablesRead | PagesCopied | Committed | CommitRefused | Swept | Answer
