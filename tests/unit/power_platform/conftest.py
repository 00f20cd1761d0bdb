"""Fakes for the client tests: a scripted transport, a fake clock and a fake token provider.

No test sleeps or touches the network: `sleep` advances the fake clock and records the delay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.power_platform import PowerPlatformClient, RetryPolicy

PP = "https://api.powerplatform.com"
BAP = "https://api.bap.microsoft.com"
ENV = "11111111-2222-3333-4444-555555555555"
SOURCE = "99999999-8888-7777-6666-555555555555"
NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)

Reply = httpx.Response | Exception
Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeTime:
    """A monotonic clock and a wall clock that only move when the client sleeps."""

    monotonic: float = 1000.0
    wall: datetime = NOW
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.monotonic

    def now(self) -> datetime:
        return self.wall

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += timedelta(seconds=seconds)


class FakeTokens:
    """Hands out token-0, then token-1 after each forced refresh; records every request."""

    client_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.generation = 0

    def get_token(self, scope: str, *, force_refresh: bool = False) -> str:
        self.calls.append((scope, force_refresh))
        if force_refresh:
            self.generation += 1
        return f"token-{self.generation}"


class Transport:
    """Answers from a script (in order) or a routing function; keeps every request it saw."""

    def __init__(self, script: Iterable[Reply] = (), route: Handler | None = None) -> None:
        self.script = list(script)
        self.route = route
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.route is not None:
            return self.route(request)
        if not self.script:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        reply = self.script.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


@dataclass
class Harness:
    client: PowerPlatformClient
    transport: Transport
    time: FakeTime
    tokens: FakeTokens

    @property
    def requests(self) -> list[httpx.Request]:
        return self.transport.requests


@pytest.fixture
def make() -> Callable[..., Harness]:
    """make(*replies, route=None, retry=RetryPolicy(), api=PP, bap=BAP) -> Harness."""

    def build(
        *script: Reply,
        route: Handler | None = None,
        retry: RetryPolicy | None = None,
        api: str = PP,
        bap: str = BAP,
        grace: float = 300.0,
    ) -> Harness:
        transport = Transport(script, route)
        fake_time = FakeTime()
        tokens = FakeTokens()
        client = PowerPlatformClient(
            api,
            bap,
            token_provider=tokens,
            http_client=httpx.Client(transport=httpx.MockTransport(transport)),
            retry=retry or RetryPolicy(),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            now=fake_time.now,
            not_visible_grace_seconds=grace,
        )
        return Harness(client, transport, fake_time, tokens)

    return build


def bap_environment(env_id: str = ENV, **props: object) -> dict[str, object]:
    """A BAP environment shaped like the reference's TF fixture (§3.1)."""
    properties: dict[str, object] = {
        "displayName": "Contoso Prod",
        "azureRegion": "westeurope",
        "isDefault": False,
        "environmentSku": "Production",
        "provisioningState": "Succeeded",
        "states": {"management": {"id": "Ready"}, "runtime": {"id": "Enabled"}},
        "linkedEnvironmentMetadata": {
            "instanceUrl": "https://contoso.crm4.dynamics.com/",
            "backgroundOperationsState": "Enabled",
        },
        "retentionPeriod": "P28D",
        "governanceConfiguration": {"protectionLevel": "Standard"},
        "lifecycleOperationsEnforcement": {
            "allowedOperations": [{"type": {"id": "Backup"}}, {"type": {"id": "Restore"}}],
            "disallowedOperations": [
                {
                    "type": {"id": "Promote"},
                    "reason": {"message": "Promote cannot be performed on Production."},
                }
            ],
        },
    }
    properties.update(props)
    return {
        "id": f"/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{env_id}",
        "name": env_id,
        "location": "europe",
        "properties": properties,
    }


def pp_operation(
    operation_id: str,
    *,
    name: str = "Restore",
    status: str = "InProgress",
    start: str = "2026-11-21T12:00:05Z",
    stages: tuple[str, ...] = (),
) -> dict[str, object]:
    return {
        "operationId": operation_id,
        "name": name,
        "status": status,
        "startTime": start,
        "stageStatuses": [{"name": f"stage{i}", "status": s} for i, s in enumerate(stages)],
    }
