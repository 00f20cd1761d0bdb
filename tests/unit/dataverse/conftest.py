"""A Dataverse client over a scripted transport, with the platform client tests' fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from shared.dataverse import DataverseClient
from shared.power_platform import RetryPolicy
from tests.unit.power_platform.conftest import FakeTime, FakeTokens, Handler, Reply, Transport

INSTANCE = "https://contoso.crm4.dynamics.com/"
API = "https://contoso.api.crm4.dynamics.com"
ROOT = f"{API}/api/data/v9.2"
ACCOUNT = "0b9c5a1e-3f7d-4e2b-9a61-5d8c2e4f7a10"
CONTACT = "7d1f3e2a-9b8c-4d6e-a5f4-3c2b1a0e9d87"


@dataclass
class Harness:
    client: DataverseClient
    transport: Transport
    time: FakeTime
    tokens: FakeTokens

    @property
    def requests(self) -> list[httpx.Request]:
        return self.transport.requests


@pytest.fixture
def make() -> Callable[..., Harness]:
    """make(*replies, route=None, retry=RetryPolicy(), api=API) -> Harness."""

    def build(
        *script: Reply,
        route: Handler | None = None,
        retry: RetryPolicy | None = None,
        api: str = API,
        instance: str = INSTANCE,
    ) -> Harness:
        transport = Transport(script, route)
        fake_time = FakeTime()
        tokens = FakeTokens()
        client = DataverseClient(
            api,
            instance_url=instance,
            token_provider=tokens,
            http_client=httpx.Client(transport=httpx.MockTransport(transport)),
            retry=retry or RetryPolicy(),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            now=fake_time.now,
        )
        return Harness(client, transport, fake_time, tokens)

    return build
