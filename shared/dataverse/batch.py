"""The `$batch` envelope (multipart/mixed, OData 4.0), written and read (reference §6).

Pure: `encode_batch` turns requests and change sets into a body; `decode_batch` turns the
answer back into one `BatchResponse` per request, in order. Change-set members get Content-IDs
numbered from 1 across the whole batch, in order, so a later member can refer to an earlier one
as `$<n>` (in its URL or as an `@odata.bind` value).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_BATCH_REQUESTS = 1000
_CRLF = "\r\n"
_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS_LINE = re.compile(r"HTTP/\d(?:\.\d)?\s+(\d{3})")
_RELATIVE = re.compile(r"(?:\$\d+|[A-Za-z_][A-Za-z0-9_.]*)(?:[(/?].*)?")


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request of a batch; `url` is relative to the Web API root (`accounts(<id>)`) or a
    `$<n>` reference to an earlier change-set member."""

    method: str
    url: str
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in _WRITE_METHODS | {"GET"}:
            raise ValueError(
                f"batch method must be GET, POST, PATCH, PUT or DELETE; got {self.method!r}"
            )
        if _RELATIVE.fullmatch(self.url) is None or any(c in self.url for c in "\r\n "):
            raise ValueError(
                f"batch url must be relative to the Web API root; got {self.url!r:.80}"
            )


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Writes applied all or nothing: one failing member rolls the others back."""

    requests: tuple[BatchRequest, ...]

    def __post_init__(self) -> None:
        if not self.requests:
            raise ValueError("a change set needs at least one request")
        if any(r.method == "GET" for r in self.requests):
            raise ValueError("a change set holds writes only (no GET)")


BatchItem = BatchRequest | ChangeSet


@dataclass(frozen=True, slots=True)
class BatchResponse:
    status: int
    headers: Mapping[str, str]
    body: Any
    content_id: str | None
    request_id: str | None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body as text (JSON written back), for the error mapping and its messages."""
        if self.body is None:
            return ""
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


def count_requests(items: Sequence[BatchItem]) -> int:
    return sum(len(i.requests) if isinstance(i, ChangeSet) else 1 for i in items)


def encode_batch(
    items: Sequence[BatchItem], *, api_path: str, boundary: str | None = None
) -> tuple[str, bytes]:
    """(Content-Type, body) of a `$batch` request; `api_path` is `/api/data/v9.2`."""
    total = count_requests(items)
    if not 1 <= total <= MAX_BATCH_REQUESTS:
        raise ValueError(f"a batch holds 1..{MAX_BATCH_REQUESTS} requests; got {total}")
    batch = boundary or f"batch_{uuid.uuid4()}"
    lines: list[str] = []
    content_id = 0
    for item in items:
        lines.append(f"--{batch}")
        if isinstance(item, ChangeSet):
            changeset = f"changeset_{uuid.uuid4()}"
            lines += [f'Content-Type: multipart/mixed; boundary="{changeset}"', ""]
            for request in item.requests:
                content_id += 1
                lines.append(f"--{changeset}")
                lines += _part(request, api_path, content_id)
            lines.append(f"--{changeset}--")
        else:
            lines += _part(item, api_path, None)
    lines += [f"--{batch}--", ""]
    return f'multipart/mixed; boundary="{batch}"', _CRLF.join(lines).encode("utf-8")


def _part(request: BatchRequest, api_path: str, content_id: int | None) -> list[str]:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    url = request.url if request.url.startswith("$") else f"{api_path.rstrip('/')}/{request.url}"
    lines += ["", f"{request.method} {url} HTTP/1.1"]
    headers = dict(request.headers)
    if request.body is not None:
        headers.setdefault("Content-Type", "application/json; type=entry")
    for name, value in headers.items():
        if any(c in name + value for c in "\r\n"):
            raise ValueError("batch headers must not contain line breaks")
        lines.append(f"{name}: {value}")
    lines.append("")
    lines.append(json.dumps(request.body, ensure_ascii=False) if request.body is not None else "")
    return lines


def boundary_of(content_type: str) -> str | None:
    match = _BOUNDARY.search(content_type)
    return match.group(1).strip() if match else None


def decode_batch(content_type: str, body: bytes | str) -> list[BatchResponse]:
    """The responses of a multipart `$batch` answer, change sets flattened, in request order."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise ValueError("the batch answer is not multipart (no boundary)")
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    responses: list[BatchResponse] = []
    for headers, content in _parts(text, boundary):
        inner = boundary_of(headers.get("content-type", ""))
        if inner is not None:
            for sub_headers, sub_content in _parts(content, inner):
                responses.append(_response(sub_headers, sub_content))
        else:
            responses.append(_response(headers, content))
    return responses


def _parts(text: str, boundary: str) -> list[tuple[dict[str, str], str]]:
    text = text.replace("\r\n", "\n")
    delimiter = f"--{boundary}"
    end = text.find(f"{delimiter}--")
    if end < 0:
        raise ValueError(f"the multipart body does not end with --{boundary}--")
    chunks = text[:end].split(f"{delimiter}\n")[1:]
    return [_split_head(chunk.removesuffix("\n")) for chunk in chunks]


def _split_head(chunk: str) -> tuple[dict[str, str], str]:
    head, _, rest = chunk.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _response(part_headers: Mapping[str, str], content: str) -> BatchResponse:
    status_line, _, rest = content.partition("\n")
    match = _STATUS_LINE.match(status_line.strip())
    if match is None:
        raise ValueError(f"a batch part has no HTTP status line: {status_line[:80]!r}")
    headers, body_text = _split_head(rest)
    body_text = body_text.strip()
    body: Any = None
    if body_text:
        try:
            body = json.loads(body_text)
        except ValueError:
            body = body_text
    request_id = (
        headers.get("req_id")
        or headers.get("x-ms-service-request-id")
        or part_headers.get("req_id")
    )
    return BatchResponse(
        status=int(match.group(1)),
        headers=headers,
        body=body,
        content_id=part_headers.get("content-id") or headers.get("content-id"),
        request_id=request_id,
    )
