"""Incremental data backup benchmark: after 1% of the rows change, what the next point costs.

    python bench/data_incremental_bench.py [--rows 1000000] [--change 0.01] [--scale 100]
                                           [--rounds 3]

On Azurite and the simulator (the service protection of bench/data_export_bench.py; in a process
of its own, bench/sim_process.py, as Dataverse is apart from a function app: in the app's process
its CPU would be taken from the app's, not from the floor's), one environment with ROWS rows over
5 tables: a full data backup (timed, requests counted), then ROUNDS rounds (daily backups): each
changes CHANGE of the rows (rows of its own, updated by people, spread over the tables), then
takes the incremental data backup (timed, requests counted), run step by step by the engine as
in the export bench.

Floor, measured in each round against the same simulator process: an ideal reader of just the
changed rows, raw HTTP over the change-tracking delta links the previous point kept (full pages,
one reader per table, the rows as a backup keeps them: with the lookups' annotations, as the app
asks for them), waiting exactly Retry-After on a 429. Figures, each round's printed and their
median (one hiccup of a busy machine makes neither): incremental requests / floor requests and
incremental time / floor time (target <= 1.3), and incremental time / full copy time (target
<= 0.05); beside them, the app's own time (the incremental's minus the floor's, in ms): what the
app adds to the reads themselves, which depends far less than the ratio on how fast the platform
answers (the simulator answers a 2,000-row page in ~30 ms). Requests are Dataverse's (what
service protection counts; the floor makes only those); the figure with the platform's
environment lookup added is printed beside it.
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


def backup(ctx: Any, sim: Any, env: str, *, full: bool, key: str) -> dict[str, Any]:
    """One data backup of the 5 tables, and the requests it made: to Dataverse (what service
    protection counts, and all the floor makes) and in all (with the platform's environment
    lookup)."""
    before = sim.stats()
    run = run_data_backup(ctx, env, full=full, key=key)
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
    parser.add_argument("--rounds", type=int, default=3,
                        help="incrementals, each after its own changes; figures are medians")
    args = parser.parse_args(argv)
    # The full copy's 429s are logged as warnings: expected here, and not the figures.
    logging.basicConfig(level=logging.ERROR)
    per_table = args.rows // len(TABLES)
    changes = max(1, round(per_table * args.change))

    print(f"Incremental data backup: {args.rows:,} rows over {len(TABLES)} tables, "
          f"{args.change:.1%} changed ({changes * len(TABLES):,} rows), {args.rounds} rounds")
    rounds: list[dict[str, Any]] = []
    with running_azurite() as azurite, simulator_process(
        **sim_options(args.rows, args.scale, args.row_cost_ms)
    ) as sim:
        env = sim.add_environment(ENV_NAME, type="Production")
        ctx = bench_context(azurite, sim)
        with use_context(ctx):
            full = backup(ctx, sim, env, full=True, key="bench-full")
            print(f"  full copy: {full['seconds']:.1f}s ({full['waited']:.1f}s waiting for "
                  f"delayed steps), {full['requests']} requests")
            base = sim.dataverse_url(env) + "/api/data/v9.2/"
            # Each round changes rows of its own (a deleted row cannot be deleted again).
            chosen = {table: _ids(base, table, entity_set, changes * args.rounds)
                      for table, entity_set in TABLES.items()}
            point = full["record"]["pointId"]
            for number in range(args.rounds):
                kept = store_for(ctx).manifest(env, point).tables
                links = [str(kept[table].delta_link) for table in TABLES]
                for table, ids in chosen.items():
                    for n, row_id in enumerate(ids[number * changes:(number + 1) * changes]):
                        change = _change(table, n + number * changes)
                        sim.change(env, table, "update" if change else "delete", row_id, change)
                # A delta link reads the same changes each time: the floor is the median of
                # three reads, so one hiccup of a busy machine does not make it.
                floors = [read_changes(sim, links) for _ in range(FLOOR_READS)]
                incremental = backup(ctx, sim, env, full=False, key=f"bench-{number}")
                point = incremental["record"]["pointId"]
                rounds.append(_round(number, floors, incremental, full))
    figure = {name: statistics.median(r[name] for r in rounds)
              for name in ("by_requests", "by_all_requests", "by_time", "by_full", "own_ms")}
    print(f"  figures (median of {args.rounds} rounds): Dataverse requests / floor = "
          f"{figure['by_requests']:.2f} (all requests, with the platform's environment lookup: "
          f"{figure['by_all_requests']:.2f}), time / floor = {figure['by_time']:.2f} (target <= "
          f"{TARGET_FLOOR}); time / full copy = {figure['by_full']:.3f} (target <= {TARGET_FULL})")
    print(f"  the app's own time (the incremental's minus the floor's, median): "
          f"{figure['own_ms']:+.0f} ms a round")
    ok = (all(r["complete"] for r in rounds) and figure["by_requests"] <= TARGET_FLOOR
          and figure["by_time"] <= TARGET_FLOOR and figure["by_full"] <= TARGET_FULL)
    return 0 if ok else 1


def _ids(base: str, table: str, entity_set: str, count: int) -> list[str]:
    """The first `count` ids of a table."""
    ids: list[str] = []
    url: str | None = f"{base}{entity_set}?$select={table}id"
    while url is not None and len(ids) < count:
        answer = httpx.get(url, headers={"Prefer": f"odata.maxpagesize={PAGE}"}, timeout=120)
        if answer.status_code == 429:  # the full copy may have spent the window
            time.sleep(float(answer.headers.get("Retry-After", "1")))
            continue
        answer.raise_for_status()
        body = answer.json()
        ids += [row[f"{table}id"] for row in body["value"]]
        url = body.get("@odata.nextLink")
    return ids[:count]


def _round(number: int, floors: list[tuple[int, int, float]], incremental: dict[str, Any],
           full: dict[str, Any]) -> dict[str, Any]:
    """One round's figures, printed."""
    floor_rows, floor_requests, _ = floors[0]
    floor_seconds = statistics.median(f[2] for f in floors)
    changed = sum(int(t.get("changed") or 0) + int(t.get("deleted") or 0)
                  for t in incremental["record"]["tables"])
    print(f"  round {number + 1}: floor (the changed rows alone) {floor_rows:,} rows in "
          f"{floor_seconds:.2f}s (median of {', '.join(f'{f[2]:.2f}' for f in floors)}), "
          f"{floor_requests} requests; incremental {changed:,} rows in "
          f"{incremental['seconds']:.2f}s, {incremental['dataverse_requests']} Dataverse requests"
          f" ({incremental['requests']} in all; {incremental['record']['status']}): time / floor "
          f"= {incremental['seconds'] / floor_seconds:.2f} (the app's own: "
          f"{1000 * (incremental['seconds'] - floor_seconds):+.0f} ms)")
    return {"complete": changed == floor_rows
            and incremental["record"]["status"] == "Succeeded",
            "by_requests": incremental["dataverse_requests"] / floor_requests,
            "by_all_requests": incremental["requests"] / floor_requests,
            "by_time": incremental["seconds"] / floor_seconds,
            "own_ms": 1000 * (incremental["seconds"] - floor_seconds),
            "by_full": incremental["seconds"] / full["seconds"]}


def _change(table: str, n: int) -> dict[str, Any]:
    """A column people edit in each table; none for the N:N intersect table, whose rows are
    never updated: a changed association is a deleted row there."""
    column = {"account": "name", "contact": "lastname", "new_project": "new_name",
              "annotation": "subject"}.get(table)
    return {column: f"changed {n}"} if column else {}


if __name__ == "__main__":
    raise SystemExit(main())
