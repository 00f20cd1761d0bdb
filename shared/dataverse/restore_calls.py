"""The Dataverse calls of a record restore: look rows up by id, ask the recycle bin, restore
deleted rows, and send a batch of conditional writes (reference §5.3, §6, §8; the design is
docs/record-restore.md).

Every call here is a `$batch` of many inner requests, because service protection counts and
times every inner request (6,000 per 5 minutes, 20 minutes of execution, per user and server;
reference §7.1) while one `$batch` is one round trip and one HTTP connection: a plan step that
looked up 5,000 ids one GET each would spend 5,000 requests, a `$filter` of 50 ids per GET and
100 GETs per batch spends 100 and one round trip. A 429 on a whole batch raises `Throttled`
with its `retry_after` at once (the client never waits it out: the caller reschedules its step).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from shared.dataverse.batch import MAX_BATCH_REQUESTS, BatchRequest, BatchResponse
from shared.dataverse.client import DataverseClient, check_name
from shared.dataverse.pages import LOOKUP_ANNOTATIONS, clean_row
from shared.errors import OutcomeUnknown, PowerPlatformError
from shared.inputs import parse_guid
from shared.power_platform._errors import parse_error_body

logger = logging.getLogger(__name__)

# Ids per `$filter` disjunction. A GET inside `$batch` may be 64 KB long (reference §3.1); an id
# costs ~60 encoded characters (`%20or%20accountid%20eq%20<guid>`), so 500 stays far under it.
IDS_PER_FILTER = 50
MAX_IDS_PER_FILTER = 500
# Ids per recycle-bin FetchXML `in` condition (~65 encoded characters an id: ~6.5 KB a GET).
IDS_PER_FETCH = 100
# Restore messages per `$batch`: each one re-creates a row with its plug-ins and audit, so a
# batch of 100 ends well inside the 2-minute request timeout, and a 429 or a lost answer costs
# 100 messages, not 1,000.
RESTORES_PER_BATCH = 100
# The platform's answers to a bin query for a table that has no recycle bin (not enabled for
# the environment or not supported for the table, reference §8): nothing of it is in the bin.
_NO_BIN_STATUSES = frozenset({400, 404})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PartOutcome:
    """What one request of a batch answered: its status and request id, and for a failure the
    platform's code and message from the part's error body (the code may be empty in
    Dataverse's answers, then None) and the part's own Retry-After."""

    status: int
    error_code: str | None = None
    message: str | None = None
    request_id: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class WriteOutcome(PartOutcome):
    """One write's outcome, with the row's new ETag when the part names it."""

    etag: str | None = None


@dataclass(frozen=True, slots=True)
class RestoreOutcome(PartOutcome):
    """The platform's `Restore` of one deleted row: restored (`ok`), or its code and message
    (not in the bin `0x80049959`, a duplicate `0x80044a02` / `0x80049929`, ...)."""


def rows_by_ids(
    client: DataverseClient,
    entity_set: str,
    id_column: str,
    ids: Iterable[str],
    *,
    per_request: int = IDS_PER_FILTER,
) -> dict[str, Mapping[str, Any]]:
    """The rows of `entity_set` with these ids, now: lower-case id -> row as the paged read
    returns it (`@odata.etag`, the lookup annotations; no formatted values). Ids not in the
    table are absent from the result.

    One GET of `per_request` ids per part (`<id_column> eq <g1> or <id_column> eq <g2> ...`),
    up to 1,000 parts per `$batch`, more batches for more ids: a plan step's 5,000 ids cost 100
    inner requests in one round trip. A failed part raises its mapped error (NotFound,
    Forbidden, Throttled, ...); a 429 on the whole batch raises Throttled.
    """
    check_name(entity_set, "entity set name")
    check_name(id_column, "id column")
    if isinstance(per_request, bool) or not 1 <= per_request <= MAX_IDS_PER_FILTER:
        raise ValueError(f"per_request must be 1..{MAX_IDS_PER_FILTER}; got {per_request!r}")
    wanted = _guids(ids)
    found: dict[str, Mapping[str, Any]] = {}
    headers = {"Accept": "application/json", "Prefer": LOOKUP_ANNOTATIONS}
    requests = [
        BatchRequest(
            "GET",
            f"{entity_set}?$filter="
            + _encoded(" or ".join(f"{id_column} eq {g}" for g in group)),
            headers=headers,
        )
        for group in _chunks(wanted, per_request)
    ]
    for batch in _chunks(requests, MAX_BATCH_REQUESTS):
        # continue-on-error: every part answers, so a failure is named with its own request.
        responses = client.batch(batch, continue_on_error=True)
        for request, response in _answered(client, batch, responses):
            if not response.ok:
                raise client.part_error(request, response)
            for row in _values(request, response):
                row_id = row.get(id_column)
                if not isinstance(row_id, str):
                    raise PowerPlatformError(
                        f"GET {entity_set} answered a row without its id column {id_column!r}",
                        status=response.status,
                        request_id=response.request_id,
                    )
                if row_id.lower() in wanted:
                    found[row_id.lower()] = clean_row(row)
    return found


def in_recycle_bin(
    client: DataverseClient, entity_set: str, table: str, id_column: str, ids: Iterable[str]
) -> set[str]:
    """Which of these ids (lower-case) the environment's recycle bin holds for `table`.

    The bin is read with FetchXML only (`<fetch datasource="bin">`, reference §8), one GET of
    up to 100 ids per part of one `$batch`. A table the environment keeps no deleted rows for
    answers an error to that query (the bin is off, or the table is not supported): those 400
    and 404 answers mean "none in the bin" and are logged, not raised, so a restore falls back
    to writing the row from the backup. Other failures raise their mapped error.
    """
    return set(_bin_read(client, entity_set, table, id_column, ids, every_column=False))


def bin_rows(
    client: DataverseClient, entity_set: str, table: str, id_column: str, ids: Iterable[str]
) -> dict[str, Mapping[str, Any]]:
    """The rows the recycle bin holds for these ids, every column as it was when deleted
    (lower-case id -> row as a read renders it); read like `in_recycle_bin`."""
    return _bin_read(client, entity_set, table, id_column, ids, every_column=True)


def _bin_read(
    client: DataverseClient, entity_set: str, table: str, id_column: str, ids: Iterable[str],
    *, every_column: bool,
) -> dict[str, Mapping[str, Any]]:
    check_name(entity_set, "entity set name")
    check_name(table, "table logical name")
    check_name(id_column, "id column")
    wanted = _guids(ids)
    headers = {"Accept": "application/json"}
    if every_column:
        headers["Prefer"] = LOOKUP_ANNOTATIONS
    requests = [
        BatchRequest(
            "GET",
            f"{entity_set}?fetchXml="
            + _encoded(_bin_fetch(table, id_column, group, every_column=every_column)),
            headers=headers,
        )
        for group in _chunks(wanted, IDS_PER_FETCH)
    ]
    held: dict[str, Mapping[str, Any]] = {}
    no_bin: BatchResponse | None = None
    for batch in _chunks(requests, MAX_BATCH_REQUESTS):
        # continue-on-error: each part is judged on its own answer, none is left unasked.
        responses = client.batch(batch, continue_on_error=True)
        for request, response in _answered(client, batch, responses):
            if response.status in _NO_BIN_STATUSES:
                no_bin = no_bin or response
                continue
            if not response.ok:
                raise client.part_error(request, response)
            for row in _values(request, response):
                row_id = row.get(id_column)
                if isinstance(row_id, str) and row_id.lower() in wanted:
                    held[row_id.lower()] = row
    if no_bin is not None:  # once a call, not once a part: every part of a table answers alike
        said = parse_error_body(no_bin.text)
        logger.info(
            "The recycle bin answered no rows of %s (HTTP %s %s: %s); they count as not in "
            "the bin", table, no_bin.status, said.code or "", said.message or "",
        )
    return held


def restore_deleted(
    client: DataverseClient, entity_set: str, ids: Iterable[str]
) -> dict[str, RestoreOutcome]:
    """The platform's own `Restore` of each deleted row (lower-case id -> outcome), which brings
    back what a backup cannot (attachments, N:N links, audit) with the original id.

    One `POST Restore` per id, up to 100 per `$batch` with continue-on-error: one row that
    cannot be restored (not in the bin, a duplicate key) never stops the others, its part
    carries the platform's code and message. A 429 on a whole batch or on any part of it
    raises Throttled, a lost answer OutcomeUnknown (restores are not resent; ask the bin again
    to see what happened); the outcomes of batches answered before are then lost to the
    caller, which asks again.
    """
    check_name(entity_set, "entity set name")
    wanted = _guids(ids)
    outcomes: dict[str, RestoreOutcome] = {}
    for group in _chunks(wanted, RESTORES_PER_BATCH):
        requests = [
            BatchRequest("POST", "Restore", {"Target": {"@odata.id": f"{entity_set}({g})"}})
            for g in group
        ]
        responses = client.batch(requests, continue_on_error=True)
        pairs = _answered(client, requests, responses)
        for row_id, (request, response) in zip(group, pairs, strict=True):
            if response.status == 429:
                # Service protection refused the message, not the row: an outcome would read as
                # "not in the bin" and the row be written from the backup without what only the
                # bin gives back. The caller asks again after the wait (a row restored now is
                # then refused as existing, and recognised by its content).
                raise client.part_error(request, response)
            outcomes[row_id] = RestoreOutcome(
                status=response.status, **_said(client, request, response)
            )
    return outcomes


def write_batch(client: DataverseClient, writes: Sequence[BatchRequest]) -> list[WriteOutcome]:
    """Send prepared writes (`PATCH <set>(<id>)` with `If-None-Match: *` or `If-Match`, bodies
    with `@odata.bind` members) as ONE `$batch` with continue-on-error and no change sets; one
    outcome per write, in order. One failing row never stops or rolls back the others.

    Always continue-on-error: a batch stopped at a failure answers only the failing part
    (reference §6.3), which names no write, so which rows ran would be unknown. The batch is
    sent once: a lost answer or a 5xx raises OutcomeUnknown and a 429 Throttled, as
    `DataverseClient.batch` does; the caller re-sends with the same conditions.
    """
    if not writes:
        return []
    if any(w.method == "GET" for w in writes):
        raise ValueError("write_batch sends writes only (no GET)")
    responses = client.batch(writes, continue_on_error=True)
    if len(responses) != len(writes):
        raise OutcomeUnknown(
            f"POST $batch answered {len(responses)} parts for {len(writes)} writes with "
            "continue-on-error; which writes ran is unknown. Read the rows to see.",
            status=200,
        )
    return [
        WriteOutcome(status=response.status, etag=_etag(response),
                     **_said(client, request, response))
        for request, response in zip(writes, responses, strict=True)
    ]


# --- helpers -------------------------------------------------------------------------------------


def _guids(ids: Iterable[str]) -> dict[str, None]:
    """The ids validated and lower-cased, once each, in the order given (a dict keeps order)."""
    if isinstance(ids, str):
        raise ValueError("ids must be a collection of GUIDs, not one string")
    out: dict[str, None] = {}
    for value in ids:
        try:
            out[parse_guid(value)] = None
        except ValueError:
            raise ValueError(f"record id {str(value)[:80]!r}: must be a GUID") from None
    return out


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _encoded(text: str) -> str:
    # Everything but unreserved characters is escaped: the batch encoder refuses spaces, and
    # `<`, `"` and `=` of FetchXML must not end the query value.
    return quote(text, safe="")


def _bin_fetch(table: str, id_column: str, ids: Sequence[str], *, every_column: bool) -> str:
    values = "".join(f"<value>{g}</value>" for g in ids)
    columns = "<all-attributes/>" if every_column else f"<attribute name={quoteattr(id_column)}/>"
    return (
        f'<fetch datasource="bin"><entity name={quoteattr(table)}>'
        f"{columns}"
        f"<filter><condition attribute={quoteattr(id_column)} operator=\"in\">{values}"
        "</condition></filter></entity></fetch>"
    )


def _answered(
    client: DataverseClient, requests: Sequence[BatchRequest], responses: list[BatchResponse]
) -> Iterator[tuple[BatchRequest, BatchResponse]]:
    """(request, response) pairs. Every part answers with continue-on-error; a short answer
    means the server stopped at a failure anyway (its last part), raised as its mapped error."""
    if len(responses) < len(requests):
        if responses and not responses[-1].ok:
            raise client.part_error(requests[len(responses) - 1], responses[-1])
        raise PowerPlatformError(
            f"POST $batch answered {len(responses)} parts for {len(requests)} requests"
        )
    return zip(requests, responses, strict=True)


def _values(request: BatchRequest, response: BatchResponse) -> list[Mapping[str, Any]]:
    body = response.body
    items = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise PowerPlatformError(
            f"{request.method} {request.url.partition('?')[0]} in $batch answered without a "
            "'value' list of objects",
            status=response.status,
            request_id=response.request_id,
        )
    if isinstance(body, Mapping) and body.get("@odata.nextLink"):
        # A part asks for at most 500 ids by primary key: more than a page is not an answer.
        raise PowerPlatformError(
            f"{request.method} {request.url.partition('?')[0]} in $batch answered more than "
            "one page for a lookup by id",
            status=response.status,
            request_id=response.request_id,
        )
    return items


def _etag(response: BatchResponse) -> str | None:
    etag = response.headers.get("etag")
    if etag is None and isinstance(response.body, Mapping):
        found = response.body.get("@odata.etag")
        etag = found if isinstance(found, str) else None
    return etag


def _said(
    client: DataverseClient, request: BatchRequest, response: BatchResponse
) -> dict[str, Any]:
    """The outcome fields of one part: its request id, and for a failure the platform's own
    code and message (as recorded for the row) with the Retry-After the mapping read."""
    if response.ok:
        return {"request_id": response.request_id}
    body = parse_error_body(response.text)
    return {
        "request_id": response.request_id,
        "error_code": body.code,
        "message": body.message or f"{request.method} answered HTTP {response.status}",
        "retry_after": client.part_error(request, response).retry_after,
    }
