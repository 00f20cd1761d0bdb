"""A whole local stack per test: Azurite (wiped), the Power Platform simulator with a fast clock,
and the real function app's triggers in the local host, with `ctx.clock` = the simulator's clock
and `ctx.time_scale` = its speed (the orchestrator's logic does not know the difference).

A test that counts what happens over simulated time (polls, retries) asks for a stepped clock
(`make_stack(stepped=True)`): the simulator's clock stands still, delayed messages (the engine's
wake-ups) are held back, and `Stack.run_until_ended` moves the clock to the next held message,
sends it, and waits until the app is idle again. The platform sees the same simulated times
however fast or busy the machine is, so the counts are the scenario's, not the machine's.

Faults are injected by wrapping the context's history store and queue sender (`Crashes`).
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import function_app
from engine.runner import RunnerConfig, use_runner_config
from engine.watchdog import WatchdogReport, run_watchdog
from ppbackup.host import LocalHost
from ppbackup.simulator import SimClock, SimOptions, Simulator, run_simulator
from shared.operations import Operation, to_millis
from shared.power_platform import NoTokenProvider, PowerPlatformClient, RetryPolicy
from shared.queue_names import MAX_DEQUEUE_COUNT, RESTORE_STEPS
from shared.runtime import AppContext, Backoff, use_context
from shared.settings import Settings
from shared.storage.connection import queue_service, table_service
from shared.storage.history import HistoryStore, StoredOperation
from shared.storage.queues import QueueSender

# The local host's queue behaviour, fast: polls every 100 ms, failures retried after 100 ms,
# the production dequeue count (handlers record why on the last delivery).
HOST_QUEUES = {
    "messageEncoding": "none",
    "maxDequeueCount": MAX_DEQUEUE_COUNT,
    "visibilityTimeout": "00:00:00.100",
    "maxPollingInterval": "00:00:00.100",
    "batchSize": 16,
    "newBatchThreshold": 8,
}
# Quick retries: a test sees a busy platform or an outage waited out in seconds.
FAST_BACKOFF = Backoff(base_seconds=5.0, cap_seconds=60.0, max_attempts=40)
# The watchdog re-drives an operation two real seconds after its step was due.
FAST_RUNNER = RunnerConfig(watchdog_grace_seconds=2.0)


class Crashes:
    """Which storage calls to fail, once each, to imitate a process killed at that point."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fail_update: Callable[[Operation, dict[str, Any] | None], bool] = lambda o, i: False
        self.fail_send: Callable[[str, dict[str, Any]], bool] = lambda q, p: False
        self.duplicate_sends = False
        self.injected: list[str] = []
        self._watchdog = threading.local()

    @contextmanager
    def watchdog_running(self) -> Iterator[None]:
        """Marks this thread's storage calls as the watchdog's (it runs on the test's thread)."""
        self._watchdog.on = True
        try:
            yield
        finally:
            self._watchdog.on = False

    def by_watchdog(self) -> bool:
        return bool(getattr(self._watchdog, "on", False))

    def note(self, what: str) -> None:
        with self.lock:
            self.injected.append(what)


class KilledHere(RuntimeError):
    """The handler 'dies' here; the host sees an exception and retries the message."""


class CrashingHistory(HistoryStore):
    def __init__(self, storage: str, crashes: Crashes) -> None:
        super().__init__(table_service(storage))
        self.crashes = crashes

    def update(
        self,
        stored: StoredOperation,
        operation: Operation,
        *,
        internal: Any = None,
        beside: Sequence[Callable[[], object]] = (),
        keep_active: bool = False,
    ) -> StoredOperation:
        if self.crashes.fail_update(operation, internal):
            self.crashes.note(f"update {operation.operation_id} seq {(internal or {}).get('seq')}")
            raise KilledHere("killed between the platform call and the checkpoint")
        return super().update(stored, operation, internal=internal, beside=beside,
                              keep_active=keep_active)


