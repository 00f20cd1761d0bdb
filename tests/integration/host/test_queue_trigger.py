"""Queue trigger semantics of the local host against Azurite (semantics reference 1.1-1.3)."""

from __future__ import annotations

import base64
import itertools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from ppbackup.host import Counters, LocalHost
from ppbackup.host.queue_listener import QueueListener
from tests.integration.host.helpers import (
    message_count,
    queue,
    send,
    stored_texts,
    wait_for,
)

pytestmark = pytest.mark.azurite


class Calls:
    """What a test function saw, recorded thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[bytes, int, float]] = []

    def record(self, msg: func.QueueMessage) -> int:
        with self.lock:
            self.items.append((msg.get_body(), int(msg.dequeue_count or 0), time.monotonic()))
            return len(self.items)

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [body for body, _, _ in self.items]

    def dequeue_counts(self) -> list[int]:
        with self.lock:
            return [count for _, count, _ in self.items]

    def times(self) -> list[float]:
        with self.lock:
            return [at for _, _, at in self.items]


def queue_app(
    handler: Callable[[func.QueueMessage], object], name: str = "work"
) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.function_name("worker")
    @app.queue_trigger(arg_name="msg", queue_name=name, connection="AzureWebJobsStorage")
    def worker(msg: func.QueueMessage) -> None:
        handler(msg)

    return app


def test_success_deletes_the_message(storage: str, host_json: Callable[..., Path]) -> None:
    calls = Calls()
    app = queue_app(calls.record)
    with LocalHost(app, storage_connection=storage, host_json=host_json(), http_port=None) as host:
        send(storage, "work", "hello")
        assert host.wait_until_idle(timeout=10)
        assert calls.bodies() == [b"hello"]
        assert calls.dequeue_counts() == [1]
        assert message_count(storage, "work") == 0
        assert host.queue_counters("work") == Counters(invocations=1, failures=0, poisoned=0)


def test_failure_is_retried_after_the_visibility_timeout(
    storage: str, host_json: Callable[..., Path]
) -> None:
    calls = Calls()

    def fail_twice(msg: func.QueueMessage) -> None:
        if calls.record(msg) <= 2:
            raise RuntimeError("transient")

    app = queue_app(fail_twice)
    config = host_json(maxDequeueCount=5, visibilityTimeout="00:00:01")
    with LocalHost(app, storage_connection=storage, host_json=config, http_port=None) as host:
        send(storage, "work", "retry me")
        assert host.wait_until_idle(timeout=20)
        assert calls.dequeue_counts() == [1, 2, 3]
        times = calls.times()
        # Each retry waits for visibilityTimeout (1 s); a little slack for clock granularity.
        assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(times))
        assert stored_texts(storage, "work-poison") == []
        assert host.queue_counters("work") == Counters(invocations=3, failures=2, poisoned=0)


def test_always_failing_message_is_poisoned_after_max_dequeue_count(
    storage: str, host_json: Callable[..., Path]
) -> None:
    calls = Calls()

    def always_fail(msg: func.QueueMessage) -> None:
        calls.record(msg)
        raise ValueError("never works")

    app = queue_app(always_fail)
    with LocalHost(
        app, storage_connection=storage, host_json=host_json(maxDequeueCount=4), http_port=None
    ) as host:
        send(storage, "work", '{"step": 1}')
        assert host.wait_until_idle(timeout=20)
        assert calls.dequeue_counts() == [1, 2, 3, 4]
        assert stored_texts(storage, "work-poison") == ['{"step": 1}']
        assert message_count(storage, "work") == 0
        assert host.queue_counters("work") == Counters(invocations=4, failures=4, poisoned=1)
        assert host.function_counters("worker").poisoned == 1


def test_base64_encoding_decodes_and_poison_keeps_the_stored_text(
    storage: str, host_json: Callable[..., Path]
) -> None:
    calls = Calls()

    def fail_on_bad(msg: func.QueueMessage) -> None:
        calls.record(msg)
        if msg.get_body() == "bad €".encode():
            raise RuntimeError("bad")

    app = queue_app(fail_on_bad)
    good = base64.b64encode(b'{"ok": true}').decode()
    bad = base64.b64encode("bad €".encode()).decode()
    config = host_json(messageEncoding="base64", maxDequeueCount=1)
    with LocalHost(app, storage_connection=storage, host_json=config, http_port=None) as host:
        send(storage, "work", good, bad)
        assert host.wait_until_idle(timeout=10)
    assert sorted(calls.bodies()) == sorted([b'{"ok": true}', "bad €".encode()])
    # The poison copy is the stored (still base64) text, so it can be moved back unchanged.
    assert stored_texts(storage, "work-poison") == [bad]


def test_none_encoding_passes_the_raw_text(storage: str, host_json: Callable[..., Path]) -> None:
    calls = Calls()
    app = queue_app(calls.record)
    config = host_json(messageEncoding="none")
    with LocalHost(app, storage_connection=storage, host_json=config, http_port=None) as host:
        # Valid base64, but with encoding "none" the function must see it verbatim.
        send(storage, "work", "aGVsbG8=", "plain ü text")
        assert host.wait_until_idle(timeout=10)
    assert sorted(calls.bodies()) == sorted([b"aGVsbG8=", "plain ü text".encode()])


def test_malformed_base64_goes_to_poison_without_an_invocation(
    storage: str, host_json: Callable[..., Path]
) -> None:
    calls = Calls()
    app = queue_app(calls.record)
    config = host_json(messageEncoding="base64")
    with LocalHost(app, storage_connection=storage, host_json=config, http_port=None) as host:
        send(storage, "work", "this is not base64!")
        assert host.wait_until_idle(timeout=10)
        assert calls.bodies() == []
        assert stored_texts(storage, "work-poison") == ["this is not base64!"]
        assert host.queue_counters("work") == Counters(invocations=0, failures=0, poisoned=1)


def test_message_over_max_dequeue_count_is_poisoned_uninvoked(
    storage: str, host_json: Callable[..., Path]
) -> None:
    # Simulate earlier hosts that crashed mid-invocation: receive the message maxDequeueCount
    # times without completing it, so the host's first look sees dequeue_count = max + 1.
    client = queue(storage, "work")
    client.create_queue()
    client.send_message("crashed the host before")
    for _ in range(3):
        received = next(client.receive_messages(visibility_timeout=30).by_page())
        message = next(iter(received))
        client.update_message(message.id, message.pop_receipt, visibility_timeout=0)
    calls = Calls()
    app = queue_app(calls.record)
    with LocalHost(
        app, storage_connection=storage, host_json=host_json(maxDequeueCount=3), http_port=None
    ) as host:
        assert host.wait_until_idle(timeout=10)
        assert calls.bodies() == []
        assert stored_texts(storage, "work-poison") == ["crashed the host before"]


class _Renewals(logging.Handler):
    """Counts the host's lease renewals; `enough` is set at `wanted`."""

    def __init__(self, wanted: int) -> None:
        super().__init__(logging.DEBUG)
        self.wanted = wanted
        self.count = 0
        self.enough = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("queue.lease_renewed"):
            self.count += 1
            if self.count >= self.wanted:
                self.enough.set()


