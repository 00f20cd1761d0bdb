"""`$batch` (reference §6): multipart/mixed requests, nested change sets, `Content-ID` references,
the `batchresponse_` / `changesetresponse_` envelope, stop-on-first-error or
`Prefer: odata.continue-on-error`, atomic change sets, at most 1,000 requests.

Where the reference leaves a gap (the layout of a failed change set, §6.3/§12) the simulator
takes the stricter reading: a failed change set answers a `changesetresponse` holding only the
failing request's part, and none of its writes stay (they leave the write log too). Without
continue-on-error the batch stops there and answers the failing status with only that part.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING

from ppbackup.simulator.dataverse import errors as dverr
from ppbackup.simulator.dataverse.query import parse_prefer
from ppbackup.simulator.dataverse.store import Org
from ppbackup.simulator.errors import SimError
from ppbackup.simulator.messages import Request, Response

if TYPE_CHECKING:
    from ppbackup.simulator.dataverse.api import DataverseApi

MAX_REQUESTS = 1000
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_API_ROOT = "/api/data/v9.2/"


@dataclass(slots=True)
class Part:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass(slots=True)
class ChangeSet:
    parts: list[Part] = field(default_factory=list)


def _boundary(content_type: str) -> str:
    match = _BOUNDARY.search(content_type or "")
    if not content_type.lower().startswith("multipart/mixed") or match is None:
        raise dverr.bad_query("A $batch request needs Content-Type: multipart/mixed with a "
                              "boundary.")
    return match.group(1)


def _split(body: str, boundary: str) -> list[str]:
    delimiter = f"--{boundary}"
    if f"{delimiter}--" not in body:
        raise dverr.bad_query(f"The batch is not closed with '{delimiter}--'.")
    chunks = body.split(f"{delimiter}--", 1)[0].split(delimiter)[1:]
    return [c[2:] if c.startswith("\r\n") else c.lstrip("\n") for c in chunks]


def _headers_and_rest(text: str) -> tuple[dict[str, str], str]:
    head, sep, rest = text.partition("\r\n\r\n")
    if not sep:
        head, _, rest = text.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _http_part(text: str, part_headers: dict[str, str]) -> Part:
    if part_headers.get("content-type", "").split(";")[0].strip() != "application/http":
        raise dverr.bad_query("Each batch part needs Content-Type: application/http.")
    line, _, after = text.lstrip("\r\n").partition("\n")
    method, _, target = line.strip().partition(" ")
    url, _, version = target.rpartition(" ")
    if not method or not url or not version.startswith("HTTP/"):
        raise dverr.bad_query(f"Invalid request line in batch part: '{line.strip()}'.")
    headers: dict[str, str] = {}
    if after.startswith(("\r\n", "\n")):  # no headers: the body follows the blank line
        body = after.lstrip("\r").removeprefix("\n")
    else:
        headers, body = _headers_and_rest(after)
    return Part(method.upper(), url, headers, body.rstrip("\r\n").encode(),
                part_headers.get("content-id"))


def parse_batch(body: bytes, content_type: str) -> list[Part | ChangeSet]:
    text = body.decode("utf-8", errors="replace")
    items: list[Part | ChangeSet] = []
    count = 0
    for chunk in _split(text, _boundary(content_type)):
        headers, rest = _headers_and_rest(chunk)
        if headers.get("content-type", "").lower().startswith("multipart/mixed"):
            change_set = ChangeSet()
            for inner in _split(rest, _boundary(headers["content-type"])):
                inner_headers, inner_rest = _headers_and_rest(inner)
                part = _http_part(inner_rest, inner_headers)
                if part.method == "GET":
                    raise dverr.bad_query("GET is not allowed inside a change set.")
                change_set.parts.append(part)
            count += len(change_set.parts)
            items.append(change_set)
        else:
            items.append(_http_part(rest, headers))
            count += 1
    if count > MAX_REQUESTS:
        raise dverr.bad_query(f"The batch holds {count} requests; the limit is {MAX_REQUESTS}.")
    return items


def _render_part(response: Response, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    phrase = HTTPStatus(response.status).phrase
    lines += ["", f"HTTP/1.1 {response.status} {phrase}"]
    headers = dict(response.headers)
    payload = response.encoded()
    if payload:
        headers.setdefault("Content-Type",
                           "application/json; odata.metadata=minimal; odata.streaming=true")
    if response.status >= 400:
        headers["REQ_ID"] = str(uuid.uuid4())
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += ["", payload.decode()]
    return "\r\n".join(lines)


def _envelope(parts: list[str], boundary: str) -> str:
    return "".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--\r\n"


def _resolve_url(url: str, content_ids: dict[str, str]) -> tuple[str, str]:
    """A part's URL -> (Web API tail, query string); `$n` names an earlier Content-ID."""
    path, _, query = url.partition("?")
    if path.startswith("$"):
        ref, _, more = path.partition("/")
        if ref not in content_ids:
            raise dverr.bad_query(
                f"Content-ID Reference: '{ref}' does not exist in the batch context.")
        path = content_ids[ref] + (f"/{more}" if more else "")
    elif _API_ROOT in path:
        path = path.split(_API_ROOT, 1)[1]
    return path.lstrip("/"), query


def run_batch(api: DataverseApi, org: Org, env_id: str, request: Request, now: datetime
              ) -> tuple[Response, int]:
    content_type = next((v for k, v in request.headers.items()
                         if k.lower() == "content-type"), "")
    items = parse_batch(request.body, content_type)
    continue_on_error = parse_prefer(request.headers).continue_on_error
    content_ids: dict[str, str] = {}
    rendered: list[str] = []
    rows = 0

    def run(part: Part) -> Response:
        nonlocal rows
        try:
            tail, query = _resolve_url(part.url, content_ids)
            inner = Request(part.method, f"/{tail}", query, part.headers, part.body)
            response, touched = api.execute(org, env_id, inner, tail, content_ids, now)
            rows += touched
        except SimError as error:
            return Response(error.status, dverr.error_body(error))
        if part.content_id is not None and response.status < 300:
            entity = response.headers.get("OData-EntityId") or response.headers.get(
                "Location")
            if entity:
                content_ids[f"${part.content_id}"] = entity.split(_API_ROOT, 1)[-1]
        return response

    for item in items:
        if isinstance(item, Part):
            response = run(item)
            part_text = _render_part(response, item.content_id)
            failed = response.status >= 400
        else:
            mark = org.begin()
            results: list[tuple[Part, Response]] = []
            failed = False
            for part in item.parts:
                response = run(part)
                results.append((part, response))
                if response.status >= 400:
                    failed = True
                    break
            if failed:
                org.rollback(mark)
                results = results[-1:]
            else:
                org.commit(mark)
            inner_boundary = f"changesetresponse_{uuid.uuid4()}"
            part_text = (f"Content-Type: multipart/mixed; boundary={inner_boundary}\r\n\r\n"
                         + _envelope([_render_part(r, p.content_id) for p, r in results],
                                     inner_boundary))
        if failed and not continue_on_error:
            boundary = f"batchresponse_{uuid.uuid4()}"
            return Response(
                response.status, raw_body=_envelope([part_text], boundary).encode(),
                headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
            ), rows
        rendered.append(part_text)
    boundary = f"batchresponse_{uuid.uuid4()}"
    return Response(200, raw_body=_envelope(rendered, boundary).encode(),
                    headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}), rows

