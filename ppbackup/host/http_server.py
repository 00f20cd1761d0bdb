"""The HTTP trigger: a loopback `ThreadingHTTPServer` routing to the app's HTTP functions.

Like Core Tools, no function key is asked for locally whatever the binding's authLevel. Since
anything on the machine can reach a keyless loopback port, a web page in the developer's browser
included, the host serves only its own names (`Host`: a DNS-rebound name reads nothing), only its
own origin (`Origin`, `Sec-Fetch-Site`), and a body only as `application/json` (a cross-site
"simple" request, which needs no CORS preflight, cannot be). Errors the host itself produces use
the contract's shape, `{"error": {"code", "message"}}`; an exception escaping a function becomes a
generic 500 (the details go to the log, never to the client).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from ppbackup.host.activity import Activity, CounterBook
from ppbackup.host.invoke import OutputWriter, call_function, new_invocation_id
from ppbackup.host.logs import log_event
from ppbackup.host.metadata import FunctionSpec, HttpTrigger
from ppbackup.host.routes import RouteTemplate, compile_route

# The Functions host's request body limit (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT default, 100 MB).
MAX_BODY_BYTES = 100 * 1024 * 1024
# Idle keep-alive connections are dropped after this, so a stopped server does not linger.
KEEP_ALIVE_SECONDS = 5.0
# Core Tools answers this without a key locally; handy as a readiness probe.
STATUS_PATH = "/admin/host/status"
_ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# The one body type a cross-site form or `no-cors` fetch cannot send without a CORS preflight.
JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class HttpRoute:
    spec: FunctionSpec
    template: RouteTemplate
    methods: frozenset[str] | None

    def allows(self, method: str) -> bool:
        # HEAD is answered by GET functions, as ASP.NET does for GET endpoints.
        return self.methods is None or method in self.methods or (
            method == "HEAD" and "GET" in self.methods
        )


def build_routes(specs: Iterable[FunctionSpec], *, prefix: str) -> list[HttpRoute]:
    """Compile every HTTP function's route; `ValueError` lists the malformed ones."""
    routes: list[HttpRoute] = []
    problems: list[str] = []
    for spec in specs:
        if not isinstance(spec.trigger, HttpTrigger):
            continue
        try:
            template = compile_route(spec.trigger.route, prefix=prefix)
        except ValueError as error:
            problems.append(f"{spec.name}: {error}")
            continue
        routes.append(HttpRoute(spec, template, spec.trigger.methods))
    if problems:
        raise ValueError("; ".join(problems))
    # Most specific first; ties keep declaration order (sorted() is stable).
    return sorted(routes, key=lambda route: route.template.precedence)


