"""A local receiver for notifications: shows what Teams and the webhook would have been sent.

It accepts the Teams Workflows envelope on `/teams` and the signed webhook on `/webhook`, checks
the webhook's signature with the same `verify` a real receiver should use, and prints a readable
rendering of every card and event. Point the app at it with

    TEAMS_WEBHOOK_URL=<receiver.teams_url>
    NOTIFY_WEBHOOK_URL=<receiver.webhook_url>   NOTIFY_WEBHOOK_SECRET=<the same secret>

(plain http is accepted for loopback addresses only). In code:

    with running_receiver(secret="...") as receiver:
        ...                                   # run the app
        receiver.wait_for(2)
        receiver.received                     # what arrived, oldest first

Tests script its answers (`receiver.reply(Target, Reply(503), ...)`) to make it fail, throttle or
time out. From a shell: `python -m ppbackup.receiver --port 7072 --secret ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import sys
import textwrap
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TextIO

from notifications.webhook import SIGNATURE_HEADER, SignatureInvalid, verify

TargetName = Literal["teams", "webhook"]
PATHS: dict[str, TargetName] = {"/teams": "teams", "/webhook": "webhook"}
_MAX_BODY = 1024 * 1024
_WIDTH = 100
_STYLE_MARKS = {"good": "✔", "attention": "✖", "warning": "⚠", "accent": "•"}
# Undo `notifications.text.escape_markdown` for display in a terminal.
_ESCAPED = re.compile(r"\\([\\*\[\]`~_#>+\-.)])")


@dataclass(frozen=True, slots=True)
class Reply:
    """How the receiver answers one request: status, headers, and an optional delay (longer
    than the sender's timeout = a timeout)."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Received:
    target: TargetName
    status: int  # what the receiver answered
    headers: Mapping[str, str]
    body: bytes
    payload: Any  # the parsed JSON, None if the body was not JSON
    verified: bool | None  # webhook signature: True/False; None when not checked
    error: str | None  # why the request was refused (bad signature, not JSON)
    repeat: bool  # an event id this target already accepted (a receiver would drop it)

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def event_id(self) -> str | None:
        if self.target == "webhook" and isinstance(self.payload, Mapping):
            value = self.payload.get("eventId")
            return str(value) if value else None
        return _header(self.headers, "X-PPBackup-Event-Id")

    @property
    def card(self) -> dict[str, Any] | None:
        """The Adaptive Card of a Teams message."""
        if self.target != "teams" or not isinstance(self.payload, Mapping):
            return None
        attachments = self.payload.get("attachments") or []
        if attachments and isinstance(attachments[0], Mapping):
            content = attachments[0].get("content")
            return content if isinstance(content, dict) else None
        return None


class Receiver:
    def __init__(
        self, *, secret: str | None, out: TextIO | None, host: str, port: int,
        tolerance_seconds: int,
    ) -> None:
        self.secret = secret
        self.tolerance_seconds = tolerance_seconds
        self._out = out
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._seen: dict[str, set[str]] = {"teams": set(), "webhook": set()}
        self._replies: dict[str, deque[Reply]] = {"teams": deque(), "webhook": deque()}
        self._server = _Server((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="ppbackup-receiver", daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else host
        return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"

    @property
    def teams_url(self) -> str:
        return f"{self.url}/teams"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhook"

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def accepted(self, target: TargetName | None = None) -> list[Received]:
        """Requests answered 2xx (optionally for one target), repeats included."""
        return [r for r in self.received if r.accepted and target in (None, r.target)]

    def reply(self, target: TargetName, *replies: Reply) -> None:
        """Answer the next requests to `target` with `replies`, in order; then the default."""
        with self._lock:
            self._replies[target].extend(replies)

    def wait_for(self, count: int, *, target: TargetName | None = None,
                 accepted_only: bool = True, timeout: float = 10.0) -> bool:
        """Wait until `count` requests (accepted ones by default) have arrived."""
        def enough() -> bool:
            found = [r for r in self._received if target in (None, r.target)
                     and (r.accepted or not accepted_only)]
            return len(found) >= count

        with self._lock:
            return self._lock.wait_for(enough, timeout=timeout)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- called by the request handler ---------------------------------------------------------

    def _next_reply(self, target: TargetName) -> Reply:
        with self._lock:
            if self._replies[target]:
                return self._replies[target].popleft()
        # Workflows answers 202 Accepted; a webhook receiver typically 200 or 204.
        return Reply(202 if target == "teams" else 200)

    def _check(self, target: TargetName, body: bytes, headers: Mapping[str, str],
               ) -> tuple[Any, bool | None, str | None]:
        try:
            payload = json.loads(body)
        except ValueError:
            return None, None, "the body is not JSON"
        if target != "webhook" or self.secret is None:
            return payload, None, None
        try:
            verify(body, headers, self.secret, now=int(time.time()),
                   tolerance_seconds=self.tolerance_seconds)
        except SignatureInvalid as error:
            return payload, False, str(error)
        return payload, True, None

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)
            if self._out is not None:
                from ppbackup.render import shown

                # A delivery is whatever was posted here: it must not drive the terminal.
                print(shown(render_received(received)), file=self._out, flush=True)
            self._lock.notify_all()

    def _is_repeat(self, target: TargetName, event_id: str | None, accepted: bool) -> bool:
        if event_id is None:
            return False
        if not accepted:
            return False
        with self._lock:
            repeat = event_id in self._seen[target]
            self._seen[target].add(event_id)
            return repeat


@contextlib.contextmanager
def running_receiver(
    *,
    secret: str | None = None,
    out: TextIO | None = sys.stdout,
    host: str = "127.0.0.1",
    port: int = 0,
    tolerance_seconds: int = 300,
) -> Iterator[Receiver]:
    """A receiver on a free loopback port for the duration of the block.

    `secret`: check webhook signatures with it (refusing bad ones with 401); None accepts any.
    `out`: where renderings are printed (None: print nothing).
    """
    receiver = Receiver(secret=secret, out=out, host=host, port=port,
                        tolerance_seconds=tolerance_seconds).start()
    try:
        yield receiver
    finally:
        receiver.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        if address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the receiver listens on loopback only")
        super().__init__(address, _Handler)
        self.receiver = receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that timed out and hung up is what some tests are about


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the rendering is the log

    def do_POST(self) -> None:
        target = PATHS.get(self.path.split("?", 1)[0])
        length = int(self.headers.get("Content-Length") or 0)
        if target is None or not 0 <= length <= _MAX_BODY:
            self._answer(Reply(404 if target is None else 413))
            return
        body = self.rfile.read(length)
        headers = {k: v for k, v in self.headers.items()}
        receiver = self.server.receiver
        payload, verified, error = receiver._check(target, body, headers)
        reply = (Reply(401 if verified is False else 400) if error
                 else receiver._next_reply(target))
        if reply.delay:
            time.sleep(reply.delay)
        draft = Received(target, reply.status, headers, body, payload, verified, error, False)
        repeat = receiver._is_repeat(target, draft.event_id, draft.accepted)
        receiver._record(dataclasses.replace(draft, repeat=repeat))
        with contextlib.suppress(OSError):  # the sender may have given up waiting
            self._answer(reply)

    def _answer(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


# ------------------------------------------------------------------------------ rendering


def render_received(received: Received) -> str:
    """A delivery as a person would want to read it in a terminal."""
    state = f"answered {received.status}"
    if received.repeat:
        state += ", a repeat of an event already accepted (a receiver drops it)"
    if received.error:
        state += f", refused: {received.error}"
    if received.target == "teams":
        head = _rule(f"Teams card · {state}")
        card = received.card
        lines = render_card(card) if card is not None else ["(no Adaptive Card in the message)"]
        return "\n".join([head, *lines])
    signature = {True: "signature ok", False: "signature INVALID", None: "signature not checked"}
    payload = received.payload if isinstance(received.payload, Mapping) else {}
    head = _rule(f"Webhook {payload.get('event', '?')} · {signature[received.verified]} · {state}")
    return "\n".join([head, *render_webhook(payload)])


def render_webhook(payload: Mapping[str, Any]) -> list[str]:
    facts: list[tuple[str, str]] = [
        ("Event id", str(payload.get("eventId"))),
        ("Occurred at", str(payload.get("occurredAt"))),
    ]
    operation = payload.get("operation")
    if isinstance(operation, Mapping):
        name = operation.get("environmentName") or operation.get("environmentId")
        facts += [
            ("Operation", f"{operation.get('operationId')} ({operation.get('status')})"),
            ("Environment", f"{name} ({operation.get('environmentId')})"),
        ]
        if operation.get("error"):
            facts.append(("Error", f"{operation['error'].get('code')}: "
                                   f"{operation['error'].get('message')}"))
    summary = payload.get("summary")
    if isinstance(summary, Mapping):
        facts += [
            ("Round", str(summary.get("roundId"))),
            ("Result", f"{summary.get('succeeded')} of {summary.get('total')} succeeded, "
                       f"{summary.get('failedCount')} failed, {summary.get('pending')} pending"),
        ]
    alert = payload.get("alert")
    if isinstance(alert, Mapping):
        facts += [(str(k), str(v)) for k, v in alert.items() if v is not None]
    return _facts(facts)


def render_card(card: Mapping[str, Any]) -> list[str]:
    """An Adaptive Card (as this app builds them) as plain text: title, facts, steps, advice."""
    lines: list[str] = []
    for element in card.get("body") or []:
        lines += _element(element)
    for action in card.get("actions") or []:
        if isinstance(action, Mapping) and action.get("type") == "Action.OpenUrl":
            lines.append(f"[{action.get('title')}] {action.get('url')}")
    return lines


def _element(element: Any, mark: str = "") -> list[str]:
    if not isinstance(element, Mapping):
        return []
    kind = element.get("type")
    if kind == "TextBlock":
        text = _plain(str(element.get("text", "")))
        if element.get("weight") == "Bolder" and element.get("size") == "Medium":
            text = f"{mark} {text}" if mark else text
        elif element.get("weight") == "Bolder":
            return ["", text]
        return textwrap.wrap(text, _WIDTH, subsequent_indent="  ") or [""]
    if kind == "FactSet":
        return _facts([(_plain(str(f.get("title", ""))), _plain(str(f.get("value", ""))))
                       for f in element.get("facts") or [] if isinstance(f, Mapping)])
    if kind == "Container":
        inner_mark = _STYLE_MARKS.get(str(element.get("style")), "")
        return [line for item in element.get("items") or [] for line in _element(item, inner_mark)]
    return []


def _facts(facts: Sequence[tuple[str, str]]) -> list[str]:
    if not facts:
        return []
    width = min(26, max(len(t) for t, _ in facts))
    lines = []
    for title, value in facts:
        wrapped = textwrap.wrap(value, _WIDTH - width - 4) or [""]
        lines.append(f"  {title:<{width}}  {wrapped[0]}")
        lines += [f"  {'':<{width}}  {more}" for more in wrapped[1:]]
    return lines


def _plain(text: str) -> str:
    return _ESCAPED.sub(r"\1", text).replace("\u200b", "")


def _rule(title: str) -> str:
    return f"── {title} " + "─" * max(3, _WIDTH - len(title) - 4)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ppbackup.receiver", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--secret", help="NOTIFY_WEBHOOK_SECRET, to check webhook signatures")
    args = parser.parse_args(argv)
    with running_receiver(secret=args.secret, port=args.port) as receiver:
        print(f"Receiving on {receiver.url}: TEAMS_WEBHOOK_URL={receiver.teams_url} "
              f"NOTIFY_WEBHOOK_URL={receiver.webhook_url}"
              + ("" if args.secret else f" (signatures not checked: no --secret; "
                 f"{SIGNATURE_HEADER} is ignored)") + ". Ctrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
