"""Record restore benchmarks: applying rows against an ideal writer, and planning against reading.

    python bench/record_restore_bench.py apply [--rows 100000] [--scale 100] [--row-cost-ms 0.05]
    python bench/record_restore_bench.py plan [--rows 1000000] [--small 100000] [--differ 0.01]

**apply**: the simulator's Dataverse holds ROWS rows over 3 related tables (account, contact,
annotation: contacts point to accounts, notes to both), with service protection at the
documented limits scaled SCALE times in time (as bench/data_export_bench.py), each row written
costing `--row-cost-ms` of simulated execution time. A data backup takes a point (not timed),
every row of the three tables is deleted, and a record restore (`missing`, apply) brings them back,
run step by step by the engine's own step function as the queue would (a delayed step started
when its message would become visible). Timed: its Applying phase (the batches of writes), and
the whole operation for the record.
The ceiling, in the same run on the same simulator: the rows are deleted again, then an ideal
writer sends the very same writes (the stages the restore laid out, parents first) in `$batch`
requests of 1,000 (the largest allowed) at the recommended concurrency (`x-ms-dop-hint`), waiting
exactly Retry-After on a 429. Figure: app rows/s / ideal rows/s (target >= 0.7).

**plan**: an account table of ROWS rows, a point of it, then DIFFER of its rows changed (half
edited, half deleted); a dry run (`all`) of the whole table, timed, against the same run's time
to read the table once from the store (`DataStore.read_table`) plus once from the simulator
(paged reads of 5,000). Figure: plan seconds / (store read + simulator read) (target <= 1.3).
Memory: the dry run at SMALL and at ROWS rows; peak RSS ratio (target <= 1.2): a third identical
dry run in a process of its own that does nothing else (its peak RSS: the interpreter, the app's
modules and the dry run; the process that took the point holds what that allocated), and, for
the dry run alone, the peak of what it allocates (tracemalloc, a second identical dry run).
Smoke: `plan --rows 20000 --small 5000`, `apply --rows 6000`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from process_memory import peak_rss_kib  # noqa: E402

TABLES = {"account": ("accounts", "accountid"), "contact": ("contacts", "contactid"),
          "annotation": ("annotations", "annotationid")}
TARGET_APPLY = 0.7
TARGET_PLAN = 1.3
TARGET_MEMORY = 1.2
IDEAL_BATCH = 1000
ROW_WRITES = "rows"  # the stage pass of first writes
ENV_NAME = "Bench Sandbox"


def sim_options(rows_per_table: int, scale: float, row_cost_ms: float) -> dict[str, Any]:
    return dict(
        dataverse_rows=rows_per_table,
        dataverse_window_seconds=300.0 / scale,
        dataverse_requests_per_window=max(1, round(6000 / scale)),
        dataverse_execution_seconds_per_window=1200.0 / scale,
        dataverse_concurrent_requests=52, dataverse_dop_hint=8,
        dataverse_row_cost_ms=row_cost_ms,
    )


def context(azurite: Any, sim: Any) -> Any:
    from shared.runtime import AppContext
    from shared.settings import Settings

    return AppContext.from_settings(Settings.from_env({
        "AzureWebJobsStorage": azurite.connection_string, "PP_API_URL": sim.url,
        "PP_BAP_URL": sim.url, "PP_AUTH": "none",
    }))


def run_live(ctx: Any, operation_id: str, read_state: Any) -> dict[str, Any]:
    """Run an operation's steps as the queue would (each call runs steps while they continue at
    once, as one queue message does)."""
    from engine.runner import run_steps

    started = time.perf_counter()
    steps = 0
    while True:
        stored = ctx.history.get(operation_id)
        if stored.operation.status.terminal:
            break
        state = read_state(stored)
        if state.wake_at is not None:
            time.sleep(max(0.0, (state.wake_at - datetime.now(UTC)).total_seconds()))
        run_steps(ctx, operation_id, state.seq)
        steps += 1
    record = stored.operation.to_record()
    return {"record": record, "seconds": time.perf_counter() - started, "messages": steps,
            "phases": {s["name"]: step_seconds(record, s["name"]) for s in record["steps"]
                       if s.get("startedAt") and s.get("endedAt")}}


def step_seconds(record: dict[str, Any], name: str) -> float:
    """A step's duration on the record (the engine stamps its start and end)."""
    from shared.operations import parse_time

    step = next(s for s in record["steps"] if s["name"] == name)
    began, ended = parse_time(step.get("startedAt")), parse_time(step.get("endedAt"))
    if began is None or ended is None:
        raise ValueError(f"step {name} has not run: {step}")
    return (ended - began).total_seconds()


