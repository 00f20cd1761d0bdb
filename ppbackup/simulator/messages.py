"""Transport-neutral request/response values passed between the HTTP server and the handlers,
so routing and rules can be exercised without sockets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from ppbackup.simulator.errors import bad_request


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query_string: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    query: dict[str, list[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.query = parse_qs(self.query_string, keep_blank_values=True)

    def param(self, name: str, *, ignore_case: bool = False) -> str | None:
        if ignore_case:
            for key, values in self.query.items():
                if key.lower() == name.lower():
                    return values[-1]
            return None
        found = self.query.get(name)
        return found[-1] if found else None

    def json(self) -> Any:
        if not self.body.strip():
            raise bad_request("InvalidRequestBody", "A JSON request body is required.")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request("InvalidRequestBody", f"The body is not valid JSON: {exc}.") from exc


@dataclass(slots=True)
class Response:
    status: int
    body: Any = None
    """JSON-able value, or None for an empty body."""
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None
    """Exact bytes to send instead of `body` (e.g. an empty 409)."""

    def encoded(self) -> bytes:
        if self.raw_body is not None:
            return self.raw_body
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()
