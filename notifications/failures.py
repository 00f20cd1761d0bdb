"""Delivery problems noted on the operation they were about (`options["notifications"]`). Pure.

Only what a person needs to see why no card arrived: the event, the target, the HTTP status and a
short reason. Bounded, so a flapping receiver cannot grow a record towards the entity limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.operations import Operation, format_time

OPTION_KEY = "notifications"
MAX_RECORDED = 10
MAX_REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class DeliveryProblem:
    event: str
    event_id: str
    target: str
    reason: str
    at: datetime
    status: int | None = None

    def to_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "event": self.event,
            "eventId": self.event_id,
            "target": self.target,
            "reason": self.reason[:MAX_REASON_CHARS],
            "at": format_time(self.at),
        }
        if self.status is not None:
            entry["httpStatus"] = self.status
        return entry


def with_problems(operation: Operation, problems: Iterable[DeliveryProblem]) -> Operation | None:
    """`operation` with `problems` noted, or None when every one is noted already."""
    existing = [e for e in operation.options.get(OPTION_KEY) or () if isinstance(e, Mapping)]
    seen = {(e.get("eventId"), e.get("target")) for e in existing}
    new = []
    for p in problems:
        if (p.event_id, p.target) not in seen:
            seen.add((p.event_id, p.target))
            new.append(p.to_entry())
    if not new:
        return None
    merged = [dict(e) for e in existing + new][-MAX_RECORDED:]
    return replace(operation, options={**operation.options, OPTION_KEY: merged})
