"""Polling a long restore: how many status calls, and how soon the switch back starts after it.

    python bench/restore_polling_bench.py [--hours 6] [--retry-after 60]

Two 6-hour in-place Production restores on the simulator: one whose platform answers carry
`Retry-After: 60`, one with no `Retry-After` at all (the engine's stage-aware schedule). The real
runner, decision function, client and Azurite run them; only time is virtual: the simulator's
clock is frozen and the benchmark delivers each `restore-steps` message when it is due (plus
the host's worst-case pick-up latency, host.json `maxPollingInterval`), advancing the clock to
that moment. Six simulated hours take seconds, and the figures are in simulated seconds.

Prints, per run: status calls made for the restore, the delay between the platform finishing
the restore and the switch back being requested, the targets (<= 1.1 x duration / Retry-After
calls, <= 120 calls without it, <= 90 s delay), and what a fixed 5-second poller would make.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.runner import handle_step_message
from ppbackup.azurite import running_azurite
from ppbackup.simulator import SimOptions, Simulator, run_simulator
from restore_orchestrator.intake import submit_restore
from shared.operations import parse_time, to_millis
from shared.power_platform import (
    LifecycleKind,
    NoTokenProvider,
    OperationHandle,
    PlatformOperation,
    PowerPlatformClient,
)
from shared.queue_names import RESTORE_STEPS
from shared.runtime import AppContext, use_context
from shared.settings import Settings
from shared.storage.connection import queue_service, table_service
from shared.storage.history import HistoryStore
from shared.storage.queues import QueueSender
from shared.validation import parse_restore_request

ROOT = Path(__file__).resolve().parent.parent
FIXED_POLL_SECONDS = 5.0


def pickup_latency() -> float:
    """host.json's maxPollingInterval: how late an idle queue's due message may be picked up."""
    queues = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    h, m, s = re.match(r"(\d+):(\d+):([\d.]+)", queues["maxPollingInterval"]).groups()  # type: ignore[union-attr]
    return int(h) * 3600 + int(m) * 60 + float(s)


class VirtualQueue(QueueSender):
    """Keeps step messages with their due time instead of sending them."""

    def __init__(self, storage: str, clock: Any) -> None:
        super().__init__(queue_service(storage))
        self.clock = clock
        self.due: list[tuple[datetime, int, Mapping[str, Any]]] = []
        self.order = itertools.count()

    def send(self, queue: str, payload: Mapping[str, Any], *, delay_seconds: float = 0) -> None:
        if queue != RESTORE_STEPS:
            super().send(queue, payload, delay_seconds=delay_seconds)
            return
        at = self.clock() + timedelta(seconds=delay_seconds)
        heapq.heappush(self.due, (at, next(self.order), dict(payload)))


class WatchedClient(PowerPlatformClient):
    """Counts the restore's status calls and notes when the switch back is requested."""

    def __init__(self, url: str, clock: Any) -> None:
        super().__init__(url, url, token_provider=NoTokenProvider(), now=clock)
        self.clock = clock
        self.restore_polls = 0
        self.switch_back_at: datetime | None = None

    def get_operation(
        self, target: OperationHandle | str, *, started_at: datetime | None = None
    ) -> PlatformOperation:
        if isinstance(target, OperationHandle) and target.kind is LifecycleKind.RESTORE:
            self.restore_polls += 1
        return super().get_operation(target, started_at=started_at)

    def begin_change_type(self, environment_id: str, environment_sku: str) -> OperationHandle:
        if environment_sku == "Production" and self.switch_back_at is None:
            self.switch_back_at = self.clock()
        return super().begin_change_type(environment_id, environment_sku)


@dataclass(frozen=True)
class Result:
    status: str
    polls: int
    switch_back_delay: float
    duration: float


def run(storage: str, hours: float, retry_after: int | None, latency: float) -> Result:
    options = SimOptions(restore_seconds=hours * 3600, modify_sku_seconds=120.0,
                         runtime_state_seconds=30.0, queued_seconds=5.0,
                         retry_after=retry_after, backup_settle_seconds=600.0)
    with run_simulator(speed=0.0, populate=False, options=options, seed=3) as sim:
        return _run(sim, storage, latency)


def _run(sim: Simulator, storage: str, latency: float) -> Result:
    prod = sim.add_environment("Contoso Prod", type="Production", location="europe")
    sim.add_backup(prod, "Before release 4.2", point=sim.now() - timedelta(hours=2))

    def clock() -> datetime:
        return to_millis(sim.now())

    queue = VirtualQueue(storage, clock)
    client = WatchedClient(sim.url, sim.now)
    ctx = AppContext(
        settings=Settings.from_env({
            "AzureWebJobsStorage": storage, "PP_API_URL": sim.url, "PP_BAP_URL": sim.url,
            "PP_AUTH": "none", "RESTORE_ALLOW_PRODUCTION": prod,
        }),
        platform=client,
        history=HistoryStore(table_service(storage)),
        queues=queue,
        clock=clock,
    )
    with use_context(ctx):
        request = parse_restore_request({
            "targetEnvironmentId": prod, "backupLabel": "Before release 4.2",
            "confirmProduction": "Contoso Prod",
        })
        operation_id = submit_restore(ctx, request).operation_id
        while queue.due:
            at, _, payload = heapq.heappop(queue.due)
            wait = (at - sim.now()).total_seconds() + latency
            if wait > 0:
                sim.advance(wait)
            handle_step_message(ctx, json.dumps(payload), dequeue_count=1)
        record = ctx.history.get(operation_id).operation
    restore = sim.operations(prod, kind="Restore")[0]
    start, end = parse_time(restore["startTime"]), parse_time(restore["endTime"])
    if client.switch_back_at is None or start is None or end is None:
        sys.exit(f"the restore did not get as far as the switch back: {record.status}")
    return Result(
        status=record.status.value,
        polls=client.restore_polls,
        switch_back_delay=(client.switch_back_at - end).total_seconds(),
        duration=(end - start).total_seconds(),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--retry-after", type=int, default=60)
    args = parser.parse_args(argv)
    latency = pickup_latency()
    with running_azurite() as endpoints:
        with_header = run(endpoints.connection_string, args.hours, args.retry_after, latency)
        without = run(endpoints.connection_string, args.hours, None, latency)
    fixed = with_header.duration / FIXED_POLL_SECONDS
    print(f"(pick-up latency per message: {latency:g}s, host.json maxPollingInterval)")
    for name, result, call_target in (
        (f"Retry-After: {args.retry_after}", with_header,
         1.1 * with_header.duration / args.retry_after),
        ("no Retry-After", without, 120.0),
    ):
        calls_ok = result.polls <= call_target
        delay_ok = result.switch_back_delay <= 90
        print(
            f"{name:>16}: {result.status}, restore of {result.duration / 3600:.2f}h, "
            f"{result.polls} status calls (target <= {call_target:.0f}: "
            f"{'met' if calls_ok else 'MISSED'}), switch back requested "
            f"{result.switch_back_delay:.0f}s after the platform finished (target <= 90s: "
            f"{'met' if delay_ok else 'MISSED'})"
        )
    print(f"{'fixed 5s poller':>16}: {fixed:.0f} status calls for the same restore")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
