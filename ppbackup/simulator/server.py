"""The HTTP face of the simulator: a threaded `http.server` on loopback.

`http.server` rather than WSGI because the "dropped response" fault must close the socket after
the action ran and before any status line is written, which WSGI servers do not allow. One thread
per connection; HTTP/1.1 keep-alive so a client pool reuses connections; a deep listen backlog so
a benchmark's dozens of workers connecting at once are not refused by the kernel.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from ppbackup.simulator.app import SimulatorApp, is_control
from ppbackup.simulator.clock import SimClock
from ppbackup.simulator.messages import Request, Response
from ppbackup.simulator.options import SimOptions

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7080


def check_loopback(host: str) -> None:
    """The simulator has no auth: refuse to listen anywhere but loopback."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the simulator only binds to loopback addresses, not {host!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ppbackup-simulator/1"
    # Headers and body go out in separate writes; with Nagle on, the client's delayed ACK would
    # add ~40 ms to every response.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers, then the blank line
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        counted = not is_control(path)
        counters = self.server.app.counters
        if counted:  # in flight from reading the body to the last byte written
            counters.enter()
        try:
            body = self._read_body()
            request = Request(self.command, path, query, dict(self.headers.items()), body)
            try:
                response = self.server.app.handle(request)
            except Exception:  # a bug in the simulator must still answer, not hang the client
                logger.exception("simulator.request_failed %s %s", self.command, path)
                response = Response(500, {"error": {"code": "InternalServerError",
                                                    "message": "The simulator failed."}})
            if response is None:
                self._drop()
            else:
                self._write(response)
        finally:
            if counted:
                counters.leave()

    def _write(self, response: Response) -> None:
        payload = response.encoded()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if payload and not any(k.lower() == "content-type" for k in response.headers):
            self.send_header("Content-Type", "application/json; charset=utf-8")
        if response.status != 204:  # RFC 9110: no Content-Length on 204
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _drop(self) -> None:
        # The action has run; the client sees the connection close with no status line.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("simulator.request " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], app: SimulatorApp) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-request (timeouts in tests) are normal here.
        logger.debug("simulator.connection_error %s", client_address, exc_info=True)


class Simulator(SimulatorApp):
    """A simulator bound to a loopback port. Use `run_simulator()` or `start()`/`stop()`."""

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        speed: float = 1.0,
        seed: int | None = None,
        options: SimOptions | None = None,
        start: datetime | None = None,
        populate: bool = True,
        state_file: Path | None = None,
    ) -> None:
        check_loopback(host)
        super().__init__(clock=SimClock(start=start, speed=speed), options=options, seed=seed)
        self.host = host
        self.requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if state_file is not None and Path(state_file).exists():
            self.load_state(Path(state_file))
        elif populate:
            self.seed_default()

    @property
    def url(self) -> str:
        """Base URL for both PP_API_URL and PP_BAP_URL (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self.base_url

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return int(self._server.server_address[1])

    def start(self) -> Simulator:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._server = _Server((self.host, self.requested_port), self)
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{shown}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="ppbackup-simulator", daemon=True,
        )
        self._thread.start()
        logger.info("simulator.started %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None
        logger.info("simulator.stopped")

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# `with run_simulator(port=0) as sim:` starts the simulator and stops it at the end of the block
# (port 0 = a free port): the Simulator is its own context manager, so this is the same class.
run_simulator = Simulator


def _announce(sim: Simulator) -> None:
    print(
        f"ppbackup simulator listening on {sim.url} (speed x{sim.clock.speed:g}); "
        f"set PP_API_URL and PP_BAP_URL to it, PP_AUTH=none. Each environment's Dataverse: "
        f"{sim.url}/orgs/<environment id>/api/data/v9.2/. Ctrl-C to stop.",
        flush=True,
    )


def serve(
    port: int = DEFAULT_PORT,
    state_file: Path | None = None,
    speed: float = 1.0,
    *,
    host: str = DEFAULT_HOST,
    seed: int | None = None,
    options: SimOptions | None = None,
    on_ready: Callable[[Simulator], None] | None = None,
) -> None:
    """Serve until Ctrl-C or SIGTERM, then save the tenant to `state_file` (if given).

    A missing `state_file` starts from `default_seed()` and is created on exit.
    """
    sim = Simulator(host=host, port=port, speed=speed, seed=seed, options=options,
                    state_file=state_file)
    stop = threading.Event()

    def _on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    sim.start()
    try:
        (on_ready or _announce)(sim)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        if state_file is not None:
            sim.save_state(Path(state_file))
            logger.info("simulator.state_saved %s", state_file)
