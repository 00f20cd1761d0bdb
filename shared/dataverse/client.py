"""The Dataverse Web API client: one environment's tables, rows and changes (reference §1-7).

It shares the platform client's request loop (`HttpCore`: tokens, request ids, call recording,
bounded resends of idempotent reads), with these differences:

* the token audience is the environment's own URL (`<instance URL>/.default`), and a token is
  only ever sent to that environment's hosts, whatever a next or delta link says;
* a write is never resent once it may have reached the server: one that failed on the way or
  with a 5xx is OutcomeUnknown, and the caller reads the row to see what happened (with an
  ETag the first attempt may have changed it, and every write runs plug-ins and audit, so a
  resend is never free);
* a 429 is not waited out here: `Throttled.retry_after` goes back to the caller at once, which
  reschedules the step with a delayed message (service protection waits can be minutes);
* answers are mapped by `shared.dataverse.errors` (expired change tokens, missing privileges,
  unknown tables, lost conditional writes).

One instance per environment, shared by threads: it holds no per-call state; the last
`x-ms-dop-hint` seen is kept as `recommended_concurrency`.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookiejar import Cookie, CookieJar
from typing import Any, Literal, TypeVar, Unpack
from urllib.parse import quote, urlsplit

import httpx

from shared.dataverse.batch import (
    BatchItem,
    BatchRequest,
    BatchResponse,
    ChangeSet,
    count_requests,
    decode_batch,
    encode_batch,
)
from shared.dataverse.errors import NoDataverse, TableNotFound, dataverse_error
from shared.dataverse.metadata import (
    COLUMN_PROPERTIES,
    LOOKUP_PROPERTIES,
    RELATIONSHIP_PROPERTIES,
    TABLE_PROPERTIES,
    ColumnInfo,
    LookupRelationship,
    TableInfo,
    lookup_targets,
)
from shared.dataverse.pages import (
    LOOKUP_ANNOTATIONS,
    MAX_PAGE_SIZE,
    Page,
    PageCursor,
    check_page_size,
    parse_dop_hint,
    parse_page,
)
from shared.errors import NotFound, PowerPlatformError
from shared.inputs import parse_guid
from shared.policy.retry_after import parse_retry_after
from shared.power_platform._http import DEFAULT_RETRY, HttpCore, OwnsHttpClient, Pacing, Reply
from shared.power_platform._retry import RetryPolicy
from shared.power_platform.auth import TokenProvider, token_host, token_provider_from_settings
from shared.power_platform.models import Environment
from shared.settings import Settings

API_PATH = "/api/data/v9.2"
# A logical name or entity set name: safe as a URL segment and inside an OData string literal.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Batch answers that may carry a multipart body (a failing request stops the batch with its
# status). Not 401 (the token is refreshed once) nor 429 (service protection refused it all).
_BATCH_PASSTHROUGH = frozenset(range(400, 500)) - {401, 429}
_ENTITY_ID = re.compile(r"\(([0-9A-Fa-f-]{36})\)\s*$")

Conditional = Literal["create", "update"]
T = TypeVar("T")


class _NoCookies(CookieJar):
    """Dataverse sets a server-affinity cookie; not sending it back spreads requests over all
    web servers, and service protection limits are per server (reference §7.3)."""

    def set_cookie(self, cookie: Cookie) -> None:
        return None


def _default_http_client() -> httpx.Client:
    # Redirects are not followed: a redirect could carry the bearer token to another host.
    return httpx.Client(
        timeout=httpx.Timeout(120.0, connect=10.0, pool=10.0),
        follow_redirects=False,
        cookies=_NoCookies(),
    )


@functools.lru_cache(maxsize=1)
def shared_http_client() -> httpx.Client:
    """One connection pool per process for the clients of long-running operations: building an
    httpx client (its TLS context) costs far more than a step's request, and a warm pool keeps
    connections to Dataverse open between steps. Pass it as `http_client` (never closed)."""
    return _default_http_client()


def check_name(value: str, what: str = "table name") -> str:
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise ValueError(f"{what} must be letters, digits and '_'; got {str(value)[:80]!r}")
    return value


def scope_for_instance(instance_url: str, api_url: str) -> Callable[[str], str | None]:
    """The token scope for a URL of this environment; ValueError for any other host."""
    hosts = {(urlsplit(u).hostname or "").lower().rstrip(".") for u in (instance_url, api_url)}
    scope = f"{instance_url.rstrip('/')}/.default"

    def scope_for(url: str) -> str | None:
        host = token_host(url)
        if host is None:
            return None
        if host not in hosts:
            # A stored delta link outlives a change of the environment's URL.
            raise ValueError(
                f"{host!r} is not this environment's Dataverse host ({', '.join(sorted(hosts))}); "
                "the link was not followed. If the environment's URL was changed, links "
                "stored before it name the old host: read from the current URL instead")
        return scope

    return scope_for


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write answered: the row's id (when the server names it), its new ETag, the row
    itself with `return_row`, and the request id for the history."""

    id: str | None
    etag: str | None
    row: Mapping[str, Any] | None
    request_id: str


