"""The platform call log: every Power Platform request an operation made, `{prefix}OperationCalls`.

The record keeps only the newest request ids per step (MAX_REQUEST_IDS_PER_STEP); a restore that
polls for a day makes thousands of calls, and they all land here.

One row holds the calls of one invocation, every step's (up to CALLS_PER_ROW of them, as a JSON
list in `calls`, split over properties as needed), so an invocation's log is one plain upsert: a
row per call took an entity group transaction per step, whose multipart body cost the SDK about
a quarter of a restore step's CPU (bench/restore_engine_bench.py). Rows written before that hold
one call each, in columns; both are read.

PartitionKey = operation id, RowKey = `<first call's step>-<its time, epoch microseconds, 16
digits>-<digest>`. The digest covers the row's calls and its position in the appended batch, so
the same batch appended twice (a queue message delivered twice) writes the same rows again
instead of duplicating them.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.data.tables import UpdateMode

from shared.operations import format_time, parse_time
from shared.storage.entities import check_entity, from_table_time, join_string, plain, split_string
from shared.storage.keys import validate_operation_id

if TYPE_CHECKING:
    from azure.data.tables import TableClient

# Worst case (every path and request id at its cut length) a row stays well under 1 MiB.
CALLS_PER_ROW = 100
CALL_FIELDS = ("method", "path", "status", "requestId", "durationMs", "at")
# A log line must never fail the step it describes, so long values are cut rather than refused.
MAX_PATH_CHARS = 2048
MAX_REQUEST_ID_CHARS = 256
_STEP = re.compile(r"[A-Za-z0-9_.]{1,64}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CallLog:
    def __init__(self, table: Callable[[], TableClient], clock: Callable[[], datetime]) -> None:
        self._table = table
        self._clock = clock

    def append(
        self, operation_id: str, calls_by_step: Mapping[str, Sequence[Mapping[str, Any]]]
    ) -> None:
        """Log one invocation's calls, by the step that made them."""
        validate_operation_id(operation_id)
        now = self._clock()
        checked = [  # every call, before anything is written
            _call(_checked_step(step), call, now)
            for step, calls in calls_by_step.items()
            for call in calls
        ]
        for index in range(0, len(checked), CALLS_PER_ROW):
            row = _row(operation_id, index, checked[index : index + CALLS_PER_ROW])
            self._table().upsert_entity(row, mode=UpdateMode.REPLACE)

    def list(self, operation_id: str) -> builtins.list[dict[str, Any]]:
        """JSON-ready calls, oldest first: step, method, path, status, requestId, durationMs, at."""
        rows = self._table().query_entities(
            "PartitionKey eq @pk", parameters={"pk": validate_operation_id(operation_id)}
        )
        calls: builtins.list[tuple[datetime, str, int, dict[str, Any]]] = []
        for row in rows:
            key, step = str(row["RowKey"]), row.get("step")
            if "calls" in row:
                for index, call in enumerate(json.loads(join_string(row, "calls"))):
                    at = parse_time(call.get("at"))
                    calls.append((at or _EPOCH, key, index, call))
            else:  # a row of the older layout: one call, in columns
                at = from_table_time(row.get("at"))
                calls.append(
                    (
                        at or _EPOCH,
                        key,
                        0,
                        {
                            "step": step,
                            "method": row.get("method"),
                            "path": row.get("path"),
                            "status": plain(row.get("status")),
                            "requestId": row.get("requestId"),
                            "durationMs": plain(row.get("durationMs")),
                            "at": format_time(at),
                        },
                    )
                )
        calls.sort(key=lambda c: c[:3])
        return [c[3] for c in calls]


def _checked_step(step: str) -> str:
    if not isinstance(step, str) or not _STEP.fullmatch(step):
        raise ValueError(f"step name {step!r} must be 1-64 letters, digits, '_' or '.'")
    return step


def _call(step: str, call: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The call as it is stored: checked, long values cut, its time in the record's format."""
    unknown = sorted(set(call) - set(CALL_FIELDS))
    if unknown:
        raise ValueError(f"unknown call field(s) {unknown}; expected {list(CALL_FIELDS)}")
    method, path = call.get("method"), call.get("path")
    if not isinstance(method, str) or not method or not isinstance(path, str) or not path:
        raise ValueError("a call needs a non-empty 'method' and 'path'")
    status = call.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        raise ValueError(f"call status must be an int or None, got {status!r}")
    request_id = call.get("requestId")
    duration = call.get("durationMs")
    return {
        "step": step,
        "method": method.upper(),
        "path": path[:MAX_PATH_CHARS],
        "status": status,
        "requestId": None if request_id is None else str(request_id)[:MAX_REQUEST_ID_CHARS],
        "durationMs": None if duration is None else round(float(duration)),
        "at": format_time(parse_time(call.get("at")) or now),
    }


def _row(operation_id: str, index: int, calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    step = calls[0]["step"]
    # ASCII escapes: a lone surrogate in a path must not fail the write (it cannot be UTF-8).
    text = json.dumps(calls, separators=(",", ":"))
    first = parse_time(calls[0]["at"]) or _EPOCH
    micros = (first - _EPOCH) // timedelta(microseconds=1)
    digest = hashlib.sha256(f"{index}:{text}".encode("ascii")).hexdigest()[:12]
    row = {
        "PartitionKey": operation_id,
        "RowKey": f"{step}-{micros:016d}-{digest}",
        "step": step,
        "count": len(calls),
        **split_string("calls", text),
    }
    check_entity(row, what=f"call log row of {operation_id}")
    return row
