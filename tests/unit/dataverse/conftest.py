"""A Dataverse client over a scripted transport, with the platform client tests' fakes."""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

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


def parse_request(content_type: str, body: bytes) -> Message:
    """The batch as an independent MIME parser reads it (not our decoder)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    return email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)


def inner_request(part: Message) -> tuple[str, dict[str, str], str]:
    """(request line, headers, body) of one application/http part."""
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode().replace("\r\n", "\n")
    head, _, body = text.partition("\n\n")
    line, *header_lines = head.split("\n")
    headers = dict(h.split(": ", 1) for h in header_lines)
    return line, headers, body.strip()


@dataclass(frozen=True)
class Part:
    """One inner request of a batch the server received, as a MIME parser read it."""

    method: str
    url: str  # as sent: path and encoded query
    headers: dict[str, str]
    body: str


# What the server answers to one part: (status, headers, JSON body or None).
PartAnswer = tuple[int, dict[str, str], Any]


@dataclass
class BatchServer:
    """A `$batch` endpoint over a function answering each part (continue-on-error); keeps every
    batch it received, parsed with the standard MIME parser, and its `Prefer` header."""

    answer: Callable[[Part], PartAnswer]
    batches: list[list[Part]] = field(default_factory=list)
    prefers: list[str | None] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/api/data/v9.2/$batch")
        message = parse_request(request.headers["Content-Type"], request.content)
        parts: list[Part] = []
        for item in message.get_payload():
            assert isinstance(item, Message)
            line, headers, body = inner_request(item)
            method, url, _ = line.split(" ")
            parts.append(Part(method, url, headers, body))
        self.batches.append(parts)
        self.prefers.append(request.headers.get("Prefer"))
        return batch_answer([self.answer(p) for p in parts])


def batch_answer(answers: list[PartAnswer], status: int = 200) -> httpx.Response:
    """A multipart `$batch` answer holding these parts, in order."""
    chunks: list[str] = []
    for part_status, headers, body in answers:
        lines = ["--batchresponse_t1", "Content-Type: application/http",
                 "Content-Transfer-Encoding: binary", "", f"HTTP/1.1 {part_status} X"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append("Content-Type: application/json; odata.metadata=minimal")
        lines += ["", json.dumps(body) if body is not None else ""]
        chunks.append("\r\n".join(lines))
    text = "\r\n".join([*chunks, "--batchresponse_t1--", ""])
    return httpx.Response(
        status, text=text, headers={"Content-Type": 'multipart/mixed; boundary="batchresponse_t1"'}
    )


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