def test_lease_is_renewed_while_a_long_function_runs(
    storage: str, host_json: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    calls = Calls()
    # Renewed at half-time (1 s of a 2 s lease): after the third renewal the function has held
    # the message past two whole leases, which without renewal would have run out.
    renewals = _Renewals(wanted=3)
    caplog.set_level(logging.DEBUG, logger="ppbackup.host")
    logging.getLogger("ppbackup.host").addHandler(renewals)

    def long_job(msg: func.QueueMessage) -> None:
        calls.record(msg)
        assert renewals.enough.wait(30), "the lease was not renewed"

    app = queue_app(long_job)
    try:
        with LocalHost(
            app, storage_connection=storage, host_json=host_json(), http_port=None,
            lease_seconds=2,
        ) as host:
            send(storage, "work", "long job")
            assert host.wait_until_idle(timeout=40)
    finally:
        logging.getLogger("ppbackup.host").removeHandler(renewals)
    # Without renewal the message would have reappeared after 2 s and run a second time.
    assert calls.dequeue_counts() == [1]
    assert host.queue_counters("work") == Counters(invocations=1, failures=0, poisoned=0)
    assert message_count(storage, "work") == 0


def test_wait_until_idle_sees_delayed_messages(
    storage: str, host_json: Callable[..., Path]
) -> None:
    calls = Calls()
    app = queue_app(calls.record)
    with LocalHost(app, storage_connection=storage, host_json=host_json(), http_port=None) as host:
        send(storage, "work", "later", visibility_timeout=2)
        assert not host.wait_until_idle(timeout=0.5)
        assert calls.bodies() == []
        assert host.wait_until_idle(timeout=10)
        assert calls.bodies() == [b"later"]


def test_queue_name_from_an_app_setting_and_context_and_async(
    storage: str, host_json: Callable[..., Path]
) -> None:
    seen: list[tuple[bytes, str, str]] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
    async def handle(msg: func.QueueMessage, context: func.Context) -> None:
        seen.append((msg.get_body(), context.function_name, context.invocation_id))

    environ = {"WORK_QUEUE": "resolved-queue"}
    with LocalHost(
        app, storage_connection=storage, host_json=host_json(), http_port=None, environ=environ
    ) as host:
        assert host.queue_names == ("resolved-queue",)
        send(storage, "resolved-queue", "via setting")
        assert host.wait_until_idle(timeout=10)
    assert [(body, name) for body, name, _ in seen] == [(b"via setting", "handle")]
    assert seen[0][2]  # an invocation id


def test_queue_output_binding_is_written_after_success(
    storage: str, host_json: Callable[..., Path]
) -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="next-step", connection="AzureWebJobsStorage")
    def forward(msg: func.QueueMessage, out: func.Out[list[str]]) -> None:
        body = msg.get_body().decode()
        out.set([body + "-a", body + "-b"])
        if body == "fail":
            raise RuntimeError("outputs of a failed invocation are not sent")

    config = host_json(messageEncoding="base64", maxDequeueCount=1)
    with LocalHost(app, storage_connection=storage, host_json=config, http_port=None) as host:
        send(storage, "work", base64.b64encode(b"x").decode(), base64.b64encode(b"fail").decode())
        assert host.wait_until_idle(timeout=10)
    texts = sorted(base64.b64decode(t) for t in stored_texts(storage, "next-step"))
    assert texts == [b"x-a", b"x-b"]