@dataclass(frozen=True, slots=True)
class WakeUp:
    """A delayed message, held until the stepped clock reaches `due` (simulated time)."""

    due: datetime
    queue: str
    payload: dict[str, Any]


class HeldMessages:
    """The delayed messages of a stepped stack, in the order their delays end."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._heap: list[tuple[datetime, int, WakeUp]] = []
        self._order = itertools.count()  # equal due times keep their sending order
        self.released: list[WakeUp] = []

    def hold(self, queue: str, payload: dict[str, Any], delay_seconds: float) -> None:
        wake_up = WakeUp(self.clock.now() + timedelta(seconds=delay_seconds), queue, payload)
        with self._lock:
            heapq.heappush(self._heap, (wake_up.due, next(self._order), wake_up))

    def take_next(self) -> list[WakeUp]:
        """The held messages due first (all of those due at that moment), clock moved there."""
        with self._lock:
            if not self._heap:
                return []
            due = self._heap[0][0]
            taken = [heapq.heappop(self._heap)[2]]
            while self._heap and self._heap[0][0] == due:
                taken.append(heapq.heappop(self._heap)[2])
            self.clock.advance_to(due)
            self.released.extend(taken)
        return taken


class CrashingSender(QueueSender):
    def __init__(self, storage: str, crashes: Crashes) -> None:
        super().__init__(queue_service(storage))
        self.crashes = crashes
        # A stepped stack holds delayed messages here instead of letting Azurite delay them by
        # real seconds (the delay is in simulated seconds there: `ctx.time_scale` is 1).
        self.held: HeldMessages | None = None

    def send(self, queue: str, payload: Any, *, delay_seconds: float = 0, **options: Any) -> None:
        if self.crashes.fail_send(queue, dict(payload)):
            self.crashes.note(f"send {queue} {dict(payload)}")
            raise KilledHere("killed between the checkpoint and the next message")
        for _ in range(2 if self.crashes.duplicate_sends else 1):
            if self.held is not None and delay_seconds > 0:
                self.held.hold(queue, dict(payload), delay_seconds)
            else:
                super().send(queue, payload, delay_seconds=delay_seconds, **options)

    def release(self, wake_up: WakeUp) -> None:
        super().send(wake_up.queue, wake_up.payload)


def once_per_key(predicate: Callable[..., Any]) -> Callable[..., bool]:
    """Fail the first call for each key `predicate` returns (None: do not fail)."""
    seen: set[Any] = set()
    lock = threading.Lock()

    def decide(*args: Any) -> bool:
        key = predicate(*args)
        if key is None:
            return False
        with lock:
            if key in seen:
                return False
            seen.add(key)
            return True

    return decide


@dataclass
class Stack:
    storage: str
    sim: Simulator
    ctx: AppContext
    host: LocalHost
    crashes: Crashes
    http: httpx.Client
    queues: CrashingSender
    watchdog_runs: int = 0
    created: list[str] = field(default_factory=list)

    # -- the simulated tenant --------------------------------------------------------------

    def add_env(self, name: str, *, type: str = "Production", location: str = "europe",
                managed: bool = False) -> str:
        return self.sim.add_environment(name, type=type, location=location, managed=managed)

    def add_backup(self, env_id: str, label: str, age: timedelta = timedelta(hours=2)) -> str:
        return self.sim.add_backup(env_id, label, point=self.sim.now() - age)

    def env_type(self, env_id: str) -> str:
        return str(self.sim.environment(env_id)["properties"]["environmentSku"])

    def runtime(self, env_id: str) -> str:
        return str(self.sim.environment(env_id)["properties"]["states"]["runtime"]["id"])

    def platform_ops(self, env_id: str, kind: str) -> list[dict[str, Any]]:
        return self.sim.operations(env_id, kind=kind)

    # -- the app ------------------------------------------------------------------------------

    def post_restore(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post("/api/restores", json=body)

    def submit(self, body: dict[str, Any]) -> str:
        response = self.post_restore(body)
        assert response.status_code == 202, response.text
        return str(response.json()["operationId"])

    def record(self, operation_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/operations/{operation_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def operation(self, operation_id: str) -> StoredOperation:
        return self.ctx.history.get(operation_id)

    def watchdog(self) -> WatchdogReport:
        with use_context(self.ctx), self.crashes.watchdog_running():
            report = run_watchdog(self.ctx)
        self.watchdog_runs += 1
        return report

    @property
    def stepped(self) -> bool:
        return self.queues.held is not None

    def wait_for(
        self, condition: Callable[[], bool], *, timeout: float = 90.0, watchdog: bool = True
    ) -> None:
        """Wait (real time) until `condition` holds. On a stepped stack the clock stands still
        here: only for what takes no simulated time (another thread's doing); else run_until."""
        watchdog = watchdog and not self.stepped
        deadline = time.monotonic() + timeout
        next_watchdog = time.monotonic() + 1.0
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s")
            if watchdog and time.monotonic() >= next_watchdog:
                self.watchdog()  # the timer, every (real) second instead of every minute
                next_watchdog = time.monotonic() + 1.0
            time.sleep(0.05)

    def wait_ended(self, operation_id: str, *, timeout: float = 90.0) -> dict[str, Any]:
        self.wait_for(lambda: self.operation(operation_id).operation.status.terminal,
                      timeout=timeout)
        assert self.host.wait_until_idle([RESTORE_STEPS], timeout=30)
        return self.record(operation_id)

    def run_until(self, condition: Callable[[], bool], *, max_wake_ups: int = 2000) -> None:
        """Drive a stepped stack until `condition` holds while the app is idle: each time it
        is idle, the clock moves to the next held message, which is sent. With nothing held (a
        lost message), the clock moves past the first due time and the watchdog runs."""
        held = self.queues.held
        assert held is not None, "run_until needs make_stack(stepped=True)"
        for _ in range(max_wake_ups):
            assert self.host.wait_until_idle(timeout=60), "the app did not settle"
            if condition():
                return
            taken = held.take_next()
            for wake_up in taken:
                self.queues.release(wake_up)
            if not taken:
                self._watchdog_when_due()
        raise AssertionError(f"not reached after {max_wake_ups} wake-ups")

    def run_until_ended(self, operation_id: str, *, max_wake_ups: int = 2000) -> dict[str, Any]:
        self.run_until(lambda: self.operation(operation_id).operation.status.terminal,
                       max_wake_ups=max_wake_ups)
        return self.record(operation_id)

    def run_until_phase(self, operation_id: str, phase: str) -> None:
        self.run_until(lambda: self.operation(operation_id).internal.get("phase") == phase)

    def released(self) -> list[WakeUp]:
        """The held messages a stepped stack has sent so far, in order."""
        assert self.queues.held is not None, "only a stepped stack holds messages"
        return list(self.queues.held.released)

    def _watchdog_when_due(self) -> None:
        """Nothing is held and nothing runs: only the watchdog can carry anything on. It looks
        now, else once the clock has reached the first due time still ahead (or a grace on)."""
        if self.watchdog().redriven:
            return
        now = self.ctx.clock()
        ahead = [e.next_due_at for e in self.ctx.history.list_active()
                 if e.next_due_at is not None and e.next_due_at > now]
        when = min(ahead) if ahead else now + FAST_RUNNER.grace(self.ctx)
        self.sim.clock.advance_to(when + timedelta(milliseconds=1))
        self.watchdog()

    def wait_phase(self, operation_id: str, phase: str, *, timeout: float = 60.0) -> None:
        self.wait_for(
            lambda: self.operation(operation_id).internal.get("phase") == phase, timeout=timeout
        )


@dataclass(frozen=True)
class StackOptions:
    speed: float = 1200.0
    # The simulator's clock stands still and moves only with `Stack.run_until_ended`.
    stepped: bool = False
    # Connections survive the restore here, as if a person had given every connection
    # reference its connection again before the flows are turned on: what these tests check is
    # how the flows are turned on. The platform's own behaviour (references come back without
    # connections, reference §3.3/§9.4) is the simulator's default, used by
    # test_reactivate_flows.py::test_a_restore_that_drops_every_connection_names_every_flow.
    sim: SimOptions = field(default_factory=lambda: SimOptions(
        restore_seconds=3600.0, modify_sku_seconds=120.0, runtime_state_seconds=30.0,
        queued_seconds=5.0, retry_after=5, dataverse_restore_keeps_connections=True,
    ))
    allow_production: str = "*"
    restore_timeout_hours: float = 48.0


@pytest.fixture
def make_stack(storage: str, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    opened: list[Any] = []

    def make(**overrides: Any) -> Stack:
        options = replace(StackOptions(), **overrides)
        # A stepped clock starts on a whole second, so simulated times add up exactly.
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        sim_cm = run_simulator(speed=0.0 if options.stepped else options.speed, populate=False,
                               seed=7, options=replace(options.sim),
                               start=start if options.stepped else None)
        sim = sim_cm.__enter__()
        opened.append(sim_cm)
        crashes = Crashes()
        settings = Settings.from_env({
            "AzureWebJobsStorage": storage,
            "PP_API_URL": sim.url,
            "PP_BAP_URL": sim.url,
            "PP_AUTH": "none",
            "RESTORE_ALLOW_PRODUCTION": options.allow_production,
            "RESTORE_TIMEOUT_HOURS": str(options.restore_timeout_hours),
        })
        clock = lambda: to_millis(sim.clock.now())  # noqa: E731
        queues = CrashingSender(storage, crashes)
        if options.stepped:
            queues.held = HeldMessages(sim.clock)
        platform = PowerPlatformClient(
            sim.url, sim.url, token_provider=NoTokenProvider(),
            retry=RetryPolicy(max_attempts=3, max_total_seconds=3.0, backoff_base_seconds=0.05,
                              backoff_max_seconds=0.2),
            now=sim.clock.now,
        )
        ctx = AppContext(
            settings=settings,
            platform=platform,
            history=CrashingHistory(storage, crashes),
            queues=queues,
            clock=clock,
            backoff=FAST_BACKOFF,
            time_scale=1.0 if options.stepped else options.speed,
        )
        host_json = tmp_path / "host.json"
        host_json.write_text(json.dumps({"version": "2.0", "extensions": {"queues": HOST_QUEUES}}))
        context_cm = use_context(ctx)
        context_cm.__enter__()
        opened.append(context_cm)
        runner_cm = use_runner_config(FAST_RUNNER)
        runner_cm.__enter__()
        opened.append(runner_cm)
        host = LocalHost(
            function_app.app, storage_connection=storage, host_json=host_json, http_port=0,
            environ={
                "AzureWebJobs.backup_timer.Disabled": "true",
                "AzureWebJobs.restore_watchdog.Disabled": "true",
            },
        )
        host.start()
        opened.append(host)
        http = httpx.Client(base_url=host.http_url, timeout=30)
        opened.append(http)
        return Stack(storage, sim, ctx, host, crashes, http, queues)

    yield make
    for item in reversed(opened):
        if isinstance(item, LocalHost):
            item.stop(5)
        elif isinstance(item, httpx.Client):
            item.close()
        else:
            item.__exit__(None, None, None)


def steps_by_name(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in record["steps"]}


def statuses(record: dict[str, Any]) -> dict[str, str]:
    return {step["name"]: step["status"] for step in record["steps"]}


def restore_body(target: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"targetEnvironmentId": target}
    body.update(fields)
    return body


def ago(sim: Simulator, **delta: float) -> datetime:
    return sim.now() - timedelta(**delta)
