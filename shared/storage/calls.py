"""The platform call log: every Power Platform request an operation made, `{prefix}OperationCalls`.

The record keeps only the newest request ids per step (MAX_REQUEST_IDS_PER_STEP); a restore that
polls for a day makes thousands of calls, and they all land here, one small row each.

PartitionKey = operation id, RowKey = `<step>-<call time, epoch microseconds, 16 digits>-<digest>`.
The digest covers the call and its position in the appended batch, so the same batch appended
twice (a queue message delivered twice) writes the same rows again instead of duplicating them.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.operations import format_time, parse_time
from shared.storage.entities import check_entity, from_table_time, int_property, plain
from shared.storage.keys import validate_operation_id
from shared.storage.tables import upsert_batches

if TYPE_CHECKING:
    from azure.data.tables import TableClient

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

    def append(self, operation_id: str, step: str, calls: Sequence[Mapping[str, Any]]) -> None:
        validate_operation_id(operation_id)
        if not isinstance(step, str) or not _STEP.fullmatch(step):
            raise ValueError(f"step name {step!r} must be 1-64 letters, digits, '_' or '.'")
        now = self._clock()
        entities = [
            _entity(operation_id, step, index, call, now) for index, call in enumerate(calls)
        ]
        if entities:
            upsert_batches(self._table(), entities)

    def list(self, operation_id: str) -> builtins.list[dict[str, Any]]:
        """JSON-ready calls, oldest first: step, method, path, status, requestId, durationMs, at."""
        rows = self._table().query_entities(
            "PartitionKey eq @pk", parameters={"pk": validate_operation_id(operation_id)}
        )
        calls = []
        for row in rows:
            at = from_table_time(row.get("at"))
            calls.append(
                (
                    at,
                    str(row["RowKey"]),
                    {
                        "step": row.get("step"),
                        "method": row.get("method"),
                        "path": row.get("path"),
                        "status": plain(row.get("status")),
                        "requestId": row.get("requestId"),
                        "durationMs": plain(row.get("durationMs")),
                        "at": format_time(at),
                    },
                )
            )
        calls.sort(key=lambda c: (c[0] or _EPOCH, c[1]))
        return [c[2] for c in calls]


def _entity(
    operation_id: str, step: str, index: int, call: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    unknown = sorted(set(call) - set(CALL_FIELDS))
    if unknown:
        raise ValueError(f"unknown call field(s) {unknown}; expected {list(CALL_FIELDS)}")
    method, path = call.get("method"), call.get("path")
    if not isinstance(method, str) or not method or not isinstance(path, str) or not path:
        raise ValueError("a call needs a non-empty 'method' and 'path'")
    at = parse_time(call.get("at")) or now
    status = call.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        raise ValueError(f"call status must be an int or None, got {status!r}")
    request_id = call.get("requestId")
    duration = call.get("durationMs")
    values: dict[str, Any] = {
        "step": step,
        "method": method.upper(),
        "path": path[:MAX_PATH_CHARS],
        "status": status,
        "requestId": None if request_id is None else str(request_id)[:MAX_REQUEST_ID_CHARS],
        "durationMs": None if duration is None else int_property(round(float(duration))),
        "at": at.astimezone(UTC),
    }
    micros = (values["at"] - _EPOCH) // timedelta(microseconds=1)
    digest_source = json.dumps(
        [index, {k: plain(v) for k, v in values.items() if k != "at"}, micros], default=str
    )
    digest = hashlib.sha256(digest_source.encode("utf-8")).hexdigest()[:12]
    entity = {
        "PartitionKey": operation_id,
        "RowKey": f"{step}-{micros:016d}-{digest}",
        **{k: v for k, v in values.items() if v is not None},
    }
    check_entity(entity, what=f"call log row of {operation_id}")
    return entity
