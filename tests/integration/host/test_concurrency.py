"""Per-function concurrency: at most batchSize + newBatchThreshold invocations at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import azure.functions as func
import pytest

from ppbackup.host import LocalHost
from tests.integration.host.helpers import send

pytestmark = pytest.mark.azurite


class Gauge:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = 0
        self.peak = 0
        self.done = 0

    def __enter__(self) -> None:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.current -= 1
            self.done += 1


def gauged_app(gauge: Gauge) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        with gauge:
            # Slow and fast messages alternate, so in-flight work drops to the threshold while
            # slow ones still run and the next batch overlaps them.
            time.sleep(0.8 if msg.get_body() == b"slow" else 0.05)

    return app


def test_concurrency_is_bounded_by_batch_size_plus_threshold(
    storage: str, host_json: Callable[..., Path]
) -> None:
    gauge = Gauge()
    config = host_json(batchSize=4, newBatchThreshold=2)
    with LocalHost(
        gauged_app(gauge), storage_connection=storage, host_json=config, http_port=None
    ) as host:
        send(storage, "work", *(["slow", "slow", "fast", "fast"] * 6))
        assert host.wait_until_idle(timeout=30)
    assert gauge.done == 24
    assert gauge.peak <= 6
    # A new batch was fetched before the first one finished: more than batchSize at once.
    assert gauge.peak > 4


def test_batch_size_one_without_threshold_runs_one_at_a_time(
    storage: str, host_json: Callable[..., Path]
) -> None:
    gauge = Gauge()
    config = host_json(batchSize=1, newBatchThreshold=0)
    with LocalHost(
        gauged_app(gauge), storage_connection=storage, host_json=config, http_port=None
    ) as host:
        send(storage, "work", *(["fast"] * 6))
        assert host.wait_until_idle(timeout=30)
    assert gauge.done == 6
    assert gauge.peak == 1