def take_point(ctx: Any, env: str, tables: list[str]) -> str:
    from data_backups.intake import handle_data_backup_message
    from data_backups.kind import read_state

    body = json.dumps({"environmentId": env, "tables": tables, "full": True})
    operation = handle_data_backup_message(ctx, body, message_id=f"point-{time.time_ns()}")
    assert operation is not None
    run = run_live(ctx, operation.operation_id, read_state)
    assert run["record"]["status"] == "Succeeded", run["record"].get("error")
    return str(run["record"]["pointId"])


def restore(ctx: Any, env: str, tables: list[str], point_id: str, *, target: str | None = None,
            **request: Any) -> dict[str, Any]:
    from data_restores.kind import read_state
    from data_restores.state import DataRestoreState
    from shared.intake import admit
    from shared.operations import OperationKind, new_operation

    state = DataRestoreState(env, target or env, tuple(tables), point_id=point_id, **request)
    operation = new_operation(OperationKind.DATA_RESTORE, target or env, ctx.clock(),
                              source_environment_id=env)
    stored, _ = admit(ctx, operation, dedup_key=None, internal=state.to_json())
    return run_live(ctx, stored.operation.operation_id, read_state)


def read_ids(sim: Any, env: str, table: str) -> list[str]:
    """A table's ids, read through the Web API in pages of 5,000."""
    entity_set, id_column = TABLES[table]
    url: str | None = f"{sim.dataverse_url(env)}/api/data/v9.2/{entity_set}?$select={id_column}"
    ids: list[str] = []
    with httpx.Client(timeout=300) as client:
        while url is not None:
            answer = client.get(url, headers={"Prefer": "odata.maxpagesize=5000"})
            answer.raise_for_status()
            body = answer.json()
            ids += [row[id_column] for row in body["value"]]
            url = body.get("@odata.nextLink")
    return ids


# -- apply ------------------------------------------------------------------------------------


def ideal_writer(sim: Any, env: str, stages: list[dict[str, Any]]) -> tuple[int, float, int]:
    """(rows written, seconds, 429s): the same writes, 1,000 per `$batch`, stage by stage."""
    from shared.dataverse.batch import BatchRequest, decode_batch, encode_batch

    base = sim.dataverse_url(env) + "/api/data/v9.2/"
    client = httpx.Client(timeout=300, limits=httpx.Limits(max_connections=16))
    throttled = [0]
    lock = threading.Lock()

    def send(writes: list[dict[str, Any]]) -> int:
        requests = [BatchRequest("PATCH", w["url"], w["body"], w["headers"]) for w in writes]
        content_type, body = encode_batch(requests, api_path="/" + base.split("/", 3)[3])
        while True:
            answer = client.post(base + "$batch", content=body, headers={
                "Content-Type": content_type, "Prefer": "odata.continue-on-error"})
            if answer.status_code == 429:
                with lock:
                    throttled[0] += 1
                time.sleep(float(answer.headers.get("Retry-After", "1")))
                continue
            answer.raise_for_status()
            parts = decode_batch(answer.headers["content-type"], answer.text)
            return sum(1 for p in parts if p.ok and p.status == 204)

    written = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for stage in stages:
            writes = [w for batch in stage["batches"] for w in batch]
            chunks = [writes[i:i + IDEAL_BATCH] for i in range(0, len(writes), IDEAL_BATCH)]
            counted = sum(pool.map(send, chunks))
            if stage["pass"] == ROW_WRITES:
                written += counted
    elapsed = time.perf_counter() - started
    client.close()
    return written, elapsed, throttled[0]


