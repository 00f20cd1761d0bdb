"""Start-up failures and graceful stop, in-process and through `serve()` with a real signal."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import azure.functions as func
import httpx
import pytest

from ppbackup.azurite import AzuriteEndpoints, free_port
from ppbackup.host import HostStartError, LocalHost
from tests.integration.host.helpers import message_count, queue, send, wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def blocking_app(started: threading.Event, release: threading.Event) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        started.set()
        release.wait(timeout=30)

    return app


@pytest.mark.azurite
def test_stop_lets_in_flight_work_finish_and_takes_no_new_work(
    storage: str, host_json: Callable[..., Path]
) -> None:
    started, release = threading.Event(), threading.Event()
    host = LocalHost(
        blocking_app(started, release), storage_connection=storage, host_json=host_json(),
        http_port=None,
    )
    others = set(threading.enumerate())
    host.start()
    send(storage, "work", "in flight")
    assert started.wait(10)
    threading.Timer(0.5, release.set).start()
    assert host.stop(timeout=10) is True
    assert host.in_flight == 0
    assert message_count(storage, "work") == 0  # completed and deleted during the drain
    assert host.queue_counters("work").invocations == 1
    # Nothing polls any more: the stop joined the poller, so the next message stays put.
    pollers = [t for t in set(threading.enumerate()) - others if t.name.startswith("poll-")]
    assert not [t for t in pollers if t.is_alive()]
    send(storage, "work", "after stop")
    assert host.queue_counters("work").invocations == 1
    assert message_count(storage, "work") == 1


@pytest.mark.azurite
def test_stop_gives_up_after_its_timeout_and_the_message_survives(
    storage: str, host_json: Callable[..., Path]
) -> None:
    started, release = threading.Event(), threading.Event()
    host = LocalHost(
        blocking_app(started, release), storage_connection=storage, host_json=host_json(),
        http_port=None,
    )
    host.start()
    try:
        send(storage, "work", "stuck")
        assert started.wait(10)
        assert host.stop(timeout=0.5) is False
        # It gave up instead of waiting: the function is still blocked, still counted in flight.
        assert not release.is_set()
        assert host.in_flight == 1
        # Still leased, not lost: it reappears when the lease runs out, as after a crash.
        assert message_count(storage, "work") == 1
    finally:
        release.set()


def test_unreachable_storage_fails_fast_at_start(host_json: Callable[..., Path]) -> None:
    # A storage port that takes each connection and hangs up at once: fast failing is one
    # attempt per queue, not the storage SDK's retries with their back-off (minutes).
    connections = 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as dead:
        dead.bind(("127.0.0.1", 0))
        dead.listen()
        dead.settimeout(0.2)
        stop = threading.Event()

        def hang_up() -> None:
            nonlocal connections
            while not stop.is_set():
                try:
                    conn, _ = dead.accept()
                except TimeoutError:
                    continue
                connections += 1
                conn.close()

        taker = threading.Thread(target=hang_up, daemon=True)
        taker.start()
        endpoints = AzuriteEndpoints(queue_port=dead.getsockname()[1], table_port=free_port())
        started, release = threading.Event(), threading.Event()
        host = LocalHost(
            blocking_app(started, release), storage_connection=endpoints.connection_string,
            host_json=host_json(), http_port=None,
        )
        try:
            with pytest.raises(HostStartError, match="work"):
                host.start()
        finally:
            stop.set()
            taker.join(5)
    assert connections == 1


def test_port_in_use_fails_at_start() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="ping")
    def ping(req: func.HttpRequest) -> str:
        return "pong"

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        host = LocalHost(app, storage_connection="UseDevelopmentStorage=true", http_port=port)
        with pytest.raises(HostStartError, match=str(port)):
            host.start()


class _Announced(logging.Handler):
    """Sets `event` when the host logs a record that starts with `message`."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.message):
            self.event.set()


def test_stop_waits_for_an_http_request_in_progress(caplog: pytest.LogCaptureFixture) -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    entered, release = threading.Event(), threading.Event()
    order: list[str] = []

    @app.route(route="slow")
    def slow(req: func.HttpRequest) -> str:
        entered.set()
        release.wait(10)
        order.append("request answered")
        return "done"

    caplog.set_level(logging.INFO, logger="ppbackup.host")
    stopping = _Announced("host.stopping")
    logging.getLogger("ppbackup.host").addHandler(stopping)
    host = LocalHost(app, storage_connection="UseDevelopmentStorage=true", http_port=0)
    host.start()
    answers: list[httpx.Response] = []
    caller = threading.Thread(
        target=lambda: answers.append(httpx.get(host.http_url + "/api/slow", timeout=10))
    )
    caller.start()
    assert entered.wait(5)
    drained: list[bool] = []

    def stop() -> None:
        drained.append(host.stop(timeout=10))
        order.append("stop returned")

    try:
        stopper = threading.Thread(target=stop)
        stopper.start()
        assert stopping.event.wait(5)  # the stop has begun while the request still runs
        release.set()
        stopper.join(10)
        caller.join(5)
    finally:
        logging.getLogger("ppbackup.host").removeHandler(stopping)
    assert drained == [True]
    assert order == ["request answered", "stop returned"]
    assert [(r.status_code, r.text) for r in answers] == [(200, "done")]


SLOW_APP = '''
import os, pathlib, time
import azure.functions as func

app = func.FunctionApp()
marks = pathlib.Path(os.environ["MARK_DIR"])

@app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage) -> None:
    (marks / "started").write_text("yes")
    time.sleep(2)
    (marks / "finished").write_text("yes")
'''

LAUNCHER = '''
import logging, os, sys
from pathlib import Path
sys.path.insert(0, os.environ["APP_DIR"])
logging.basicConfig(level=logging.INFO, format="%(message)s")
logging.getLogger("azure").setLevel(logging.WARNING)
import slow_app
from ppbackup.host import serve
drained = serve(slow_app.app, storage_connection=os.environ["STORAGE"],
                host_json=Path(os.environ["HOST_JSON"]), port=0)
print("drained" if drained else "abandoned")
'''


@pytest.mark.azurite
def test_serve_stops_gracefully_on_sigterm(
    storage: str, host_json: Callable[..., Path], tmp_path: Path
) -> None:
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    env = {
        **os.environ, "APP_DIR": str(tmp_path), "MARK_DIR": str(tmp_path), "STORAGE": storage,
        "HOST_JSON": str(host_json()),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(LAUNCHER)], cwd=PROJECT_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        queue(storage, "work").create_queue()  # the child may not have created it yet
        send(storage, "work", "finish me")
        assert wait_for(lambda: (tmp_path / "started").exists(), timeout=20)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert stdout.strip() == "drained"
    assert (tmp_path / "finished").exists()
    assert "host.stopped drained=True" in stderr
    assert "Traceback" not in stderr
    assert message_count(storage, "work") == 0