class FunctionHttpServer:
    def __init__(
        self,
        routes: list[HttpRoute],
        *,
        host: str,
        port: int,
        activity: Activity,
        function_counters: CounterBook,
        outputs: OutputWriter,
    ) -> None:
        self.routes = routes
        self.activity = activity
        self.function_counters = function_counters
        self.outputs = outputs
        self.stopping = threading.Event()
        self._host = host
        self._server = _Server((host, port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="http-server", daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def authorities(self) -> frozenset[str]:
        """The `Host` values this server answers: the address it listens on, and localhost."""
        address = f"[{self._host}]" if ":" in self._host else self._host
        return frozenset({f"{address}:{self.port}".lower(), f"localhost:{self.port}"})

    def start(self) -> None:
        self._thread.start()

    def stop_accepting(self) -> None:
        """No new connections; requests on open connections are answered 503."""
        self.stopping.set()
        self._server.shutdown()

    def close(self) -> None:
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], owner: FunctionHttpServer
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = KEEP_ALIVE_SECONDS
    server_version = "ppbackup-local-host"

    def log_message(self, format: str, *args: Any) -> None:
        # The stdlib writes an access line to stderr; `http.request` events replace it.
        return

    # The stdlib dispatches on `do_<METHOD>`; every method goes through the router.
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        # Counted before the `stopping` check: a request either sees `stopping` (and gets a 503)
        # or is one the drain in stop() waits for.
        self.server.owner.activity.begin()
        try:
            self._route()
        finally:
            self.server.owner.activity.end()

    def _route(self) -> None:
        owner = self.server.owner
        started = time.monotonic()
        method = self.command.upper()
        split = urlsplit(self.path)
        if owner.stopping.is_set():
            self._send_error(
                HTTPStatus.SERVICE_UNAVAILABLE, "HostStopping", "The host is stopping."
            )
            self.close_connection = True
            return
        # Read the body first, whatever the answer: unread bytes would corrupt the next request
        # on this keep-alive connection.
        body = self._read_body()
        if body is None:
            return
        refusal = self._refusal(body)
        if refusal is not None:
            self._send_error(*refusal)
            self._log(None, method, split.path, refusal[0], started)
            return
        if method == "GET" and split.path.rstrip("/") == STATUS_PATH:
            self._send_json(HTTPStatus.OK, {"state": "Running"})
            return
        matches = [(route, params) for route in owner.routes
                   if (params := route.template.match(split.path)) is not None]
        if not matches:
            self._send_error(HTTPStatus.NOT_FOUND, "NotFound", "No function serves this route.")
            self._log(None, method, split.path, HTTPStatus.NOT_FOUND, started)
            return
        allowed = [(route, params) for route, params in matches if route.allows(method)]
        if not allowed:
            methods = sorted({m for route, _ in matches for m in (route.methods or _ALL_METHODS)})
            self._send_error(
                HTTPStatus.METHOD_NOT_ALLOWED, "MethodNotAllowed",
                f"{method} is not allowed on this route.", headers={"Allow": ", ".join(methods)},
            )
            self._log(matches[0][0].spec.name, method, split.path, HTTPStatus.METHOD_NOT_ALLOWED,
                      started)
            return
        route, params = allowed[0]
        request = func.HttpRequest(
            method=method,
            url=f"http://{self.headers.get('Host') or _owner_host(owner)}{self.path}",
            headers=_headers(self.headers.items()),
            params=_query(split.query),
            route_params=params,
            body=body,
        )
        status = self._invoke(route.spec, request)
        self._log(route.spec.name, method, split.path, status, started)

    def _refusal(self, body: bytes) -> tuple[HTTPStatus, str, str] | None:
        """Why the request is not served (status, code, message), or None to serve it."""
        authorities = self.server.owner.authorities
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in authorities:
            return (HTTPStatus.MISDIRECTED_REQUEST, "MisdirectedRequest",
                    f"This local host answers only to {' or '.join(sorted(authorities))}.")
        origin = self.headers.get("Origin")
        cross_site = (self.headers.get("Sec-Fetch-Site") or "").strip().lower() == "cross-site"
        if cross_site or (origin is not None
                          and origin.strip().lower() not in {f"http://{a}" for a in authorities}):
            return (HTTPStatus.FORBIDDEN, "CrossOriginRefused",
                    "The local host serves only its own page and local tools, not other web sites.")
        media_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if body and media_type != JSON_MEDIA_TYPE:
            return (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType",
                    f"Send the request body as {JSON_MEDIA_TYPE} (Content-Type header).")
        return None

    def _invoke(self, spec: FunctionSpec, request: func.HttpRequest) -> int:
        owner = self.server.owner
        invocation_id = new_invocation_id()
        owner.function_counters.invoked(spec.name)
        try:
            result = call_function(spec, request, invocation_id=invocation_id)
            owner.outputs.write(spec, result)
            response = _as_response(result.return_value)
        except Exception:  # noqa: BLE001  # whatever a user function raises becomes a 500
            owner.function_counters.failed(spec.name)
            log_event(logging.ERROR, "http.function_failed", exc_info=True,
                      function=spec.name, invocation_id=invocation_id)
            self._send_error(
                HTTPStatus.INTERNAL_SERVER_ERROR, "InternalServerError",
                f"The function failed. Invocation id: {invocation_id}.",
            )
            return int(HTTPStatus.INTERNAL_SERVER_ERROR)
        self._send_response(response)
        return int(response.status_code)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400/413 (and closing the connection)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send_error(HTTPStatus.BAD_REQUEST, "BadRequest", "Invalid Content-Length.")
            self.close_connection = True
            return None
        if length > MAX_BODY_BYTES:
            self._send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLarge",
                             "The request body is too large.")
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                size = -1
            total += max(size, 0)
            if size < 0 or total > MAX_BODY_BYTES:
                self._send_error(HTTPStatus.BAD_REQUEST, "BadRequest", "Invalid chunked body.")
                self.close_connection = True
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF after each chunk

    def _send_response(self, response: func.HttpResponse) -> None:
        body = response.get_body() or b""
        headers = dict(response.headers.items())
        self.send_response(int(response.status_code))
        if not any(name.lower() == "content-type" for name in headers) and response.mimetype:
            charset = f"; charset={response.charset}" if response.charset else ""
            self.send_header("Content-Type", f"{response.mimetype}{charset}")
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _send_error(
        self, status: HTTPStatus, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        self._send_json(status, {"error": {"code": code, "message": message}}, headers=headers)

    def _send_json(
        self, status: HTTPStatus, document: object, *, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(document).encode("utf-8")
        self.send_response(int(status))
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _log(
        self, function: str | None, method: str, path: str, status: int, started: float
    ) -> None:
        # The path only: query strings may carry tokens.
        log_event(
            logging.INFO, "http.request", function=function or "-", method=method, path=path,
            status=int(status), duration_ms=round((time.monotonic() - started) * 1000),
        )


def _owner_host(owner: FunctionHttpServer) -> str:
    return owner.url.removeprefix("http://")


def _headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    # Repeated headers are folded into one comma-separated value (RFC 9110 5.3).
    folded: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        folded[key] = f"{folded[key]}, {value}" if key in folded else value
    return folded


def _query(query: str) -> dict[str, str]:
    # Repeated keys are joined with commas, as ASP.NET's StringValues renders them.
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    return params


def _as_response(value: object) -> func.HttpResponse:
    """What the worker makes of a return value: HttpResponse as is, str/bytes as 200."""
    if isinstance(value, func.HttpResponse):
        return value
    if value is None:
        return func.HttpResponse(status_code=HTTPStatus.NO_CONTENT)
    if isinstance(value, str):
        return func.HttpResponse(value, status_code=HTTPStatus.OK)
    if isinstance(value, bytes):
        return func.HttpResponse(value, status_code=HTTPStatus.OK,
                                 mimetype="application/octet-stream")
    raise TypeError(f"an HTTP function must return HttpResponse, str or bytes, not {type(value)}")
