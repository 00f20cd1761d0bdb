"""The platform endpoints of the wire contract (`docs/platform-wire.md`), BAP and PP API.

`PlatformApi.resolve` maps a request to a route (its name feeds the stats, its dialect picks the
error envelope even for faults injected before the route runs); `dispatch` runs it. Handlers
parse and validate the wire form, call `SimState`, and render with `wire`.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlencode

from ppbackup.simulator import wire
from ppbackup.simulator.errors import SimError, bad_request, not_found
from ppbackup.simulator.faults import FaultInjector
from ppbackup.simulator.messages import Request, Response
from ppbackup.simulator.model import Environment, Operation, OpState
from ppbackup.simulator.state import RestoreRequest, SimState

Dialect = Literal["bap", "pp"]
Handler = Callable[["PlatformApi", Request, dict[str, str]], Response]
T = TypeVar("T")

_BAP = re.escape(wire.BAP_PREFIX)
_PP = re.escape(wire.PP_PREFIX)
_ENV = r"(?P<env>[^/]+)"
_SKU_FILTER = re.compile(r"^\s*properties/environmentSku\s+eq\s+'(?P<sku>[A-Za-z]+)'\s*$")
_RUNTIME_STATES = ("Enabled", "AdminMode")
_BACKGROUND_STATES = ("Enabled", "Disabled")


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    method: str
    pattern: re.Pattern[str]
    api_version: str
    handler: Handler

    @property
    def dialect(self) -> Dialect:
        return "bap" if self.name.startswith("bap.") else "pp"


@dataclass(frozen=True, slots=True)
class Resolved:
    name: str
    dialect: Dialect
    route: Route | None
    params: dict[str, str] = field(default_factory=dict)
    error: SimError | None = None


def dialect_of(path: str) -> Dialect:
    return "bap" if path.startswith(wire.BAP_PREFIX) else "pp"


class PlatformApi:
    def __init__(
        self, state: SimState, faults: FaultInjector, base_url: Callable[[], str]
    ) -> None:
        self.state = state
        self.faults = faults
        self._base_url = base_url
        self._lock = threading.Lock()
        self._header_flip = itertools.count()
        self._error_flip = itertools.count()

    # ------------------------------------------------------------------ routing

    def resolve(self, request: Request) -> Resolved:
        path_matched = False
        for route in _ROUTES:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            path_matched = True
            if route.method == request.method:
                return Resolved(route.name, route.dialect, route, match.groupdict())
        dialect = dialect_of(request.path)
        if path_matched:
            error = SimError(405, "MethodNotAllowed", f"{request.method} is not supported here.")
            return Resolved("method_not_allowed", dialect, None, error=error)
        error = SimError(404, "NotFound", f"No route for {request.method} {request.path}.")
        return Resolved("unknown", dialect, None, error=error)

    def dispatch(self, request: Request, resolved: Resolved) -> Response:
        try:
            if resolved.route is None:
                raise resolved.error or SimError(404, "NotFound", "No such route.")
            self._check_api_version(request, resolved.route.api_version)
            return resolved.route.handler(self, request, resolved.params)
        except SimError as error:
            return self.error_response(error, resolved.dialect)

    def error_response(self, error: SimError, dialect: Dialect) -> Response:
        if dialect == "bap":
            return Response(error.status, wire.bap_error(error.code, error.message))
        style = self.state.options.pp_error_style
        short = style == "error" or (style == "alternate" and next(self._error_flip) % 2 == 1)
        return Response(error.status, wire.pp_error(error, short_form=short))

    @staticmethod
    def _check_api_version(request: Request, expected: str) -> None:
        given = request.param("api-version")
        if given is None:
            raise SimError(400, "MissingApiVersionParameter",
                           "The api-version query parameter is required.")
        if given != expected:
            raise SimError(400, "InvalidApiVersionParameter",
                           f"api-version '{given}' is not supported here; use '{expected}'.")

    # ------------------------------------------------------------------ helpers

    @property
    def base_url(self) -> str:
        return self._base_url()

    def _status_base(self) -> str:
        return (self.state.options.status_base_url or self.base_url).rstrip("/")

    def _retry_after(self) -> dict[str, str]:
        seconds = self.state.options.retry_after
        if seconds is None:
            return {}
        if self.state.options.retry_after_format == "http-date":
            return {"Retry-After": formatdate(time.time() + seconds, usegmt=True)}
        return {"Retry-After": str(seconds)}

    def _bap_accepted(self, op: Operation) -> Response:
        url = (f"{self._status_base()}{wire.BAP_PREFIX}/lifecycleOperations/{op.id}"
               f"?api-version={wire.API_BAP_LIFECYCLE}")
        mode = self.state.options.status_header
        if mode == "alternate":
            with self._lock:
                flip = next(self._header_flip)
            mode = "Location" if flip % 2 == 0 else "Operation-Location"
        names = ("Location", "Operation-Location") if mode == "both" else (mode,)
        headers = {name: url for name in names}
        headers.update(self._retry_after())
        return Response(202, headers=headers)

    def environment_json(self, env: Environment) -> dict[str, Any]:
        state = self.state
        with state.lock:
            now = state.settle()
            return wire.bap_environment(
                env,
                busy=state.active_operation(env.id) is not None,
                restorable_from=state.restorable_from(env, now),
                retention_days=state.retention_days(env),
                tenant_id=state.tenant_id,
                dataverse=wire.dataverse_url(self.base_url, env.id),
            )

    def _page(
        self, items: Sequence[T], seq: Callable[[T], int], token: str | None, *,
        descending: bool, limit: int | None = None,
    ) -> tuple[list[T], str | None]:
        """Keyset paging: items are already ordered by `seq`; the token is the last seq given."""
        size = min(limit or self.state.options.page_size, self.state.options.page_size)
        if token:
            after = wire.decode_token(token)
            items = [i for i in items if (seq(i) < after if descending else seq(i) > after)]
        page = list(items[:size])
        more = len(items) > size
        return page, (wire.encode_token(seq(page[-1])) if more and page else None)

    def _visible_operation(self, op_id: str) -> Operation:
        op = self.state.operation(op_id)
        if self.faults.hidden_early(op.created_monotonic):
            # Reference §3.6: a status URL sometimes answers 404 right after the start.
            raise not_found("Operation", op_id)
        return op

    # ------------------------------------------------------------------ BAP handlers

    def list_environments(self, request: Request, params: dict[str, str]) -> Response:
        envs = self.state.list_environments()
        query_filter = request.param("$filter")
        if query_filter:
            match = _SKU_FILTER.match(query_filter)
            if match is None:
                raise SimError(400, "InvalidFilter",
                               "Only $filter=properties/environmentSku eq '<type>' is supported.")
            envs = [e for e in envs if e.sku == match["sku"]]
        page, token = self._page(envs, lambda e: e.seq, request.param("$skiptoken"),
                                 descending=False)
        body: dict[str, Any] = {"value": [self.environment_json(e) for e in page]}
        if token:
            query = {"api-version": wire.API_BAP_READ, "$skiptoken": token}
            if query_filter:
                query["$filter"] = query_filter
            body["nextLink"] = (
                f"{self.base_url}{wire.BAP_PREFIX}/scopes/admin/environments?"
                + urlencode(query, quote_via=quote, safe="$")
            )
        return Response(200, body)

    def get_environment(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, self.environment_json(self.state.environment(params["env"])))

    def update_environment(self, request: Request, params: dict[str, str]) -> Response:
        self.state.environment(params["env"])
        body = request.json()
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            raise bad_request("InvalidRequestBody", "The body must have a 'properties' object.")
        runtime = _dig(properties, "states", "runtime", "id")
        background = _dig(properties, "linkedEnvironmentMetadata", "backgroundOperationsState")
        if runtime is None and background is None:
            raise bad_request(
                "InvalidRequestBody",
                "Set properties.states.runtime.id and/or "
                "properties.linkedEnvironmentMetadata.backgroundOperationsState.",
            )
        if runtime is not None and runtime not in _RUNTIME_STATES:
            raise bad_request("InvalidRuntimeState",
                              f"runtime id must be one of {_RUNTIME_STATES}, not {runtime!r}.")
        if background is not None and background not in _BACKGROUND_STATES:
            raise bad_request(
                "InvalidBackgroundOperationsState",
                f"backgroundOperationsState must be one of {_BACKGROUND_STATES}, "
                f"not {background!r}.",
            )
        op = self.state.start_runtime_change(
            params["env"], runtime_state=runtime, background_operations=background,
            created_monotonic=time.monotonic(),
        )
        return self._bap_accepted(op)

    def modify_sku(self, request: Request, params: dict[str, str]) -> Response:
        self.state.environment(params["env"])
        body = request.json()
        sku = body.get("environmentSku") if isinstance(body, dict) else None
        if not isinstance(sku, str):
            raise bad_request("InvalidRequestBody", "environmentSku is required.",
                              "environmentSku")
        op = self.state.start_modify_sku(params["env"], sku, created_monotonic=time.monotonic())
        return self._bap_accepted(op)

    def lifecycle_operation(self, request: Request, params: dict[str, str]) -> Response:
        op = self._visible_operation(params["op"])
        with self.state.lock:
            now = self.state.settle()
            body = wire.bap_lifecycle(op, now, self.state.tenant_id)
        if op.state_at(now) in (OpState.SUCCEEDED, OpState.FAILED):
            return Response(200, body)
        return Response(202, body, headers=self._retry_after())

    # ------------------------------------------------------------------ PP API handlers

    def _backup_conflict(self) -> Response | None:
        conflict, empty = self.faults.backup_conflict()
        if not conflict:
            return None
        if empty:
            return Response(409, raw_body=b"")
        return self.error_response(SimError(409, "OperationNotStartable",
                                            "Simulated conflict on a backup request."), "pp")

    def create_backup(self, request: Request, params: dict[str, str]) -> Response:
        self.state.environment(params["env"])
        conflict = self._backup_conflict()
        if conflict is not None:
            return conflict
        body = request.json()
        label = body.get("label") if isinstance(body, dict) else None
        if not isinstance(label, str) or not label.strip():
            raise bad_request("InvalidLabel", "label is required.", "label")
        backup = self.state.create_backup(params["env"], label)
        return Response(201, wire.backup_json(backup, self.state.tenant_id))

    def list_backups(self, request: Request, params: dict[str, str]) -> Response:
        backups = self.state.list_backups(params["env"])
        page, token = self._page(backups, lambda b: b.list_key,
                                 request.param("continuationToken"), descending=True)
        return Response(200, {
            "collection": [wire.backup_json(b, self.state.tenant_id) for b in page],
            "continuationToken": token,
        })

    def delete_backup(self, request: Request, params: dict[str, str]) -> Response:
        self.state.environment(params["env"])
        conflict = self._backup_conflict()
        if conflict is not None:
            return conflict
        self.state.delete_backup(params["env"], params["backup"])
        return Response(204)

    def restore_candidates(self, request: Request, params: dict[str, str]) -> Response:
        candidates = self.state.restore_candidates(params["env"])
        page, token = self._page(candidates, lambda e: e.seq, request.param("continuationToken"),
                                 descending=False)
        return Response(200, {"collection": [wire.restore_candidate(e) for e in page],
                              "continuationToken": token})

    def restore(self, request: Request, params: dict[str, str]) -> Response:
        target = params["env"]
        self.state.environment(target)
        restore = _parse_restore(request.json())
        validate_only = (request.param("ValidateOnly", ignore_case=True) or "").lower() == "true"
        if validate_only:
            self.state.validate_restore(target, restore)
            # Reference §3.3: the endpoint's one documented success is a 202 with no schema,
            # and ValidateOnly is only a query option of it; a body naming the outcome would
            # be something a client came to rely on that the platform never promised.
            return Response(202)
        op = self.state.start_restore(target, restore, created_monotonic=time.monotonic())
        if not self.state.options.restore_operation_location:
            return Response(202)  # the documented form: no status header at all
        url = (f"{self._status_base()}{wire.PP_PREFIX}/operations/{op.id}"
               f"?api-version={wire.API_PP}")
        return Response(202, headers={"Operation-Location": url, **self._retry_after()})

    def _operation_response(self, op: Operation) -> Response:
        with self.state.lock:
            now = self.state.settle()
            target = self.state.environments.get(op.environment_id)
            body = wire.pp_operation(op, now, self.state.tenant_id, target)
        running = op.state_at(now) not in (OpState.SUCCEEDED, OpState.FAILED)
        return Response(200, body, headers=self._retry_after() if running else {})

    def get_operation(self, request: Request, params: dict[str, str]) -> Response:
        return self._operation_response(self._visible_operation(params["op"]))

    def get_environment_operation(self, request: Request, params: dict[str, str]) -> Response:
        self.state.environment(params["env"])
        op = self._visible_operation(params["op"])
        if op.environment_id != params["env"]:
            raise not_found("Operation", params["op"])
        return self._operation_response(op)

    def list_operations(self, request: Request, params: dict[str, str]) -> Response:
        ops = self.state.list_operations(params["env"])
        if self.faults.hide_in_list():
            ops = [o for o in ops if not self.faults.hidden_early(o.created_monotonic)]
        limit_text = request.param("limit")
        limit = None
        if limit_text is not None:
            if not limit_text.isdigit() or int(limit_text) < 1:
                raise bad_request("InvalidLimit", "limit must be a positive integer.", "limit")
            limit = int(limit_text)
        newest_first = self.state.options.operation_list_order == "newest-first"
        if not newest_first:
            ops = ops[::-1]  # `SimState.list_operations` is newest first
        page, token = self._page(ops, lambda o: o.seq, request.param("continuationToken"),
                                 descending=newest_first, limit=limit)
        with self.state.lock:
            now = self.state.settle()
            target = self.state.environments.get(params["env"])
            collection = [wire.pp_operation(o, now, self.state.tenant_id, target) for o in page]
        return Response(200, {"collection": collection, "continuationToken": token})


def _dig(data: dict[str, Any], *keys: str) -> Any:
    current: Any = data
    for key in keys:
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current


def _parse_restore(body: Any) -> RestoreRequest:
    if not isinstance(body, dict):
        raise bad_request("InvalidRequestBody", "The body must be a JSON object.")
    source = body.get("sourceEnvironmentId")
    if not isinstance(source, str) or not source:
        raise bad_request("InvalidRequestBody", "sourceEnvironmentId is required.",
                          "sourceEnvironmentId")
    point = wire.parse_time_with_offset(body.get("restorePointDateTime"), "restorePointDateTime")
    options = body.get("restoreOptions") or {}
    if not isinstance(options, dict):
        raise bad_request("InvalidRequestBody", "restoreOptions must be an object.",
                          "restoreOptions")
    skip = options.get("skipAuditData", False)
    name = options.get("environmentNameToOverride")
    group = options.get("securityGroupIdToOverride")
    if not isinstance(skip, bool):
        raise bad_request("InvalidRequestBody", "skipAuditData must be a boolean.",
                          "restoreOptions.skipAuditData")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise bad_request("InvalidRequestBody", "environmentNameToOverride must be a string.",
                          "restoreOptions.environmentNameToOverride")
    if group is not None:
        try:
            uuid.UUID(str(group))
        except ValueError as exc:
            raise bad_request("InvalidRequestBody", "securityGroupIdToOverride must be a GUID.",
                              "restoreOptions.securityGroupIdToOverride") from exc
    return RestoreRequest(
        source_environment_id=source,
        restore_point=point,
        skip_audit_data=skip,
        environment_name_to_override=name,
        security_group_id_to_override=str(group) if group is not None else None,
    )


def _route(name: str, method: str, pattern: str, version: str, handler: Handler) -> Route:
    return Route(name, method, re.compile(pattern), version, handler)


_ENVS = rf"{_BAP}/scopes/admin/environments"
_PP_ENV = rf"{_PP}/environments/{_ENV}"
_ROUTES: tuple[Route, ...] = (
    _route("bap.list_environments", "GET", _ENVS, wire.API_BAP_READ,
           PlatformApi.list_environments),
    _route("bap.get_environment", "GET", rf"{_ENVS}/{_ENV}", wire.API_BAP_READ,
           PlatformApi.get_environment),
    _route("bap.update_environment", "PATCH", rf"{_ENVS}/{_ENV}", wire.API_BAP_WRITE,
           PlatformApi.update_environment),
    _route("bap.modify_sku", "POST", rf"{_ENVS}/{_ENV}/modifySku", wire.API_BAP_WRITE,
           PlatformApi.modify_sku),
    _route("bap.lifecycle_operation", "GET", rf"{_BAP}/lifecycleOperations/(?P<op>[^/]+)",
           wire.API_BAP_LIFECYCLE, PlatformApi.lifecycle_operation),
    _route("pp.create_backup", "POST", rf"{_PP_ENV}/backups", wire.API_PP,
           PlatformApi.create_backup),
    _route("pp.list_backups", "GET", rf"{_PP_ENV}/backups", wire.API_PP,
           PlatformApi.list_backups),
    _route("pp.delete_backup", "DELETE", rf"{_PP_ENV}/backups/(?P<backup>[^/]+)", wire.API_PP,
           PlatformApi.delete_backup),
    _route("pp.restore_candidates", "GET", rf"{_PP_ENV}/restoreCandidates", wire.API_PP,
           PlatformApi.restore_candidates),
    _route("pp.restore", "POST", rf"{_PP_ENV}/restore", wire.API_PP, PlatformApi.restore),
    _route("pp.get_operation", "GET", rf"{_PP}/operations/(?P<op>[^/]+)", wire.API_PP,
           PlatformApi.get_operation),
    _route("pp.list_operations", "GET", rf"{_PP_ENV}/operations", wire.API_PP,
           PlatformApi.list_operations),
    _route("pp.get_environment_operation", "GET", rf"{_PP_ENV}/operations/(?P<op>[^/]+)",
           wire.API_PP, PlatformApi.get_environment_operation),
)