class DataverseClient(OwnsHttpClient):
    def __init__(
        self,
        api_url: str,
        *,
        instance_url: str | None = None,
        token_provider: TokenProvider,
        http_client: httpx.Client | None = None,
        bap_url: str = "https://api.bap.microsoft.com",
        **pacing: Unpack[Pacing],
    ) -> None:
        api = api_url.rstrip("/")
        if urlsplit(api).scheme not in ("http", "https") or not urlsplit(api).hostname:
            raise ValueError(f"the Dataverse URL must be absolute http(s); got {api_url!r}")
        self._root = f"{api}{API_PATH}"
        super().__init__(http_client, _default_http_client)
        self.recommended_concurrency: int | None = None
        self._core = HttpCore(
            self._http_client,
            token_provider=token_provider,
            bap_url=bap_url,
            scope_for=scope_for_instance(instance_url or api, api),
            map_error=dataverse_error,
            resend_throttled=False,
            **pacing,
        )

    @classmethod
    def for_environment(
        cls,
        environment: Environment,
        *,
        token_provider: TokenProvider,
        http_client: httpx.Client | None = None,
        bap_url: str = "https://api.bap.microsoft.com",
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> DataverseClient:
        """The client of an environment's Dataverse; NoDataverse when it has none."""
        api_url = environment.instance_api_url or environment.instance_url
        if api_url is None:
            raise NoDataverse(
                f"Environment {environment.display_name} ({environment.id}) has no Dataverse "
                "database, so it has no table data to back up."
            )
        return cls(
            api_url,
            instance_url=environment.instance_url or api_url,
            token_provider=token_provider,
            http_client=http_client,
            bap_url=bap_url,
            retry=retry,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        environment: Environment,
        *,
        http_client: httpx.Client | None = None,
    ) -> DataverseClient:
        return cls.for_environment(
            environment,
            token_provider=token_provider_from_settings(settings),
            http_client=http_client,
            bap_url=settings.pp_bap_url,
        )

    @property
    def root(self) -> str:
        """The Web API root, `<instanceApiUrl>/api/data/v9.2`."""
        return self._root

    # --- metadata --------------------------------------------------------------------------------

    def tables(self) -> list[TableInfo]:
        """Every table (metadata is not paged: one answer holds them all)."""
        reply = self._get(
            f"{self._root}/EntityDefinitions", {"$select": ",".join(TABLE_PROPERTIES)}
        )
        return [TableInfo.from_wire(item) for item in _values(reply)]

    def table(self, logical_name: str) -> TableInfo:
        """One table; TableNotFound when the environment has no such table."""
        url = self._definition(logical_name)
        with _table_must_exist(logical_name):
            reply = self._get(url, {"$select": ",".join(TABLE_PROPERTIES)})
        return _parsed(reply, lambda body: TableInfo.from_wire(body))

    def columns(self, logical_name: str) -> list[ColumnInfo]:
        """The table's columns, lookups with their target tables (two requests)."""
        base = self._definition(logical_name)
        with _table_must_exist(logical_name):
            lookups = self._get(
                f"{base}/Attributes/Microsoft.Dynamics.CRM.LookupAttributeMetadata",
                {"$select": ",".join(LOOKUP_PROPERTIES)},
            )
        targets = dict(lookup_targets(item) for item in _values(lookups))
        reply = self._get(f"{base}/Attributes", {"$select": ",".join(COLUMN_PROPERTIES)})
        return [ColumnInfo.from_wire(item, targets) for item in _values(reply)]

    def lookup_relationships(self, logical_name: str) -> list[LookupRelationship]:
        """The table's many-to-one relationships: the navigation property for each lookup and
        target, which `@odata.bind` needs."""
        with _table_must_exist(logical_name):
            reply = self._get(
                f"{self._definition(logical_name)}/ManyToOneRelationships",
                {"$select": ",".join(RELATIONSHIP_PROPERTIES)},
            )
        return [LookupRelationship.from_wire(item) for item in _values(reply)]

    # --- reads -----------------------------------------------------------------------------------

    def first_page(
        self,
        entity_set: str,
        *,
        select: Sequence[str] = (),
        where: str = "",
        page_size: int = MAX_PAGE_SIZE,
        track_changes: bool = False,
    ) -> PageCursor:
        """The cursor of a read's first page (no request is sent). With `track_changes` the
        last page carries the delta link for the next incremental read; $filter and $orderby
        are not allowed then, so a read selects columns only. `where` is a $filter the caller
        writes as a constant: it is encoded, never built from data here."""
        check_name(entity_set, "entity set name")
        if where and track_changes:
            raise ValueError("a change-tracked read takes no $filter")
        query = []
        if select:
            query.append("$select=" + ",".join(check_name(c, "column name") for c in select))
        if where:
            query.append("$filter=" + quote(where, safe=""))
        url = f"{self._root}/{entity_set}" + ("?" + "&".join(query) if query else "")
        return PageCursor(url, check_page_size(page_size), track_changes)

    def delta_page(self, delta_link: str, *, page_size: int = MAX_PAGE_SIZE) -> PageCursor:
        """The cursor of an incremental read from a delta link a previous read ended with."""
        return PageCursor(delta_link, check_page_size(page_size), track_changes=True)

    def read_page(self, cursor: PageCursor, *, id_column: str | None = None) -> Page:
        """One page: one request. Links are followed verbatim. ChangeTokenExpired when a delta
        link is too old; Throttled (with retry_after) when service protection refuses. With
        `id_column`, the rows come as a backup keeps them (`parse_page`)."""
        prefer = [f"odata.maxpagesize={cursor.page_size}", LOOKUP_ANNOTATIONS]
        if cursor.track_changes:
            prefer.append("odata.track-changes")
        reply = self._core.send(
            "GET",
            cursor.url,
            idempotent=True,
            headers={**_ODATA_HEADERS, "If-None-Match": "null", "Prefer": ",".join(prefer)},
        )
        dop_hint = self._note_dop_hint(reply)
        try:
            # A backup's read is parsed from the answer's bytes when they are UTF-8 (as
            # Dataverse sends JSON): the parser reads UTF-8, so no decoding and re-encoding.
            body = reply.content if id_column is not None and _is_utf8(reply.charset) \
                else reply.text
            return parse_page(body, cursor, dop_hint=dop_hint, request_id=reply.request_id,
                              id_column=id_column)
        except ValueError as exc:
            raise _unexpected(reply, exc) from None

    def pages(self, cursor: PageCursor, *, max_pages: int = 100_000) -> Iterator[Page]:
        """Every page from `cursor` on. For tools and tests; a function invocation reads one
        page with `read_page` and hands `page.next` on."""
        next_cursor: PageCursor | None = cursor
        seen: set[str] = set()
        while next_cursor is not None:
            if next_cursor.url in seen or len(seen) >= max_pages:
                raise PowerPlatformError(
                    f"GET {urlsplit(next_cursor.url).path}: paging does not end "
                    f"(a link repeated or over {max_pages} pages)"
                )
            seen.add(next_cursor.url)
            page = self.read_page(next_cursor)
            yield page
            next_cursor = page.next

    def read_row(
        self, entity_set: str, record_id: str, *, select: Sequence[str] = ()
    ) -> Mapping[str, Any]:
        """One row by id (NotFound when it does not exist)."""
        columns = ",".join(check_name(c, "column name") for c in select)
        params = {"$select": columns} if columns else {}
        return _body(self._get(self._row_url(entity_set, record_id), params))

    # --- writes ----------------------------------------------------------------------------------

    def create(
        self, entity_set: str, row: Mapping[str, Any], *, return_row: bool = False
    ) -> WriteResult:
        """POST a new row (sent once: a lost answer is OutcomeUnknown; look for the row)."""
        url = f"{self._root}/{check_name(entity_set, 'entity set name')}"
        return self._write("POST", url, row, return_row=return_row)

    def update(
        self,
        entity_set: str,
        record_id: str,
        changes: Mapping[str, Any],
        *,
        if_match: str = "*",
        return_row: bool = False,
    ) -> WriteResult:
        """PATCH an existing row. `if_match` is `*` (never creates: NotFound if the row is gone)
        or the row's ETag (PreconditionFailed if it changed since)."""
        return self._write(
            "PATCH",
            self._row_url(entity_set, record_id),
            changes,
            return_row=return_row,
            headers={"If-Match": if_match},
        )

    def upsert(
        self,
        entity_set: str,
        record_id: str,
        row: Mapping[str, Any],
        *,
        only: Conditional | None = None,
        return_row: bool = False,
    ) -> WriteResult:
        """PATCH by id: creates the row with this id or updates it. `only="create"` refuses an
        existing row (PreconditionFailed); `only="update"` refuses a missing one (NotFound)."""
        headers = {"create": {"If-None-Match": "*"}, "update": {"If-Match": "*"}, None: {}}[only]
        return self._write(
            "PATCH",
            self._row_url(entity_set, record_id),
            row,
            return_row=return_row,
            headers=headers,
        )

    def set_state(
        self, entity_set: str, record_id: str, statecode: int, statuscode: int
    ) -> WriteResult:
        """Change a row's state (a flow on or off); both codes, so the status is never a
        default the platform picks (reference §5.6)."""
        return self.update(
            entity_set, record_id, {"statecode": statecode, "statuscode": statuscode}
        )

    def batch(
        self, items: Sequence[BatchItem], *, continue_on_error: bool = False
    ) -> list[BatchResponse]:
        """Send requests and change sets in one `$batch`; one response per request, in order.
        Without `continue_on_error` the batch stops at the first failure, whose response is
        the last one. Sent once when it holds a write."""
        content_type, body = encode_batch(items, api_path=urlsplit(self._root).path)
        headers = {**_ODATA_HEADERS, "Content-Type": content_type}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        writes = any(isinstance(i, ChangeSet) or i.method != "GET" for i in items)
        reply = self._core.send(
            "POST",
            f"{self._root}/$batch",
            idempotent=not writes,
            headers=headers,
            content=body,
            passthrough=_BATCH_PASSTHROUGH,
        )
        self._note_dop_hint(reply)
        answer_type = reply.header("content-type") or ""
        if reply.status >= 400 and "multipart/" not in answer_type:
            raise self._core.error_for(reply, idempotent=not writes)
        try:
            responses = decode_batch(answer_type, reply.text)
        except ValueError as exc:
            raise PowerPlatformError(
                f"{reply.what} answered a batch that could not be read: {exc}",
                status=reply.status,
                request_id=reply.request_id,
            ) from None
        if len(responses) > count_requests(items):
            raise PowerPlatformError(
                f"{reply.what} answered more responses than requests",
                status=reply.status,
                request_id=reply.request_id,
            )
        return responses

    def part_error(self, request: BatchRequest, response: BatchResponse) -> PowerPlatformError:
        """The exception a failed part of a batch means, mapped as the same request sent alone
        would be (a 412 is PreconditionFailed, a 429 Throttled with its Retry-After, ...)."""
        reply = Reply(
            method=request.method,
            url=f"{self._root}/{request.url}",
            status=response.status,
            headers=httpx.Headers(dict(response.headers)),
            content=response.text.encode("utf-8", "surrogatepass"),
            request_id=response.request_id or "",
            retry_after=parse_retry_after(response.headers.get("retry-after"),
                                          now=self._core.now()),
        )
        return self._core.error_for(reply, idempotent=request.method == "GET")

    def bind(self, navigation_property: str, entity_set: str, record_id: str) -> dict[str, str]:
        """The member that sets a lookup in a create or update body."""
        check_name(navigation_property, "navigation property")
        check_name(entity_set, "entity set name")
        return {f"{navigation_property}@odata.bind": f"/{entity_set}({parse_guid(record_id)})"}

    # --- helpers ---------------------------------------------------------------------------------

    def _definition(self, logical_name: str) -> str:
        check_name(logical_name, "table logical name")
        return f"{self._root}/EntityDefinitions(LogicalName='{logical_name}')"

    def _row_url(self, entity_set: str, record_id: str) -> str:
        check_name(entity_set, "entity set name")
        return f"{self._root}/{entity_set}({parse_guid(record_id)})"

    def _get(self, url: str, params: Mapping[str, str]) -> Reply:
        # The query is built here so that `$` and `,` stay as the Web API documents them.
        query = "&".join(f"{k}={quote(v, safe=',$')}" for k, v in params.items())
        reply = self._core.send(
            "GET", f"{url}?{query}", idempotent=True, headers=dict(_ODATA_HEADERS)
        )
        self._note_dop_hint(reply)
        return reply

    def _write(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any],
        *,
        return_row: bool,
        headers: Mapping[str, str] | None = None,
    ) -> WriteResult:
        all_headers = {**_ODATA_HEADERS, **(headers or {})}
        if return_row:
            all_headers["Prefer"] = 'return=representation,odata.include-annotations="*"'
        reply = self._core.send(method, url, idempotent=False, body=dict(body), headers=all_headers)
        self._note_dop_hint(reply)
        row: Mapping[str, Any] | None = None
        if return_row and reply.content.strip():
            row = _parsed(reply, lambda b: b)
        entity = reply.header("OData-EntityId") or reply.header("Location") or ""
        match = _ENTITY_ID.search(entity)
        etag = reply.header("ETag") or (row or {}).get("@odata.etag")
        return WriteResult(
            id=match.group(1).lower() if match else None,
            etag=etag if isinstance(etag, str) else None,
            row=row,
            request_id=reply.request_id,
        )

    def _note_dop_hint(self, reply: Reply) -> int | None:
        hint = parse_dop_hint(reply.header("x-ms-dop-hint"))
        if hint is not None:
            self.recommended_concurrency = hint
        return hint


