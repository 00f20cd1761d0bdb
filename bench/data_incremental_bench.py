"""Incremental data backup benchmark: after 1% of the rows change, what the next point costs.

    python bench/data_incremental_bench.py [--rows 1000000] [--change 0.01] [--scale 100]

On Azurite and the simulator (the service protection of bench/data_export_bench.py; in a process
of its own, bench/sim_process.py, as Dataverse is apart from a function app: in the app's process
its CPU would be taken from the app's, not from the floor's), one environment with ROWS rows over
5 tables: a full data backup (timed, requests counted), then CHANGE of the rows updated by
people (spread over the tables), then the incremental data backup (timed, requests counted), run
step by step by the engine as in the export bench.

Floor, measured in the same run against the same simulator process: an ideal reader of just the
changed rows, raw HTTP over the change-tracking delta links the full point kept (full pages, one
reader per table, the rows as a backup keeps them: with the lookups' annotations, as the app asks
for them), waiting exactly Retry-After on a 429. Figures: incremental requests / floor
requests and incremental time / floor time (target <= 1.3), and incremental time / full copy
time (target <= 0.05). Requests are Dataverse's (what service protection counts; the floor makes
only those); the figure with the platform's environment lookup added is printed beside it.
Smoke it small: `--rows 20000`.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from data_export_bench import (  # noqa: E402
    ENV_NAME,
    PAGE,
    TABLES,
    bench_context,
    run_data_backup,
    sim_options,
)

TARGET_FLOOR = 1.3
FLOOR_READS = 3
TARGET_FULL = 0.05


def backup(ctx: Any, sim: Any, env: str, *, full: bool) -> dict[str, Any]:
    """One data backup of the 5 tables, and the requests it made: to Dataverse (what service
    protection counts, and all the floor makes) and in all (with the platform's environment
    lookup)."""
    before = sim.stats()
    run = run_data_backup(ctx, env, full=full, key=f"bench-{full}")
    after = sim.stats()
    return {**run, "requests": after["requests"] - before["requests"],
            "dataverse_requests": _dataverse(after) - _dataverse(before)}


def _dataverse(stats: dict[str, Any]) -> int:
    return sum(int(e["count"]) for name, e in stats["endpoints"].items() if name.startswith("dv."))


def read_changes(sim: Any, links: list[str]) -> tuple[int, int, float]:
    """(rows, requests, seconds) of an ideal reader following the delta links."""
    from shared.dataverse.pages import LOOKUP_ANNOTATIONS

    client = httpx.Client(timeout=120)
    requests = [0]
    # The rows as a backup must keep them: with the lookups' target annotations, as the app asks.
    prefer = f"odata.maxpagesize={PAGE},{LOOKUP_ANNOTATIONS}"

    def read(url: str | None) -> int:
        count = 0
        while url is not None:
            answer = client.get(url, headers={"Prefer": prefer})
            requests[0] += 1
            if answer.status_code == 429:
                time.sleep(float(answer.headers.get("Retry-After", "1")))
                continue
            answer.raise_for_status()
            body = answer.json()
            count += len(body["value"])
            url = body.get("@odata.nextLink")
        return count

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(links)) as pool:
        rows = sum(pool.map(read, links))
    elapsed = time.perf_counter() - started
    client.close()
    return rows, requests[0], elapsed


def main(argv: list[str] | None = None) -> int:
    from sim_process import simulator_process

    from data_backups.execute import store_for
    from ppbackup.azurite import running_azurite
    from shared.runtime import use_context

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--scale", type=float, default=100.0)
    parser.add_argument("--row-cost-ms", type=float, default=0.05)
    args = parser.parse_args(argv)
    # The full copy's 429s are logged as warnings: expected here, and not the figures.
    logging.basicConfig(level=logging.ERROR)
    per_table = args.rows // len(TABLES)
    changes = max(1, round(per_table * args.change))

    print(f"Incremental data backup: {args.rows:,} rows over {len(TABLES)} tables, "
          f"{args.change:.1%} changed ({changes * len(TABLES):,} rows)")
    with running_azurite() as azurite, simulator_process(
        **sim_options(args.rows, args.scale, args.row_cost_ms)
    ) as sim:
        env = sim.add_environment(ENV_NAME, type="Production")
        ctx = bench_context(azurite, sim)
        with use_context(ctx):
            full = backup(ctx, sim, env, full=True)
            point = full["record"]["pointId"]
            store = store_for(ctx)
            kept = store.manifest(env, point).tables
            links = [str(kept[table].delta_link) for table in TABLES]
            base = sim.dataverse_url(env) + "/api/data/v9.2/"
            for table, entity_set in TABLES.items():
                ids = [row[f"{table}id"] for row in httpx.get(
                    base + entity_set, params={"$select": f"{table}id", "$top": str(changes)},
                    timeout=120).json()["value"]]
                for n, row_id in enumerate(ids):
                    change = _change(table, n)
                    sim.change(env, table, "update" if change else "delete", row_id, change)
            # A delta link reads the same changes each time: the floor is the median of three
            # reads, so one hiccup of a busy machine does not make it.
            floors = [read_changes(sim, links) for _ in range(FLOOR_READS)]
            floor_rows, floor_requests, _ = floors[0]
            floor_seconds = statistics.median(f[2] for f in floors)
            incremental = backup(ctx, sim, env, full=False)
    changed = sum(int(t.get("changed") or 0) + int(t.get("deleted") or 0)
                  for t in incremental["record"]["tables"])
    print(f"  full copy:   {full['seconds']:.1f}s ({full['waited']:.1f}s waiting for delayed "
          f"steps), {full['requests']} requests")
    print(f"  floor (the changed rows alone): {floor_rows:,} rows, {floor_seconds:.2f}s (median "
          f"of {', '.join(f'{f[2]:.2f}' for f in floors)}), {floor_requests} requests")
    print(f"  incremental: {changed:,} rows, {incremental['seconds']:.2f}s, "
          f"{incremental['dataverse_requests']} Dataverse requests, {incremental['requests']} "
          f"in all ({incremental['waited']:.1f}s waiting for delayed steps; "
          f"{incremental['record']['status']})")
    by_requests = incremental["dataverse_requests"] / floor_requests
    by_time = incremental["seconds"] / floor_seconds
    by_full = incremental["seconds"] / full["seconds"]
    print(f"  figures: Dataverse requests / floor = {by_requests:.2f} (all requests, with the "
          f"platform's environment lookup: {incremental['requests'] / floor_requests:.2f}), "
          f"time / floor = {by_time:.2f} (target <= {TARGET_FLOOR}); time / full copy = "
          f"{by_full:.3f} (target <= {TARGET_FULL})")
    ok = (changed == floor_rows and by_requests <= TARGET_FLOOR and by_time <= TARGET_FLOOR
          and by_full <= TARGET_FULL)
    return 0 if ok else 1


def _change(table: str, n: int) -> dict[str, Any]:
    """A column people edit in each table; none for the N:N intersect table, whose rows are
    never updated: a changed association is a deleted row there."""
    column = {"account": "name", "contact": "lastname", "new_project": "new_name",
              "annotation": "subject"}.get(table)
    return {column: f"changed {n}"} if column else {}


if __name__ == "__main__":
    raise SystemExit(main())
