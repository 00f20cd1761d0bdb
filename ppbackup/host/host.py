"""`LocalHost`: runs a `FunctionApp`'s queue, timer and HTTP triggers in this process.

Used in-process by tests and benchmarks (as a context manager) and by `ppbackup host` through
`serve()`. Every queue trigger uses the one storage account given as `storage_connection` (what
`AzureWebJobsStorage` names), whatever connection setting a binding names.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import FrameType, TracebackType

from azure.core.exceptions import AzureError, ResourceNotFoundError

from ppbackup.host.activity import Activity, CounterBook, Counters
from ppbackup.host.errors import HostConfigError, HostStartError
from ppbackup.host.host_config import HostConfig, load_host_config
from ppbackup.host.http_server import FunctionHttpServer, HttpRoute, build_routes
from ppbackup.host.invoke import OutputWriter
from ppbackup.host.leases import DEFAULT_LEASE_SECONDS
from ppbackup.host.logs import log_event
from ppbackup.host.metadata import (
    FunctionSpec,
    HttpTrigger,
    QueueTrigger,
    TimerTrigger,
    describe_app,
    is_disabled,
    resolve_functions,
)
from ppbackup.host.queue_listener import QueueListener
from ppbackup.host.schedules import Schedule, parse_schedule
from ppbackup.host.storage import host_queue_service
from ppbackup.host.timers import TimerRunner
from shared.app_service import LOCAL_HOST

DEFAULT_HTTP_PORT = 7071
DEFAULT_DRAIN_SECONDS = 30.0
_DEFAULT_CONNECTION = "AzureWebJobsStorage"


class LocalHost:
    """The app's triggers, run against `storage_connection`.

    `http_port=None` serves no HTTP; `0` picks a free port (see `http_url`). `environ`
    (default: `os.environ`, read once) resolves `%SETTING%` binding expressions,
    `AzureWebJobs.<name>.Disabled` and `WEBSITE_TIME_ZONE`; it is not copied into `os.environ`.
    While it serves HTTP, `os.environ` has `PPBACKUP_LOCAL_HOST=true` (the app's status page is
    keyless only then); stopping restores what was there.
    `lease_seconds` is the queue lease (10 minutes, as in the real host); tests shorten it to
    exercise renewal.

    Raises `HostConfigError` (listing every problem) for a binding, route, schedule, host.json
    value or connection string this host cannot honour.
    """

    def __init__(
        self,
        app: object,
        *,
        storage_connection: str,
        host_json: Path | None = None,
        http_port: int | None = DEFAULT_HTTP_PORT,
        environ: Mapping[str, str] | None = None,
        http_host: str = "127.0.0.1",
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
    ) -> None:
        settings = dict(os.environ if environ is None else environ)
        self.config: HostConfig = load_host_config(host_json)
        declared = describe_app(app)
        self.disabled: tuple[str, ...] = tuple(
            spec.name for spec in declared if is_disabled(spec.name, settings)
        )
        self.functions: tuple[FunctionSpec, ...] = resolve_functions(declared, settings)
        # Room for every worker, poller and lease renewal at once, plus HTTP output writes.
        pool_size = 8 + sum(
            self.config.queues.max_concurrency + 2
            for spec in self.functions
            if isinstance(spec.trigger, QueueTrigger)
        )
        try:
            self._queues = host_queue_service(storage_connection, pool_size=pool_size)
        except ValueError as error:
            raise HostConfigError([f"storage connection: {error}"]) from error
        self._activity = Activity()
        self._queue_counters = CounterBook()
        self._function_counters = CounterBook()
        self._outputs = OutputWriter(self._queues, self.config.queues.message_encoding)
        self._abort_drain = threading.Event()
        self._state_lock = threading.Lock()
        self._started = False
        self._stopped = False

        problems: list[str] = []
        self._schedules: dict[str, Schedule] = {}
        for spec in self.functions:
            if isinstance(spec.trigger, TimerTrigger):
                try:
                    self._schedules[spec.name] = parse_schedule(spec.trigger.schedule, settings)
                except ValueError as error:
                    problems.append(f"{spec.name}: {error}")
        self._routes: list[HttpRoute] = []
        try:
            self._routes = build_routes(self.functions, prefix=self.config.route_prefix)
        except ValueError as error:
            problems.append(str(error))
        if problems:
            raise HostConfigError(problems)

        self._listeners = [
            QueueListener(
                spec, queues=self._queues, options=self.config.queues, activity=self._activity,
                queue_counters=self._queue_counters, function_counters=self._function_counters,
                outputs=self._outputs, lease_seconds=lease_seconds,
            )
            for spec in self.functions
            if isinstance(spec.trigger, QueueTrigger)
        ]
        self._timers = [
            TimerRunner(
                spec, self._schedules[spec.name], activity=self._activity,
                function_counters=self._function_counters, outputs=self._outputs,
            )
            for spec in self.functions
            if isinstance(spec.trigger, TimerTrigger)
        ]
        self._http_address = (http_host, http_port)
        self._http: FunctionHttpServer | None = None
        self._local_host_before: str | None = None

    # Introspection ---------------------------------------------------------------------------

    @property
    def queue_names(self) -> tuple[str, ...]:
        """The trigger queues, each once."""
        return tuple(dict.fromkeys(listener.queue_name for listener in self._listeners))

    @property
    def http_url(self) -> str:
        """`http://127.0.0.1:<port>` once started with HTTP; the route prefix is not included."""
        if self._http is None:
            raise RuntimeError("the host serves no HTTP (not started, or http_port=None)")
        return self._http.url

    @property
    def in_flight(self) -> int:
        return self._activity.in_flight

    def queue_counters(self, queue: str) -> Counters:
        return self._queue_counters.snapshot(queue)

    def function_counters(self, function: str) -> Counters:
        return self._function_counters.snapshot(function)

    @property
    def counters(self) -> dict[str, Counters]:
        """Per trigger queue: invocations, failures, poisoned."""
        return {queue: self.queue_counters(queue) for queue in self.queue_names}

    # Lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> LocalHost:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Create the trigger queues, bind the HTTP port, then start every trigger.

        Raises `HostStartError` when storage cannot be reached or the port is taken.
        """
        with self._state_lock:
            if self._started:
                return
        for listener in self._listeners:
            try:
                listener.prepare()
            except AzureError as error:
                raise HostStartError(
                    f"cannot create or reach queue '{listener.queue_name}' "
                    f"({type(error).__name__}); is the storage (Azurite) running?"
                ) from error
        host, port = self._http_address
        if port is not None and self._routes:
            try:
                self._http = FunctionHttpServer(
                    self._routes, host=host, port=port, activity=self._activity,
                    function_counters=self._function_counters, outputs=self._outputs,
                )
            except OSError as error:
                raise HostStartError(
                    f"cannot listen on {host}:{port} ({error.strerror}); choose another port"
                ) from error
        with self._state_lock:
            self._started = True
        for listener in self._listeners:
            listener.start()
        for timer in self._timers:
            timer.start()
        if self._http is not None:
            # The app serves its status page keyless only where told it runs here, behind this
            # server's loopback and cross-site guards (shared.app_service.LOCAL_HOST).
            self._local_host_before = os.environ.get(LOCAL_HOST)
            os.environ[LOCAL_HOST] = "true"
            self._http.start()
        self._log_started()

    def stop(self, timeout: float = DEFAULT_DRAIN_SECONDS) -> bool:
        """Stop taking work, let in-flight invocations finish for up to `timeout` seconds.

        Returns False if some were still running; their queue messages reappear once their
        lease runs out (nothing renews it any more), as after a host crash.
        """
        with self._state_lock:
            if not self._started or self._stopped:
                return True
            self._stopped = True
        log_event(logging.INFO, "host.stopping", in_flight=self._activity.in_flight)
        for listener in self._listeners:
            listener.request_stop()
        for timer in self._timers:
            timer.request_stop()
        if self._http is not None:
            self._http.stop_accepting()
        drained = self._activity.wait_until_drained(timeout, abort=self._abort_drain)
        for listener in self._listeners:
            listener.close()
        if self._http is not None:
            self._http.close()
            if self._local_host_before is None:
                os.environ.pop(LOCAL_HOST, None)
            else:
                os.environ[LOCAL_HOST] = self._local_host_before
        log_event(
            logging.INFO if drained else logging.WARNING, "host.stopped",
            drained=drained, abandoned=self._activity.in_flight,
        )
        return drained

    def abort_drain(self) -> None:
        """Make a `stop()` in progress give up waiting (a second Ctrl-C)."""
        self._abort_drain.set()

    def wait_until_idle(
        self, queues: Iterable[str] | None = None, *, timeout: float = 30.0
    ) -> bool:
        """True once every watched queue is empty (delayed and leased messages included) and
        nothing runs; False after `timeout` seconds. Watches the trigger queues by default.
        """
        names = list(self.queue_names if queues is None else queues)
        deadline = time.monotonic() + timeout
        while True:
            # `started` must not move while we look: work that began mid-check may have sent
            # messages to a queue we already counted.
            before = self._activity.started
            if (
                self._activity.in_flight == 0
                and all(self._message_count(name) == 0 for name in names)
                and self._activity.in_flight == 0
                and self._activity.started == before
            ):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _message_count(self, queue: str) -> int:
        try:
            properties = self._queues.get_queue_client(queue).get_queue_properties()
        except ResourceNotFoundError:
            return 0
        return int(properties.approximate_message_count or 0)

    def _log_started(self) -> None:
        for spec in self.functions:
            trigger = spec.trigger
            if isinstance(trigger, QueueTrigger):
                if trigger.connection not in (None, "", _DEFAULT_CONNECTION):
                    log_event(logging.WARNING, "host.connection_ignored", function=spec.name,
                              connection=trigger.connection)
                detail = f"queue {trigger.queue_name}"
            elif isinstance(trigger, TimerTrigger):
                detail = f"timer '{trigger.schedule}'"
            elif isinstance(trigger, HttpTrigger):
                methods = ",".join(sorted(trigger.methods)) if trigger.methods else "*"
                route = next(r.template.template for r in self._routes if r.spec is spec)
                base = self._http.url if self._http is not None else "(no HTTP)"
                detail = f"[{methods}] {base}{route}"
            log_event(logging.INFO, "host.function", function=spec.name, trigger=detail)
        for name in self.disabled:
            log_event(logging.INFO, "host.function_disabled", function=name)
        log_event(
            logging.INFO, "host.started", functions=len(self.functions),
            http=self._http.url if self._http is not None else "-",
        )


def serve(
    app: object,
    *,
    storage_connection: str,
    host_json: Path | None = None,
    port: int = DEFAULT_HTTP_PORT,
    environ: Mapping[str, str] | None = None,
    drain_timeout: float = DEFAULT_DRAIN_SECONDS,
    on_started: Callable[[LocalHost], None] | None = None,
) -> bool:
    """Run the app until SIGINT or SIGTERM, then stop gracefully; call from the main thread.

    A second signal during the drain stops waiting for in-flight invocations. Returns whether
    every in-flight invocation finished. Raises `HostConfigError` / `HostStartError` when the
    host cannot start.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("serve() installs signal handlers and must run on the main thread")
    stop_requested = threading.Event()
    host = LocalHost(
        app, storage_connection=storage_connection, host_json=host_json, http_port=port,
        environ=environ,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop_requested.is_set():
            host.abort_drain()
        stop_requested.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        host.start()
        if on_started is not None:
            on_started(host)
        # A timed wait so the main thread returns to the interpreter and runs signal handlers.
        while not stop_requested.wait(0.5):
            pass
        return host.stop(drain_timeout)
    finally:
        host.stop(0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