def bench_apply(args: argparse.Namespace) -> int:
    from sim_process import simulator_process

    from ppbackup.azurite import running_azurite
    from shared.data_store import data_store_from_settings
    from shared.data_store.restore_files import RestoreFiles
    from shared.runtime import use_context

    per_table = args.rows // len(TABLES)
    print(f"Record restore, apply: {per_table * len(TABLES):,} rows over {len(TABLES)} related "
          f"tables, service protection at the documented limits scaled {args.scale:g}x in time, "
          f"{args.row_cost_ms} ms per row; the simulator in its own process")
    with running_azurite() as azurite, simulator_process(
        **sim_options(per_table, args.scale, args.row_cost_ms)
    ) as sim:
        source = sim.add_environment("Bench source")
        rows = sum(len(read_ids(sim, source, t)) for t in TABLES)  # seeds it, and counts
        sim.set_options(dataverse_rows=0)
        target, ideal_target = sim.add_environment("Bench target"), sim.add_environment("Ideal")
        for env in (target, ideal_target):
            read_ids(sim, env, "account")  # seeded now: empty
        ctx = context(azurite, sim)
        with use_context(ctx):
            point = take_point(ctx, source, list(TABLES))
            run = restore(ctx, source, list(TABLES), point, target=target, mode="missing",
                          apply=True)
        record = run["record"]
        applied = record.get("applied") or {}
        created = int(applied.get("total", {}).get("create", 0))
        planned = record.get("plan") or {}
        expected = int(planned.get("total", {}).get("create", -1))
        if record["status"] != "Succeeded" or created != expected:
            print(f"  FAILED: the restore ended {record['status']} with {created:,} of {rows:,} "
                  f"rows created: {record.get('error')}; plan {record.get('plan')}")
            return 1
        apply_seconds = step_seconds(record, "apply")
        app_speed = created / apply_seconds
        files = RestoreFiles(data_store_from_settings(ctx.settings), record["operationId"])
        stages = []
        while True:
            try:
                stage = files.stage(len(stages))
            except LookupError:
                break
            stages.append({**stage, "batches": [files.batch(len(stages), b)
                                                for b in range(stage["batches"])]})
        throttled_app = sim.stats().get("throttled")
        time.sleep(300.0 / args.scale)  # a fresh service protection window
        ideal_rows, ideal_seconds, ideal_429 = ideal_writer(sim, ideal_target, stages)
    ceiling = ideal_rows / ideal_seconds
    print(f"  ceiling (ideal writer, batches of {IDEAL_BATCH}, 8 at once): {ideal_rows:,} rows "
          f"in {ideal_seconds:.1f}s = {ceiling:,.0f} rows/s ({ideal_429} x 429)")
    left = rows - created
    print(f"  rows: {rows:,} at the point, {created:,} restored ({left:,} notes point to tables "
          "outside the three and the empty target: not restorable, as planned)")
    print(f"  app: {created:,} rows in {apply_seconds:.1f}s of applying = {app_speed:,.0f} "
          f"rows/s; the whole restore {run['seconds']:.1f}s, {run['messages']} messages "
          f"(steps: {', '.join(f'{k} {v:.1f}s' for k, v in run['phases'].items())}); "
          f"429s: {throttled_app}")
    figure = app_speed / ceiling
    print(f"  figure: app / ceiling = {figure:.2f} (target >= {TARGET_APPLY})")
    return 0 if figure >= TARGET_APPLY else 1


# -- plan -------------------------------------------------------------------------------------


def plan_run(rows: int, differ: float) -> dict[str, Any]:
    """One dry run over an account table of `rows` rows; its figures (in this process)."""
    from sim_process import simulator_process

    from ppbackup.azurite import running_azurite
    from shared.data_store import data_store_from_settings
    from shared.dataverse import DataverseClient
    from shared.power_platform import NoTokenProvider, PowerPlatformClient
    from shared.runtime import use_context

    with running_azurite() as azurite, simulator_process(dataverse_rows=rows) as sim:
        env = sim.add_environment(ENV_NAME)
        accounts = read_ids(sim, env, "account")
        ctx = context(azurite, sim)
        with use_context(ctx):
            point = take_point(ctx, env, ["account"])
            step = max(1, round(1 / differ))
            for n, record_id in enumerate(accounts[::step]):
                if n % 2:
                    sim.change(env, "account", "delete", record_id)
                else:
                    sim.change(env, "account", "update", record_id, {"name": f"changed {n}"})
            run = restore(ctx, env, ["account"], point, mode="all")
            if run["record"]["status"] != "Succeeded":
                return {"status": run["record"]["status"], "error": run["record"].get("error"),
                        "steps": run["record"].get("steps")}
            # The same dry run again under tracemalloc: the peak of what the restore itself
            # allocates (the process's RSS also holds what taking the point allocated).
            tracemalloc.start()
            again = restore(ctx, env, ["account"], point, mode="all")
            traced_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert again["record"]["plan"] == run["record"]["plan"]
            alone = dry_run_alone(azurite.connection_string, sim.url, env, point)
            assert alone["plan"] == run["record"]["plan"], alone
            store = data_store_from_settings(ctx.settings)
            began = time.perf_counter()
            stored = sum(1 for _ in store.read_table(env, point, "account"))
            store_seconds = time.perf_counter() - began
            with PowerPlatformClient(sim.url, sim.url, token_provider=NoTokenProvider()) as pp:
                environment = pp.get_environment(env)
            began = time.perf_counter()
            with DataverseClient.for_environment(environment,
                                                 token_provider=NoTokenProvider()) as client:
                live = sum(len(page.rows) for page in client.pages(
                    client.first_page("accounts", page_size=5000)))
            sim_seconds = time.perf_counter() - began
    return {"status": run["record"]["status"], "plan": run["record"].get("plan"),
            "seconds": run["seconds"], "messages": run["messages"], "phases": run["phases"],
            "stored": stored, "live": live, "store_seconds": store_seconds,
            "sim_seconds": sim_seconds, "traced_peak": traced_peak,
            "alone_rss_kib": alone["peak_rss_kib"], "alone_start_kib": alone["start_kib"],
            "peak_rss_kib": peak_rss_kib()}


