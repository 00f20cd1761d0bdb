"""An organisation as JSON, for `--state FILE`: only what changed since the seed (the seeded rows
are regenerated), so a saved million-row environment stays small."""

from __future__ import annotations

import json
from typing import Any

from ppbackup.simulator.dataverse.schema import Column, build_schema
from ppbackup.simulator.dataverse.store import Org, WriteRecord


def dump_org(org: Org) -> dict[str, Any]:
    with org.lock:
        base = build_schema()
        schema = {}
        for name, table in org.schema.items():
            added = [[c.name, c.type] for c in table.columns.values()
                     if c.name not in base[name].columns]
            removed = [c for c in base[name].columns if c not in table.columns]
            if added or removed:
                schema[name] = {"added": added, "removed": removed}
        return {
            "environmentId": org.env_id,
            "rows": org.rows,
            "seed": org.seed,
            "version": org.version,
            "expiredThrough": org.expired_through,
            "invalidThrough": org.invalid_through,
            "revoked": {t: sorted(p) for t, p in org.revoked.items() if p},
            "recycleBin": org.recycle_bin,
            "schema": schema,
            "tables": {
                name: {
                    "overrides": {k: d.stored(k) for k in d.overrides},
                    "deletedSeeded": sorted(d.deleted_seeded),
                    "created": d.created, "versions": d.versions,
                    "log": [list(entry) for entry in d.log],
                    "bin": {k: d.binned(k) for k in d.bin},
                }
                for name, d in org.tables.items()
                if d.overrides or d.deleted_seeded or d.created or d.log or d.bin
            },
            "writes": [w.as_json() for w in org.writes],
        }


def load_org(data: dict[str, Any]) -> Org:
    org = Org(str(data["environmentId"]), int(data["rows"]), seed=data.get("seed"))
    for name, change in data.get("schema", {}).items():
        table = org.schema[name]
        for column in change.get("removed", []):
            table.remove_column(column)
        for column, column_type in change.get("added", []):
            table.add_column(Column(column, column_type))
    for name, saved in data.get("tables", {}).items():
        d = org.tables[name]
        lookups = [c.name for c in d.table.columns.values() if c.is_lookup]
        for row_id, raw in saved["overrides"].items():
            d.overrides[row_id] = d.pack(_lookups_back(raw, lookups))
        for row_id, raw in saved.get("bin", {}).items():
            d.bin[row_id] = d.pack(_lookups_back(raw, lookups))
        d.deleted_seeded = set(saved["deletedSeeded"])
        d.created = list(saved["created"])
        d.created_slot = {row_id: slot for slot, row_id in enumerate(d.created) if row_id}
        d.versions = {k: int(v) for k, v in saved["versions"].items()}
        d.log = [(int(v), str(i)) for v, i in saved["log"]]
    org.restore_counters(int(data["version"]), int(data.get("expiredThrough", 0)),
                         int(data.get("invalidThrough", 0)))
    org.revoked = {t: set(p) for t, p in data.get("revoked", {}).items()}
    org.recycle_bin = bool(data.get("recycleBin", False))
    org.writes = [
        WriteRecord(seq=int(w["seq"]), at=str(w["at"]), table=str(w["table"]),
                    row_id=str(w["row_id"]), action=str(w["action"]),
                    body_json=json.dumps(w["body"], separators=(",", ":")))
        for w in data.get("writes", [])
    ]
    return org


def _lookups_back(raw: dict[str, Any], lookups: list[str]) -> dict[str, Any]:
    for column in lookups:
        # JSON turned the (table, id) pair into a list.
        if isinstance(raw.get(column), list):
            raw[column] = tuple(raw[column])
    return raw
