"""Per-function concurrency: at most batchSize + newBatchThreshold invocations at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import azure.functions as func
import pytest

from ppbackup.host import LocalHost
from tests.integration.host.helpers import send, wait_for

pytestmark = pytest.mark.azurite


class Gauge:
    """Counts invocations at once. The first `quick` invocations return at once; every later one
    holds until the test gives it a permit, so how many run together depends on the host alone."""

    def __init__(self, quick: int = 0) -> None:
        self._lock = threading.Lock()
        self.quick = quick
        self.permits = threading.Semaphore(0)
        self.current = 0
        self.peak = 0
        self.done = 0
        self.entered = 0

    def run(self) -> None:
        with self._lock:
            self.entered += 1
            holds = self.entered > self.quick
            self.current += 1
            self.peak = max(self.peak, self.current)
        try:
            if holds:
                assert self.permits.acquire(timeout=30), "never released"
        finally:
            with self._lock:
                self.current -= 1
                self.done += 1


def gauged_app(gauge: Gauge) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        gauge.run()

    return app


def test_concurrency_is_bounded_by_batch_size_plus_threshold(
    storage: str, host_json: Callable[..., Path]
) -> None:
    # Two of the first batch return at once, so in-flight work drops to the threshold while the
    # other two hold, and the next batch of 4 joins them: 6 at once, and no more while they hold,
    # with 6 more messages waiting.
    gauge = Gauge(quick=2)
    config = host_json(batchSize=4, newBatchThreshold=2)
    with LocalHost(
        gauged_app(gauge), storage_connection=storage, host_json=config, http_port=None
    ) as host:
        send(storage, "work", *[f"m{n}" for n in range(12)])
        assert wait_for(lambda: gauge.current >= 6, timeout=20)
        gauge.permits.release(12)
        assert host.wait_until_idle(timeout=30)
    assert gauge.done == 12
    # A new batch was fetched before the first one finished (more than batchSize at once), and
    # the bound held while six were running.
    assert gauge.peak == 6


def test_batch_size_one_without_threshold_runs_one_at_a_time(
    storage: str, host_json: Callable[..., Path]
) -> None:
    gauge = Gauge()
    config = host_json(batchSize=1, newBatchThreshold=0)
    with LocalHost(
        gauged_app(gauge), storage_connection=storage, host_json=config, http_port=None
    ) as host:
        send(storage, "work", *[f"m{n}" for n in range(6)])
        # Each invocation holds until released, with the rest of the messages waiting.
        for started in range(1, 7):
            assert wait_for(lambda n=started: gauge.entered == n, timeout=20)
            assert gauge.current == 1
            gauge.permits.release()
        assert host.wait_until_idle(timeout=30)
    assert gauge.done == 6
    assert gauge.peak == 1
