"""Reading history the way the HTTP API and the CLI present it (contract sections 4-6)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import OperationNotFound, RequestInvalid
from shared.inputs import is_guid, parse_request_id, quote
from shared.operations import OperationKind, operation_id_instant
from shared.runtime import AppContext

if TYPE_CHECKING:
    from shared.storage.history import StoredOperation

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_LIMIT = re.compile(r"[0-9]{1,4}")
_QUERY_FIELDS = frozenset(
    {"environmentId", "kind", "limit", "continuationToken", "requestId", "code"}
)


@dataclass(frozen=True, slots=True)
class ListingQuery:
    environment_id: str | None = None
    kind: OperationKind | None = None
    limit: int = DEFAULT_LIMIT
    continuation: str | None = None
    request_id: str | None = None


def parse_listing_query(params: Mapping[str, str]) -> ListingQuery:
    problems: dict[str, str] = {}
    # `code` is the function key Azure passes along in the query string; it is not ours to judge.
    for name in sorted(set(params) - _QUERY_FIELDS)[:5]:
        problems[quote(name)[1:-1]] = (
            "unknown query parameter; use environmentId, kind, limit, continuationToken, requestId"
        )
    environment_id = (params.get("environmentId") or "").strip() or None
    if environment_id is not None and not is_guid(environment_id):
        problems["environmentId"] = "must be an environment id (GUID)"
    kind: OperationKind | None = None
    raw_kind = (params.get("kind") or "").strip().lower() or None
    if raw_kind is not None:
        try:
            kind = OperationKind(raw_kind)
        except ValueError:
            problems["kind"] = f"must be one of {', '.join(k.value for k in OperationKind)}"
    limit = DEFAULT_LIMIT
    raw_limit = params.get("limit")
    if raw_limit:
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        if not _LIMIT.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= MAX_LIMIT:
            problems["limit"] = f"must be a whole number from 1 to {MAX_LIMIT}"
        else:
            limit = int(raw_limit)
    request_id: str | None = None
    if params.get("requestId") is not None:
        try:
            request_id = parse_request_id(params["requestId"])
        except ValueError as error:
            problems["requestId"] = str(error)
    if problems:
        # Each problem in the message too: the CLI prints the message, not the fields.
        summary = "; ".join(f"{name}: {problem}" for name, problem in problems.items())
        raise RequestInvalid("InvalidQuery", f"The history query is invalid: {summary}",
                             problems)
    return ListingQuery(
        environment_id=environment_id.lower() if environment_id else None,
        kind=kind,
        limit=limit,
        continuation=(params.get("continuationToken") or None),
        request_id=request_id,
    )


def get_record(ctx: AppContext, operation_id: str) -> dict[str, Any]:
    try:
        operation_id_instant(operation_id)
    except ValueError as error:
        raise OperationNotFound(f"No operation has the id {quote(operation_id)}.") from error
    return ctx.history.get(operation_id).operation.to_record()


def list_records(ctx: AppContext, query: ListingQuery) -> dict[str, Any]:
    if query.request_id is not None:
        return {"operations": _by_request_id(ctx, query), "continuationToken": None}
    try:
        page = ctx.history.list(
            environment_id=query.environment_id,
            kind=query.kind,
            limit=query.limit,
            continuation=query.continuation,
        )
    except ValueError as error:
        raise RequestInvalid(
            "InvalidQuery", str(error), {"continuationToken": "is not a token this API issued"}
        ) from error
    return {
        "operations": [op.to_record() for op in page.items],
        "continuationToken": page.continuation,
    }


def _by_request_id(ctx: AppContext, query: ListingQuery) -> list[dict[str, Any]]:
    """The operations admitted under a requestId (one per kind at most; a rejected request is
    kept under its id too), by point reads of the idempotency claims."""
    from shared.intake import request_key

    kinds = [query.kind] if query.kind else list(OperationKind)
    found = []
    for kind in kinds:
        key = request_key(kind, query.request_id)
        stored = find_request(ctx, key) if key else None
        if stored is None:
            continue
        operation = stored.operation
        if query.environment_id in (None, operation.environment_id):
            found.append(operation)
    found.sort(key=lambda op: op.created_at, reverse=True)
    return [op.to_record() for op in found[: query.limit]]


def find_request(ctx: AppContext, key: str) -> StoredOperation | None:
    """The operation admitted under idempotency key `key`, if any (a read; claims nothing)."""
    from shared.storage.claims import claims_for

    owner = claims_for(ctx).owner(key)
    if owner is None:
        return None
    try:
        return ctx.history.get(owner)
    except OperationNotFound:
        return None  # claimed by an intake that died before creating it (its retry will)
