"""Hostile requests and messages through the local Functions host (`ppbackup/host`) running the
real function app on Azurite: raw URLs (percent-encoded paths and queries the host decodes),
bodies, and intake messages the host's queue listener delivers with its retry and poison rules.

The properties: every HTTP answer is a decision (no 500); every intake message is consumed
without a retry, so nothing reaches a poison queue; the host keeps serving, and a valid request
afterwards succeeds through both doors.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.queue import QueueServiceClient
from hypothesis import given
from hypothesis import strategies as st

from ppbackup.app_host import HOST_JSON
from ppbackup.host import LocalHost
from shared.queue_names import (
    BACKUP_REQUESTS,
    DATA_BACKUP_REQUESTS,
    DATA_RESTORE_REQUESTS,
    RESTORE_REQUESTS,
    poison_queue,
)
from shared.runtime import AppContext
from shared.storage.connection import queue_service
from tests.fuzz import hostile
from tests.fuzz.budget import counted, fuzz

T = TypeVar("T")
INTAKE = (BACKUP_REQUESTS, RESTORE_REQUESTS, DATA_BACKUP_REQUESTS, DATA_RESTORE_REQUESTS)
TIMERS = ("backup_timer", "restore_watchdog", "notification_alerts", "data_backup_timer")


@contextmanager
def running_host(storage: str, tmp_path: Path) -> Iterator[httpx.Client]:
    import function_app

    config: dict[str, Any] = json.loads(HOST_JSON.read_text())
    # As deployed, but an unexpected failure is retried at once: a message that would be
    # poisoned gets there within the test instead of after five 10-second waits.
    config["extensions"]["queues"]["visibilityTimeout"] = "00:00:00"
    config["extensions"]["queues"]["maxPollingInterval"] = "00:00:00.200"
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps(config))
    with LocalHost(
        function_app.app, storage_connection=storage, host_json=host_json, http_port=0,
        environ={f"AzureWebJobs.{name}.Disabled": "true" for name in TIMERS},
    ) as running, httpx.Client(base_url=running.http_url, timeout=30) as client:
        yield client
        drained_without_poison(storage, running)
        still_serves(client, storage)


def message_count(storage: str, queue: str) -> int:
    try:
        properties = queue_service(storage).get_queue_client(queue).get_queue_properties()
    except ResourceNotFoundError:
        return 0
    return int(properties.approximate_message_count or 0)


def wait_until(condition: Any, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def drained_without_poison(storage: str, host: LocalHost) -> None:
    assert wait_until(lambda: all(message_count(storage, q) == 0 for q in INTAKE)), (
        "the intake queues did not drain"
    )
    for queue in INTAKE:
        # Counted by the host: a poisoned intake message no longer stays on its poison queue (its
        # own trigger takes it), so an empty poison queue would prove nothing.
        assert host.queue_counters(queue).poisoned == 0, f"{queue}: a poisoned message"
        assert message_count(storage, poison_queue(queue)) == 0, f"{queue}: a poisoned message"


def still_serves(client: httpx.Client, storage: str) -> None:
    answer = client.post("/api/backups", json={"environmentId": hostile.ENV, "label": "after"})
    assert answer.status_code == 202, answer.text
    operation_id = answer.json()["operationId"]
    assert client.get(f"/api/operations/{operation_id}").status_code == 200
    queue_service(storage).get_queue_client(RESTORE_REQUESTS).send_message(json.dumps(
        {"targetEnvironmentId": hostile.OTHER_ENV, "latest": True, "dryRun": True,
         "requestId": "after-the-fuzz"}
    ))

    def admitted() -> bool:
        listing = client.get("/api/operations", params={"kind": "restore", "limit": "200"})
        return any(op.get("requestId") == "after-the-fuzz" for op in listing.json()["operations"])

    assert wait_until(admitted), "a valid restore request after the fuzz was not admitted"


def decided(answer: httpx.Response, allowed: set[int]) -> None:
    assert answer.status_code in allowed, (answer.status_code, answer.text[:300])
    assert "Traceback" not in answer.text
    if answer.status_code >= 400 and answer.headers.get("content-type", "").startswith(
        "application/json"
    ):
        error = answer.json()["error"]
        assert error["code"] and error["message"]


def _segment(draw: st.DrawFn) -> str:
    text: str = draw(hostile.path_segments)
    # What a client can put in a URL: percent-encoded UTF-8 (lone surrogates as raw bytes).
    # Cut to what a client sends (httpx refuses URLs past 64 KiB); a cut may split a %XX escape,
    # which is one more malformed input.
    return quote(text.encode("utf-8", "surrogatepass"), safe="")[:3000] or "x"


segments = st.composite(_segment)()
routes = st.sampled_from([
    ("GET", "operations/{}"), ("POST", "operations/{}/cancel"), ("PATCH", "operations/{}"),
    ("GET", "environments/{}/backups"), ("DELETE", "environments/{}/backups/{}"),
    ("GET", "operations"), ("POST", "backups"), ("POST", "restores"),
    # The status page's routes: its JSON views (keyed, and anonymous under ui/data) and assets.
    ("GET", "operations/{}/next-steps"), ("GET", "ui/data/operations/{}"),
    ("GET", "ui/data/operations"), ("GET", "ui/data/operations/{}/next-steps"),
    ("GET", "ui/assets/{}"), ("GET", "ui"), ("GET", "environments"), ("GET", "alerts"),
    ("GET", "active-operations"), ("POST", "data-backups"), ("GET", "data-backups"),
    ("GET", "records/{}/account/{}"), ("GET", "records/{}/{}/" + hostile.ENV),
    ("POST", "data-restores"),
])
http_bodies = hostile.bodies(hostile.RESTORE_FIELDS, hostile.restore_objects())


http_cases = st.tuples(
    routes, segments, segments, st.binary(max_size=0) | http_bodies.map(lambda h: h.value),
    st.lists(st.tuples(segments, segments), max_size=4),
)
queue_cases = st.tuples(st.sampled_from(INTAKE), http_bodies, st.booleans())


def generated(strategy: st.SearchStrategy[T], surface: str) -> list[T]:
    """Inputs drawn before the host starts: its threads use `random` (retry jitter), which
    Hypothesis must not see change while it draws."""
    found: list[T] = []

    @fuzz(surface)
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    return found


def test_the_host_decides_every_request_and_message(
    ctx: AppContext, storage: str, tmp_path: Path
) -> None:
    requests = generated(http_cases, "local host: HTTP requests")
    messages = generated(queue_cases, "local host: intake messages")
    with running_host(storage, tmp_path) as client:
        intake = queue_service(storage)
        for queue, sent, b64 in messages:
            counted("local host: intake messages")
            send(intake, queue, hostile.as_queue_message(sent.value, b64))
        for (method, template), first, second, body, query in requests:
            counted("local host: HTTP requests")
            path = "/api/" + template.format(first, second)
            url = path + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
            # Sent as JSON, as the local host requires of a body: the hostile bytes reach the app.
            answer = client.request(method, url, content=body if method != "GET" else None,
                                    headers={"Content-Type": "application/json"})
            decided(answer, {200, 202, 400, 404, 405, 409, 413, 502})


def send(service: QueueServiceClient, queue: str, raw: bytes) -> None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = hostile.as_queue_message(raw, True).decode("ascii")
    # The service may refuse the text itself (past 64 KiB, say): then it never reaches the app.
    with contextlib.suppress(HttpResponseError):
        service.get_queue_client(queue).send_message(text)
