"""Collects every platform call made inside a block, for the operation history.

The recorder lives in a ContextVar: each thread (and each asyncio task) sees only the blocks it
opened itself, so concurrent handlers sharing one client never mix their calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlatformCall:
    """One HTTP exchange (retries and failures included). `path` never has a query string."""

    method: str
    path: str
    status: int | None
    request_id: str | None
    duration_ms: float

    def to_log_entry(self) -> dict[str, object]:
        """The shape of one row of the history's platform call log."""
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "requestId": self.request_id,
            "durationMs": round(self.duration_ms, 1),
        }


# A tuple, so nested blocks each get every call and opening a block never mutates an outer one.
_active: ContextVar[tuple[list[PlatformCall], ...]] = ContextVar("pp_call_recorders", default=())


@contextmanager
def recording_calls() -> Iterator[list[PlatformCall]]:
    """`with recording_calls() as calls:` -> `calls` gets a PlatformCall per HTTP exchange."""
    calls: list[PlatformCall] = []
    token = _active.set((*_active.get(), calls))
    try:
        yield calls
    finally:
        _active.reset(token)


def record_call(call: PlatformCall) -> None:
    for calls in _active.get():
        calls.append(call)
