"""Fan-out benchmark: a pre-update backup round over 1,000 environments under throttling.

    python bench/fanout_bench.py [--environments 1000] [--rate 20]

The simulator throttles at RATE requests per second (a token bucket). The floor is the
simulator's own minimum for ENVIRONMENTS backups, measured in the same run: a raw client with many
threads that retries every 429 after 10 ms, against a fresh simulator with the same bucket. The
figure is the app's wall time, from the timer firing until every backup is recorded in history,
divided by that floor (target <= 1.3), with zero lost or duplicated backups, and the host's peak
RSS compared with its RSS right after start (target < 2x). The host is the real function app in
`ppbackup host`, a separate process, so its memory is its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from process_memory import rss_kib  # noqa: E402

from ppbackup.azurite import free_port, running_azurite  # noqa: E402
from ppbackup.simulator import run_simulator  # noqa: E402
from shared.operations import OperationKind, OperationStatus  # noqa: E402
from shared.storage.history import HistoryStore  # noqa: E402

BURST = 20


def measure_floor(count: int, rate: float) -> float:
    """Seconds the simulator itself needs to accept `count` backups at `rate` per second."""
    with run_simulator(port=0, populate=False) as sim:
        envs = sim.seed_many(count, type="Production")
        sim.set_throttle(rate, BURST)
        client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64))
        url = sim.url + "/environmentmanagement/environments/{}/backups?api-version=2024-10-01"

        def create(env: str) -> None:
            while True:
                answer = client.post(url.format(env), json={"label": "floor"})
                if answer.status_code == 201:
                    return
                time.sleep(0.01)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=48) as pool:
            list(pool.map(create, envs))
        elapsed = time.perf_counter() - started
        client.close()
        return elapsed


def run_app(count: int, rate: float) -> dict[str, float]:
    with running_azurite() as azurite, run_simulator(port=0, populate=False) as sim:
        envs = sim.seed_many(count, type="Production")
        sim.set_throttle(rate, BURST)
        port = free_port()
        # Fire the timer a few seconds after the host is up; the slot is in the schedule itself.
        fire_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=12)
        environ = {
            **os.environ,
            "AzureWebJobsStorage": azurite.connection_string,
            "PP_API_URL": sim.url,
            "PP_BAP_URL": sim.url,
            "PP_AUTH": "none",
            "BACKUP_SCOPE": "type:Production",
            "BACKUP_SCHEDULE": f"{fire_at.second} {fire_at.minute} {fire_at.hour} * * *",
        }
        log = open(ROOT / "bench" / ".fanout-host.log", "w")  # noqa: SIM115
        host = subprocess.Popen(
            [sys.executable, "-m", "ppbackup.cli", "host", "--port", str(port)],
            env=environ,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/admin/host/status").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or host.poll() is not None:
                    raise RuntimeError("the host did not start; see bench/.fanout-host.log")
                time.sleep(0.2)
            time.sleep(1.0)
            rss_start = rss_kib(host.pid, "VmRSS")
            peak_rss = rss_start
            stop = threading.Event()

            def sample() -> None:
                nonlocal peak_rss
                while not stop.is_set():
                    peak_rss = max(peak_rss, rss_kib(host.pid, "VmRSS"))
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            while datetime.now(UTC) < fire_at:
                time.sleep(0.01)
            started = time.perf_counter()
            store = HistoryStore.from_connection(azurite.connection_string)
            recorded = 0
            while recorded < count:
                time.sleep(0.5)
                recorded = succeeded_backups(store)
                if time.perf_counter() - started > 900:
                    raise RuntimeError(f"only {recorded} of {count} recorded after 15 minutes")
            wall = time.perf_counter() - started
            stop.set()
            sampler.join()
            peak_rss = max(peak_rss, rss_kib(host.pid, "VmHWM"))
            per_env = Counter({e: len(sim.backups(e)) for e in envs})
            lost = sum(1 for e in envs if per_env[e] == 0)
            duplicated = sum(n - 1 for n in per_env.values() if n > 1)
            stats = sim.stats()
            return {
                "wall": wall,
                "lost": lost,
                "duplicated": duplicated,
                "recorded": recorded,
                "rss_start_mib": rss_start / 1024,
                "rss_peak_mib": peak_rss / 1024,
                "requests": stats["requests"],
                "throttled": stats["throttled"],
            }
        finally:
            host.terminate()
            try:
                host.wait(timeout=40)
            except subprocess.TimeoutExpired:
                host.kill()
            log.close()


def succeeded_backups(store: HistoryStore) -> int:
    total = 0
    continuation: str | None = None
    while True:
        page = store.list(kind=OperationKind.BACKUP, limit=1000, continuation=continuation)
        total += sum(op.status is OperationStatus.SUCCEEDED for op in page.items)
        continuation = page.continuation
        if continuation is None:
            return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()

    print(f"fan-out: {args.environments} environments, simulator throttling at {args.rate:g}/s")
    floor = measure_floor(args.environments, args.rate)
    print(
        f"  floor: the simulator alone accepts {args.environments} backups in {floor:.1f} s "
        f"(theory {(args.environments - BURST) / args.rate:.1f} s)"
    )
    result = run_app(args.environments, args.rate)
    print(
        f"  app:   timer fired -> {result['recorded']:.0f} backups recorded in "
        f"{result['wall']:.1f} s; "
        f"{result['requests']:.0f} platform requests, {result['throttled']:.0f} answered 429"
    )
    print(f"  lost: {result['lost']:.0f}, duplicated: {result['duplicated']:.0f}")
    ratio_rss = result["rss_peak_mib"] / result["rss_start_mib"]
    print(
        f"  host RSS: {result['rss_start_mib']:.0f} MiB after start, "
        f"peak {result['rss_peak_mib']:.0f} MiB "
        f"= {ratio_rss:.2f}x (target < 2)"
    )
    ratio = result["wall"] / floor
    print(f"fan-out: {result['wall']:.1f} s / floor {floor:.1f} s = {ratio:.2f} (target <= 1.3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