def dry_run_alone(connection_string: str, sim_url: str, env: str, point: str) -> dict[str, Any]:
    """The dry run again in a fresh process that does nothing else: its peak RSS."""
    return run_child([sys.executable, __file__, "plan-alone", "--storage", connection_string,
                      "--sim", sim_url, "--env", env, "--point", point])


def plan_alone(args: argparse.Namespace) -> dict[str, Any]:
    from shared.runtime import use_context

    ctx = context(SimpleNamespace(connection_string=args.storage), SimpleNamespace(url=args.sim))
    # The app's modules loaded first (what every process of the app holds), then the dry run.
    from data_restores import execute, kind  # noqa: F401

    start = peak_rss_kib()
    with use_context(ctx):
        run = restore(ctx, args.env, ["account"], args.point, mode="all")
    return {"status": run["record"]["status"], "plan": run["record"].get("plan"),
            "start_kib": start, "peak_rss_kib": peak_rss_kib()}


def child(rows: int, differ: float) -> dict[str, Any]:
    return run_child([sys.executable, __file__, "plan-child", "--rows", str(rows),
                      "--differ", str(differ)])


def run_child(command: list[str]) -> dict[str, Any]:
    """A bench process's result (the JSON line it ends with); its errors shown if it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-5000:], file=sys.stderr)
        raise SystemExit(f"{' '.join(command[1:3])} failed with exit status {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_plan(args: argparse.Namespace) -> int:
    print(f"Record restore, plan: a dry run over {args.rows:,} accounts, {args.differ:.0%} "
          "of them changed since the point (half edited, half deleted)")
    big = child(args.rows, args.differ)
    if big["status"] != "Succeeded":
        print(f"  FAILED: the dry run ended {big['status']}: {big.get('error')}; steps "
              f"{big.get('steps')}")
        return 1
    total = big["plan"]["total"]
    floor = big["store_seconds"] + big["sim_seconds"]
    print(f"  floor: read {big['stored']:,} rows from the store in {big['store_seconds']:.1f}s "
          f"+ {big['live']:,} from the simulator in {big['sim_seconds']:.1f}s = {floor:.1f}s")
    print(f"  app: dry run {big['seconds']:.1f}s in {big['messages']} messages (phases: "
          f"{', '.join(f'{k} {v:.1f}s' for k, v in big['phases'].items())}); plan "
          f"{total['create']} create, {total['update']} update, {total['unchanged']:,} unchanged")
    figure = big["seconds"] / floor
    print(f"  figure: dry run / floor = {figure:.2f} (target <= {TARGET_PLAN})")
    small = child(args.small, args.differ)
    ratio = big["alone_rss_kib"] / small["alone_rss_kib"]
    traced = big["traced_peak"] / small["traced_peak"]
    print(f"  peak RSS of a process running the dry run alone: "
          f"{small['alone_rss_kib'] / 1024:.0f} MiB at {args.small:,} rows, "
          f"{big['alone_rss_kib'] / 1024:.0f} MiB at {args.rows:,} rows = {ratio:.2f}x "
          f"(target <= {TARGET_MEMORY}; {small['alone_start_kib'] / 1024:.0f} and "
          f"{big['alone_start_kib'] / 1024:.0f} MiB with the app loaded, before it)")
    print(f"  the dry run's own peak allocation (tracemalloc): "
          f"{small['traced_peak'] / 2**20:.1f} and {big['traced_peak'] / 2**20:.1f} MiB = "
          f"{traced:.2f}x; the peak RSS of the process that also took the point: "
          f"{small['peak_rss_kib'] / 1024:.0f} and {big['peak_rss_kib'] / 1024:.0f} MiB")
    return 0 if figure <= TARGET_PLAN and max(ratio, traced) <= TARGET_MEMORY else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["apply", "plan", "plan-child", "plan-alone"])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--differ", type=float, default=0.01)
    parser.add_argument("--scale", type=float, default=100.0)
    parser.add_argument("--row-cost-ms", type=float, default=0.05)
    # plan-alone (a dry run in a process of its own): where the point and the simulator are.
    parser.add_argument("--storage")
    parser.add_argument("--sim")
    parser.add_argument("--env")
    parser.add_argument("--point")
    args = parser.parse_args(argv)
    if args.what == "plan-alone":
        print(json.dumps(plan_alone(args)))
        return 0
    if args.what == "plan-child":
        print(json.dumps(plan_run(args.rows, args.differ)))
        return 0
    if args.what == "apply":
        args.rows = args.rows or 100_000
        return bench_apply(args)
    args.rows = args.rows or 1_000_000
    return bench_plan(args)


if __name__ == "__main__":
    raise SystemExit(main())
