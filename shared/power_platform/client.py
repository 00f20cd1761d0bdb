"""The Power Platform client: the calls of docs/platform-wire.md, one method each.

One instance is shared by every handler thread: it holds no per-call state (httpx.Client and the
token providers are thread-safe), and call recording is per context (`recording_calls`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar, Unpack
from urllib.parse import urljoin

import httpx

from shared.errors import NotFound, PowerPlatformError, ValidationFailed
from shared.policy.clock_skew import CLOCK_SKEW
from shared.power_platform._errors import parse_error_body
from shared.power_platform._http import HttpCore, OwnsHttpClient, Pacing, Reply
from shared.power_platform._ids import validate_environment_id, validate_opaque_id
from shared.power_platform._time import format_timestamp
from shared.power_platform.auth import TokenProvider, token_provider_from_settings
from shared.power_platform.models import (
    Backup,
    Environment,
    LifecycleKind,
    OperationHandle,
    PlatformOperation,
    RestoreCandidate,
)
from shared.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

BAP_READ_API_VERSION = "2023-06-01"
BAP_WRITE_API_VERSION = "2021-04-01"
PP_API_VERSION = "2024-10-01"

_BAP_ENVIRONMENTS = "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments"
_PP_ENVIRONMENTS = "/environmentmanagement/environments"
_PP_OPERATIONS = "/environmentmanagement/operations"

# Status headers of a 202, in the order the wire page tells the client to try them.
_STATUS_HEADERS = ("Location", "Operation-Location", "Azure-AsyncOperation")
# A restore's operation may start up to this much before our clock says the request was sent.
# Loop guard for paging: a server repeating a link must not keep a handler busy forever.
_MAX_PAGES = 1000
_CHANGEABLE_TYPES = frozenset({"Sandbox", "Production"})

DEFAULT_NOT_VISIBLE_GRACE_SECONDS = 300.0


def _default_http_client() -> httpx.Client:
    # Redirects are not followed: a redirect could carry the bearer token to another host.
    return httpx.Client(
        timeout=httpx.Timeout(60.0, connect=10.0, pool=10.0),
        follow_redirects=False,
    )


class PowerPlatformClient(OwnsHttpClient):
    def __init__(
        self,
        api_url: str,
        bap_url: str,
        *,
        token_provider: TokenProvider,
        http_client: httpx.Client | None = None,
        not_visible_grace_seconds: float = DEFAULT_NOT_VISIBLE_GRACE_SECONDS,
        **pacing: Unpack[Pacing],
    ) -> None:
        self._api = api_url.rstrip("/")
        self._bap = bap_url.rstrip("/")
        super().__init__(http_client, _default_http_client)
        self._grace = timedelta(seconds=not_visible_grace_seconds)
        self._core = HttpCore(
            self._http_client, token_provider=token_provider, bap_url=self._bap, **pacing
        )
        self._now = self._core.now

    @classmethod
    def from_settings(
        cls, settings: Settings, *, http_client: httpx.Client | None = None
    ) -> PowerPlatformClient:
        return cls(
            settings.pp_api_url,
            settings.pp_bap_url,
            token_provider=token_provider_from_settings(settings),
            http_client=http_client,
        )

    # --- environments ----------------------------------------------------------------------------

    def list_environments(self) -> list[Environment]:
        url = f"{self._bap}{_BAP_ENVIRONMENTS}"
        return [
            item
            for reply, page in self._bap_pages(url, _bap_read())
            for item in _parse_items(reply, page, Environment.from_bap)
        ]

    def get_environment(self, environment_id: str) -> Environment:
        url = self._bap_environment_url(environment_id)
        reply = self._core.send("GET", url, params=_bap_read(), idempotent=True)
        return _parse(reply, partial(Environment.from_bap, _body(reply)))

    # --- backups ---------------------------------------------------------------------------------

    def create_backup(self, environment_id: str, label: str) -> Backup:
        """Create a manual backup. Sent once: a lost answer raises OutcomeUnknown."""
        if not label.strip():
            raise ValueError("a backup needs a non-empty label")
        url = f"{self._pp_environment_url(environment_id)}/backups"
        reply = self._core.send("POST", url, params=_pp(), body={"label": label}, idempotent=False)
        return _parse(reply, partial(Backup.from_pp, _body(reply)))

    def list_backups(self, environment_id: str) -> list[Backup]:
        url = f"{self._pp_environment_url(environment_id)}/backups"
        return self._pp_list(url, Backup.from_pp)

    def delete_backup(self, environment_id: str, backup_id: str) -> None:
        """Delete a backup; one that is already gone (404) counts as deleted."""
        validate_opaque_id(backup_id, "backup id")
        url = f"{self._pp_environment_url(environment_id)}/backups/{backup_id}"
        self._core.send("DELETE", url, params=_pp(), idempotent=True, passthrough=frozenset({404}))

    # --- restore ---------------------------------------------------------------------------------

    def list_restore_candidates(self, source_environment_id: str) -> list[RestoreCandidate]:
        url = f"{self._pp_environment_url(source_environment_id)}/restoreCandidates"
        return self._pp_list(url, RestoreCandidate.from_pp)

    def validate_restore(
        self,
        target_id: str,
        source_id: str,
        restore_point: datetime,
        *,
        skip_audit_data: bool = True,
    ) -> None:
        """Ask the platform whether the restore would be accepted; ValidationFailed if not."""
        url = f"{self._pp_environment_url(target_id)}/restore"
        body = _restore_body(source_id, restore_point, skip_audit_data, None)
        # ValidateOnly changes nothing, so the call is as safe to resend as a GET.
        reply = self._core.send(
            "POST", url, params={**_pp(), "ValidateOnly": "true"}, body=body, idempotent=True
        )
        answer = _body(reply)
        status = answer.get("status")
        if isinstance(status, str) and status != "ValidationPassed":
            said = parse_error_body(reply.text)
            raise ValidationFailed(
                said.message or f"restore validation answered {status}",
                status=reply.status,
                error_code=said.code or status,
                request_id=reply.request_id,
            )

    def begin_restore(
        self,
        target_id: str,
        source_id: str,
        restore_point: datetime,
        *,
        skip_audit_data: bool = True,
        environment_name_override: str | None = None,
    ) -> OperationHandle:
        """Start a restore (sent once). The usual bare 202 gives a handle with nothing to poll;
        `get_operation(handle)` then finds the operation in the target's operation list."""
        url = f"{self._pp_environment_url(target_id)}/restore"
        body = _restore_body(source_id, restore_point, skip_audit_data, environment_name_override)
        return self._begin(
            LifecycleKind.RESTORE, target_id, "POST", url, _pp(), body, idempotent=False
        )

    def find_restore_operation(
        self, target_id: str, *, not_before: datetime
    ) -> PlatformOperation | None:
        """The newest `Restore` operation of the target that started at or after `not_before`
        (less the clock-skew allowance); None if there is none yet."""
        if not_before.tzinfo is None:
            raise ValueError("not_before must be timezone-aware")
        threshold = not_before - CLOCK_SKEW
        url = f"{self._pp_environment_url(target_id)}/operations"
        best: PlatformOperation | None = None
        best_start = threshold
        # Every page: the reference documents no order for this list (§3.3 only says to pick
        # the newest), so a page of old operations says nothing about the next one. This runs
        # only until the restore is found; its id is polled from then on.
        for reply, page in self._pp_pages(url):
            for op in _parse_items(reply, page, PlatformOperation.from_body):
                if (
                    (op.name or "").lower() == "restore"
                    and op.started_at is not None
                    and op.started_at >= best_start
                    and (best is None or op.started_at > best_start)
                ):
                    best, best_start = op, op.started_at
        return best

    # --- environment type and runtime state ------------------------------------------------------

    def begin_change_type(self, environment_id: str, environment_sku: str) -> OperationHandle:
        """Switch Production <-> Sandbox (BAP modifySku; sent once)."""
        if environment_sku not in _CHANGEABLE_TYPES:
            raise ValueError(
                f"environment_sku must be Sandbox or Production; got {environment_sku!r}"
            )
        url = f"{self._bap_environment_url(environment_id)}/modifySku"
        body = {"environmentSku": environment_sku}
        return self._begin(
            LifecycleKind.CHANGE_TYPE,
            environment_id,
            "POST",
            url,
            _bap_write(),
            body,
            idempotent=False,
        )

    def begin_set_runtime_state(
        self,
        environment_id: str,
        *,
        admin_mode: bool,
        background_operations: bool | None = None,
    ) -> OperationHandle:
        """Turn administration mode (and optionally background operations) on or off.

        Resent freely: the PATCH names an end state, so a repeat changes nothing.
        """
        properties: dict[str, Any] = {
            "states": {"runtime": {"id": "AdminMode" if admin_mode else "Enabled"}}
        }
        if background_operations is not None:
            properties["linkedEnvironmentMetadata"] = {
                "backgroundOperationsState": "Enabled" if background_operations else "Disabled"
            }
        url = self._bap_environment_url(environment_id)
        body = {"properties": properties}
        return self._begin(
            LifecycleKind.RUNTIME_STATE,
            environment_id,
            "PATCH",
            url,
            _bap_write(),
            body,
            idempotent=True,
        )

    # --- operations ------------------------------------------------------------------------------

    def get_operation(
        self, target: OperationHandle | str, *, started_at: datetime | None = None
    ) -> PlatformOperation:
        """Poll an operation by handle, status URL (followed verbatim) or PP API operation id.

        202, 409 and a 404 within the grace period after the start all answer "not done yet"
        (`not_yet_visible` for the 404). Without a start time (a bare URL or id and no
        `started_at`) a 404 raises NotFound.
        """
        if isinstance(target, OperationHandle):
            started_at = target.accepted_at
            if target.status_url:
                return self._poll(target.status_url, target.operation_id, started_at)
            if target.operation_id:
                return self._poll(self._pp_operation_url(target.operation_id), None, started_at)
            if target.kind is LifecycleKind.RESTORE:
                return self._discover_restore(target)
            raise ValueError(
                f"the {target.kind.value} handle has no status URL to poll; "
                "re-read the environment to see whether the change happened"
            )
        if target.startswith(("https://", "http://")):
            return self._poll(target, None, started_at)
        return self._poll(self._pp_operation_url(target), target, started_at)

    def list_operations(self, environment_id: str) -> list[PlatformOperation]:
        url = f"{self._pp_environment_url(environment_id)}/operations"
        return self._pp_list(url, PlatformOperation.from_body)

    def _discover_restore(self, handle: OperationHandle) -> PlatformOperation:
        found = self.find_restore_operation(handle.environment_id, not_before=handle.accepted_at)
        if found is not None:
            return found
        if self._within_grace(handle.accepted_at):
            return PlatformOperation.pending(None, not_yet_visible=True)
        raise NotFound(
            f"No Restore operation appeared in the operation list of {handle.environment_id} "
            f"within {self._grace.total_seconds():.0f} s of the request "
            f"(request id {handle.request_id})",
            request_id=handle.request_id,
        )

    def _poll(
        self, url: str, operation_id: str | None, started_at: datetime | None
    ) -> PlatformOperation:
        reply = self._core.send("GET", url, idempotent=True, passthrough=frozenset({404, 409}))
        # PP API answers 204 for an operation id it does not know (yet).
        if reply.status in (404, 204):
            if started_at is not None and self._within_grace(started_at):
                return PlatformOperation.pending(
                    operation_id, retry_after=reply.retry_after, not_yet_visible=True
                )
            if reply.status == 404:
                raise self._core.error_for(reply)
            raise NotFound(
                f"{reply.what}: no such operation (HTTP 204)",
                status=204,
                request_id=reply.request_id,
            )
        if reply.status == 409:
            return PlatformOperation.pending(operation_id, retry_after=reply.retry_after)
        body = _parse(reply, reply.json)
        if reply.status == 202 and not (isinstance(body, Mapping) and body):
            return PlatformOperation.pending(operation_id, retry_after=reply.retry_after)
        if not isinstance(body, Mapping) or not body:
            raise PowerPlatformError(
                f"{reply.what}: operation status without a body (HTTP {reply.status})",
                status=reply.status,
                request_id=reply.request_id,
            )
        op = PlatformOperation.from_body(
            body, still_running=reply.status == 202, retry_after=reply.retry_after
        )
        if op.id is None and operation_id is not None:
            op = replace(op, id=operation_id)
        return op

    def _within_grace(self, started_at: datetime) -> bool:
        return self._now() - started_at <= self._grace

    # --- helpers ---------------------------------------------------------------------------------

    def _begin(
        self,
        kind: LifecycleKind,
        environment_id: str,
        method: str,
        url: str,
        params: dict[str, str],
        body: dict[str, Any],
        *,
        idempotent: bool,
    ) -> OperationHandle:
        """Start a lifecycle operation and hand back what to follow it by."""
        sent_at = self._now()
        reply = self._core.send(method, url, params=params, body=body, idempotent=idempotent)
        return self._handle(kind, environment_id, reply, sent_at)

    def _handle(
        self, kind: LifecycleKind, environment_id: str, reply: Reply, sent_at: datetime
    ) -> OperationHandle:
        # Relative status URLs are resolved against the request; absolute ones are kept verbatim.
        status_url = next(
            (urljoin(reply.url, v) for name in _STATUS_HEADERS if (v := reply.header(name))),
            None,
        )
        operation_id: str | None = None
        try:
            body = reply.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping) and isinstance(body.get("operationId"), str):
            operation_id = body["operationId"] or None
        logger.info(
            "pp.operation_started",
            extra={
                "pp_kind": kind.value,
                "pp_environment_id": environment_id,
                "pp_status": reply.status,
                "pp_has_status_url": status_url is not None,
                "pp_request_id": reply.request_id,
            },
        )
        return OperationHandle(
            kind=kind,
            environment_id=environment_id,
            status_url=status_url,
            operation_id=operation_id,
            retry_after=reply.retry_after,
            request_id=reply.request_id,
            accepted_at=sent_at,
        )

    def _bap_environment_url(self, environment_id: str) -> str:
        return f"{self._bap}{_BAP_ENVIRONMENTS}/{validate_environment_id(environment_id)}"

    def _pp_environment_url(self, environment_id: str) -> str:
        return f"{self._api}{_PP_ENVIRONMENTS}/{validate_environment_id(environment_id)}"

    def _pp_operation_url(self, operation_id: str) -> str:
        checked = validate_opaque_id(operation_id, "operation id")
        return f"{self._api}{_PP_OPERATIONS}/{checked}?api-version={PP_API_VERSION}"

    def _bap_pages(self, url: str, params: Mapping[str, str]) -> Iterator[tuple[Reply, list[Any]]]:
        """BAP lists: `value` items, then the absolute `nextLink`, followed verbatim."""
        next_url: str | None = url
        next_params: Mapping[str, str] | None = params
        seen: set[str] = set()
        while next_url is not None:
            reply = self._core.send("GET", next_url, params=next_params, idempotent=True)
            body = _body(reply)
            yield reply, _items(reply, body, "value")
            link = body.get("nextLink")
            next_url = urljoin(reply.url, link) if isinstance(link, str) and link else None
            next_params = None
            if next_url is not None:
                _guard_paging(reply, next_url, seen)

    def _pp_list(self, url: str, parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
        """Every item of a PP API list, over all its pages."""
        return [
            item for reply, page in self._pp_pages(url) for item in _parse_items(reply, page, parse)
        ]

    def _pp_pages(self, url: str) -> Iterator[tuple[Reply, list[Any]]]:
        """PP API lists: `collection` items, then `continuationToken` until it is empty."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            params = _pp() if token is None else {**_pp(), "continuationToken": token}
            reply = self._core.send("GET", url, params=params, idempotent=True)
            body = _body(reply)
            yield reply, _items(reply, body, "collection")
            next_token = body.get("continuationToken")
            if not isinstance(next_token, str) or not next_token:
                return
            _guard_paging(reply, next_token, seen)
            token = next_token


# --- module helpers ------------------------------------------------------------------------------


def _pp() -> dict[str, str]:
    return {"api-version": PP_API_VERSION}


def _bap_read() -> dict[str, str]:
    return {"api-version": BAP_READ_API_VERSION}


def _bap_write() -> dict[str, str]:
    return {"api-version": BAP_WRITE_API_VERSION}


def _restore_body(
    source_id: str,
    restore_point: datetime,
    skip_audit_data: bool,
    environment_name_override: str | None,
) -> dict[str, Any]:
    options: dict[str, Any] = {"skipAuditData": skip_audit_data}
    if environment_name_override:
        options["environmentNameToOverride"] = environment_name_override
    return {
        "sourceEnvironmentId": validate_environment_id(source_id),
        "restorePointDateTime": format_timestamp(restore_point),
        "restoreOptions": options,
    }


def _guard_paging(reply: Reply, marker: str, seen: set[str]) -> None:
    if marker in seen or len(seen) >= _MAX_PAGES:
        raise PowerPlatformError(
            f"{reply.what}: paging does not end (a page link repeated or over {_MAX_PAGES} pages)",
            status=reply.status,
            request_id=reply.request_id,
        )
    seen.add(marker)


def _parse(reply: Reply, parse: Callable[[], T]) -> T:
    """Run a parser on an answer; a body the client cannot read is the platform's failure."""
    try:
        return parse()
    except (ValueError, KeyError, TypeError) as exc:
        raise PowerPlatformError(
            f"{reply.what}: unexpected answer (HTTP {reply.status}): {exc}",
            status=reply.status,
            request_id=reply.request_id,
        ) from exc


def _json_object(reply: Reply) -> Mapping[str, Any]:
    body = reply.json()
    if not isinstance(body, Mapping):
        raise ValueError("expected a JSON object")
    return body


def _body(reply: Reply) -> Mapping[str, Any]:
    return _parse(reply, partial(_json_object, reply))


def _items(reply: Reply, body: Mapping[str, Any], key: str) -> list[Any]:
    items = body.get(key, [])
    if items is None:
        return []
    if not isinstance(items, list):
        raise PowerPlatformError(
            f"{reply.what}: {key!r} is not a list",
            status=reply.status,
            request_id=reply.request_id,
        )
    return items


def _parse_items(
    reply: Reply, items: list[Any], parse: Callable[[Mapping[str, Any]], T]
) -> list[T]:
    def run() -> list[T]:
        out: list[T] = []
        for item in items:
            if not isinstance(item, Mapping):
                raise ValueError("list item is not a JSON object")
            out.append(parse(item))
        return out

    return _parse(reply, run)