class Polls:
    """Each poll of the listener, as (when it began, how many messages it got)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[float, int]] = []

    def backed_off(self, interval: float) -> bool:
        """Two empty polls in a row, `interval` apart or more: the back-off reached its cap."""
        with self.lock:
            pairs = list(itertools.pairwise(self.items))
        return any(a[1] == b[1] == 0 and b[0] - a[0] >= interval for a, b in pairs)

    def empty_between(self, moment: float) -> list[float]:
        """Empty polls begun after `moment` and before the poll that got a message."""
        with self.lock:
            taking = next(began for began, got in self.items if got)
            return [began for began, got in self.items if moment < began < taking and not got]


def test_a_message_arriving_later_is_picked_up_by_the_next_poll_after_backoff(
    storage: str, host_json: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    polls = Polls()
    receive = QueueListener._receive

    def counted(listener: QueueListener) -> list[Any]:
        began = time.monotonic()
        got = receive(listener)
        with polls.lock:
            polls.items.append((began, len(got)))
        return got

    monkeypatch.setattr(QueueListener, "_receive", counted)
    calls = Calls()
    app = queue_app(calls.record)
    with LocalHost(
        app, storage_connection=storage, host_json=host_json(maxPollingInterval="00:00:01"),
        http_port=None,
    ):
        # Idle long enough for the back-off to reach maxPollingInterval (less its jitter).
        assert wait_for(lambda: polls.backed_off(0.8), timeout=30)
        send(storage, "work", "late arrival")
        # Once the send returned the message is there: every poll begun from now on can see it
        # (a poll begun while the send was still on its way may rightly come back empty).
        sent = time.monotonic()
        assert wait_for(lambda: len(calls.bodies()) == 1, timeout=10)
    # No poll after the message arrived came back empty: the next one took it, and a backed-off
    # poller is never more than one interval (at most maxPollingInterval: next_poll_delay's
    # tests) behind.
    assert polls.empty_between(sent) == []