@contextmanager
def _table_must_exist(logical_name: str) -> Iterator[None]:
    """A 404 on a table's metadata means the table does not exist, whatever code it names."""
    try:
        yield
    except TableNotFound:
        raise
    except NotFound as exc:
        raise TableNotFound(
            f"No table '{logical_name}' in this environment ({exc.message}). Check the "
            "logical name, and that its solution is installed here.",
            status=exc.status,
            error_code=exc.error_code,
            request_id=exc.request_id,
        ) from None


_ODATA_HEADERS: Mapping[str, str] = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
}


def _body(reply: Reply) -> Mapping[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        raise PowerPlatformError(
            f"{reply.what} answered something other than a JSON object",
            status=reply.status,
            request_id=reply.request_id,
        )
    return body


def _parsed(reply: Reply, parse: Callable[[Mapping[str, Any]], T]) -> T:
    body = _body(reply)
    try:
        return parse(body)
    except ValueError as exc:
        raise _unexpected(reply, exc) from None


def _unexpected(reply: Reply, error: ValueError) -> PowerPlatformError:
    return PowerPlatformError(
        f"{reply.what} answered an unexpected shape: {error}",
        status=reply.status,
        request_id=reply.request_id,
    )


def _values(reply: Reply) -> list[Mapping[str, Any]]:
    items = _body(reply).get("value")
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise PowerPlatformError(
            f"{reply.what} answered without a 'value' list of objects",
            status=reply.status,
            request_id=reply.request_id,
        )
    return items


def _is_utf8(charset: str) -> bool:
    # The codec registry knows every spelling of a charset name (utf8, UTF_8, u8, ...).
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False
