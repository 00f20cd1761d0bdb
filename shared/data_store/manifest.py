"""A point's manifest, and the summary of it the catalog reads from blob metadata (pure)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.data_store import layout

FORMAT = 1
FULL = "full"
INCREMENTAL = "incremental"
# Azure allows 8 KiB of metadata per blob; past this the catalog reads the manifest itself.
METADATA_BUDGET = 7000
_IN_MANIFEST = "@manifest"


@dataclass(frozen=True, slots=True)
class FileEntry:
    name: str  # `rows-000003`, relative to the table's folder in the point
    sha256: str
    bytes: int
    rows: int
    write_id: str


@dataclass(frozen=True, slots=True)
class TableEntry:
    table: str
    mode: str  # FULL or INCREMENTAL
    id_column: str
    chain: tuple[str, ...]  # earlier points this one is read on top of: the full copy first
    rows: int | None  # the table's row count at the point, when known
    changed: int
    deleted: int
    row_files: tuple[FileEntry, ...]
    deleted_files: tuple[FileEntry, ...]
    # Where the next incremental read of this table starts (the change-tracking delta link the
    # copy ended with); None when the table has no change tracking.
    delta_link: str | None = None

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in (*self.row_files, *self.deleted_files))

    @property
    def chain_length(self) -> int:
        """Increments since the last full copy, this point included (0 for a full copy)."""
        return len(self.chain)


@dataclass(frozen=True, slots=True)
class Manifest:
    environment_id: str
    point_id: str
    point_time: datetime
    label: str | None
    tables: dict[str, TableEntry]
    failed: dict[str, str] = field(default_factory=dict)  # table -> why it was not copied

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "environmentId": self.environment_id,
                "pointId": self.point_id,
                "pointTime": self.point_time.isoformat(),
                "label": self.label,
                "tables": {name: _table_json(entry) for name, entry in self.tables.items()},
                "failed": self.failed,
            },
            ensure_ascii=False,
            indent=1,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown manifest format {doc.get('format')!r}")
        return cls(
            environment_id=doc["environmentId"],
            point_id=doc["pointId"],
            point_time=datetime.fromisoformat(doc["pointTime"]),
            label=doc["label"],
            tables={name: _table_from(name, t) for name, t in doc["tables"].items()},
            failed=dict(doc["failed"]),
        )


def _file_json(f: FileEntry) -> dict[str, Any]:
    return {"name": f.name, "sha256": f.sha256, "bytes": f.bytes, "rows": f.rows,
            "writeId": f.write_id}


def _file_from(doc: dict[str, Any]) -> FileEntry:
    return FileEntry(doc["name"], doc["sha256"], doc["bytes"], doc["rows"], doc["writeId"])


def _table_json(t: TableEntry) -> dict[str, Any]:
    return {
        "mode": t.mode, "idColumn": t.id_column, "chain": list(t.chain), "rows": t.rows,
        "changed": t.changed, "deleted": t.deleted, "bytes": t.bytes,
        "rowFiles": [_file_json(f) for f in t.row_files],
        "deletedFiles": [_file_json(f) for f in t.deleted_files],
        "deltaLink": t.delta_link,
    }


def _table_from(name: str, doc: dict[str, Any]) -> TableEntry:
    return TableEntry(
        table=name, mode=doc["mode"], id_column=doc["idColumn"], chain=tuple(doc["chain"]),
        rows=doc["rows"], changed=doc["changed"], deleted=doc["deleted"],
        row_files=tuple(_file_from(f) for f in doc["rowFiles"]),
        deleted_files=tuple(_file_from(f) for f in doc["deletedFiles"]),
        delta_link=doc.get("deltaLink"),
    )


@dataclass(frozen=True, slots=True)
class TableSummary:
    """What the catalog needs of a table, without the file list."""

    table: str
    mode: str
    rows: int | None
    row_files: int
    deleted_files: int


@dataclass(frozen=True, slots=True)
class PointSummary:
    environment_id: str
    point_id: str
    point_time: datetime
    label: str | None
    tables: dict[str, TableSummary] | None  # None: too many to summarise, read the manifest
    failed: tuple[str, ...]
    # Tables with a chunk whose file is not its plain name (`layout.chunk_file`: written again
    # beside an earlier run's): only the manifest says which file such a chunk is.
    rewritten: frozenset[str] = frozenset()


def summarize(manifest: Manifest) -> PointSummary:
    return PointSummary(
        manifest.environment_id, manifest.point_id, manifest.point_time, manifest.label,
        {
            name: TableSummary(name, t.mode, t.rows, len(t.row_files), len(t.deleted_files))
            for name, t in manifest.tables.items()
        },
        tuple(sorted(manifest.failed)),
        frozenset(name for name, t in manifest.tables.items()
                  if layout.rewritten(f.name for f in (*t.row_files, *t.deleted_files))),
    )


def to_metadata(manifest: Manifest) -> dict[str, str]:
    """Blob metadata (ASCII header values) the catalog lists without reading any blob."""
    summary = summarize(manifest)
    tables = ";".join(
        f"{t.table}.{t.mode[0]}.{'-' if t.rows is None else t.rows}.{t.row_files}.{t.deleted_files}"
        for t in (summary.tables or {}).values()
    )
    failed = ";".join(summary.failed)
    rewritten = ";".join(sorted(summary.rewritten))
    if len(tables) + len(failed) + len(rewritten) > METADATA_BUDGET:
        tables, failed, rewritten = _IN_MANIFEST, "", ""
    metadata = {"pointtime": summary.point_time.isoformat(), "tables": tables, "failed": failed}
    if rewritten:
        metadata["rewritten"] = rewritten
    if summary.label is not None:
        metadata["label"] = base64.urlsafe_b64encode(summary.label.encode()).decode()
    return metadata


def from_metadata(environment_id: str, point_id: str, metadata: dict[str, str]) -> PointSummary:
    label = metadata.get("label")
    raw = metadata.get("tables") or ""
    tables: dict[str, TableSummary] | None = None
    if raw != _IN_MANIFEST:
        tables = {}
        for item in filter(None, raw.split(";")):
            name, mode, rows, row_files, deleted_files = item.split(".")
            tables[name] = TableSummary(
                name, FULL if mode == "f" else INCREMENTAL, None if rows == "-" else int(rows),
                int(row_files), int(deleted_files),
            )
    return PointSummary(
        environment_id, point_id, datetime.fromisoformat(metadata["pointtime"]),
        base64.urlsafe_b64decode(label).decode() if label is not None else None,
        tables, tuple(filter(None, (metadata.get("failed") or "").split(";"))),
        frozenset(filter(None, (metadata.get("rewritten") or "").split(";"))),
    )
