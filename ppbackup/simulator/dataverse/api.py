"""The Dataverse Web API of every simulated environment, at `<simulator>/orgs/<environment id>`.

`DataverseApi.handle` runs after the simulator's shared pipeline (latency, token bucket, random
429s, injected 5xx: `app.py`) and adds what is Dataverse's own: the service protection limits
(`limits.py`), the `{"error": {"code": "0x...", "message"}}` envelope, `x-ms-dop-hint`, then
routes to metadata, `WhoAmI`, rows (`tables.py`) or `$batch` (`batch.py`). Each environment's
organisation (`store.Org`) is made on first use from its seed, so an environment nobody reads
costs nothing.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ppbackup.simulator.dataverse import errors as dverr
from ppbackup.simulator.dataverse import recycle_bin
from ppbackup.simulator.dataverse import schema as meta
from ppbackup.simulator.dataverse.limits import ServiceProtection, Throttled
from ppbackup.simulator.dataverse.query import parse_filter, parse_prefer
from ppbackup.simulator.dataverse.store import Org
from ppbackup.simulator.dataverse.tables import TableApi, json_object
from ppbackup.simulator.errors import SimError
from ppbackup.simulator.messages import Request, Response
from ppbackup.simulator.state import SimState
from ppbackup.simulator.wire import dataverse_url

ORG_PREFIX = "/orgs/"
API_ROOT = "/api/data/v9.2/"
_PATH = re.compile(r"^/orgs/(?P<env>[^/]+)(?P<rest>/.*)?$")
_ROW = re.compile(r"^(?P<set>[A-Za-z_]\w*)(?:\((?P<key>[^)]*)\))?$")
_BULK = re.compile(r"^(?P<set>[A-Za-z_]\w*)/Microsoft\.Dynamics\.CRM\.(?P<message>\w+)$")
_REF = re.compile(r"^(?P<set>[A-Za-z_]\w*)\((?P<key>[^)]*)\)/(?P<nav>\w+)"
                  r"(?:\((?P<ref>[^)]*)\))?/\$ref$")
_METADATA = re.compile(
    r"^EntityDefinitions(?:\((?P<key>[^)]*)\))?"
    r"(?:/(?P<nav>Attributes|ManyToOneRelationships|OneToManyRelationships|"
    r"ManyToManyRelationships)(?:/Microsoft\.Dynamics\.CRM\.(?P<cast>\w+))?"
    r"(?:\((?P<akey>[^)]*)\))?)?$"
)
_NAME_KEY = re.compile(r"^LogicalName\s*=\s*'(?P<name>[^']*)'$")
_AFFINITY = "5f2c0e7d1b9a4c3e8d6f0a1b2c3d4e5f"
_BUSINESS_UNIT = uuid.UUID("3d1f2a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b")


def is_dataverse_path(path: str) -> bool:
    return path.startswith(ORG_PREFIX)


def route_name(request: Request) -> str:
    """Stats name of a Dataverse request ("dv.rows", "dv.batch", ...)."""
    match = _PATH.match(request.path)
    rest = (match.group("rest") or "") if match else ""
    tail = rest[len(API_ROOT):] if rest.startswith(API_ROOT) else None
    if tail is None:
        return "dv.unknown"
    if tail == "$batch":
        return "dv.batch"
    if tail.startswith("EntityDefinitions"):
        return "dv.metadata"
    if tail.startswith("WhoAmI"):
        return "dv.whoami"
    if tail == "Restore":
        return "dv.restore"
    if _REF.match(tail):
        return "dv.ref"
    if _BULK.match(tail):
        return "dv.bulk"
    row = _ROW.match(tail)
    if row is None:
        return "dv.unknown"
    return "dv.row" if row.group("key") is not None else "dv.rows"


class DataverseApi:
    def __init__(self, state: SimState, base_url: Callable[[], str]) -> None:
        self.state = state
        self._base_url = base_url
        self._lock = threading.Lock()
        self.orgs: dict[str, Org] = {}
        self.limits = ServiceProtection(state.options)

    # ------------------------------------------------------------------ organisations

    def org_url(self, env_id: str) -> str:
        """The environment's `instanceApiUrl` (and `instanceUrl`)."""
        return dataverse_url(self._base_url(), env_id)

    def org(self, env_id: str) -> Org:
        """The environment's organisation, seeded on first use (404 for an unknown one)."""
        self.state.environment(env_id)
        return self._ensure(env_id)

    def _ensure(self, env_id: str) -> Org:
        with self._lock:
            org = self.orgs.get(env_id)
            if org is None:
                org = Org(env_id, self.state.options.dataverse_rows)
                self.orgs[env_id] = org
            return org

    def reset(self) -> None:
        with self._lock:
            self.orgs.clear()
        self.limits.reset()

    def on_restore(self, source_id: str, target_id: str, point: datetime) -> None:
        """An environment restore finished: the target's Dataverse becomes the source's as it
        stood at `point` (same ids; the target's change tracking tokens expire). Called from
        `SimState.settle` with the state lock held: takes only organisation locks, and no
        organisation lock holder waits for the state lock (`handle` reads the clock first)."""
        source = self._ensure(source_id)  # not `org`: it would settle again, re-entering here
        restored = source.as_of(
            target_id, point,
            keep_connections=self.state.options.dataverse_restore_keeps_connections)
        with self._lock:
            self.orgs[target_id] = restored

    def dump(self) -> list[dict[str, Any]]:
        """The organisations in use, as `--state` saves them."""
        from ppbackup.simulator.dataverse.persist import dump_org

        with self._lock:
            orgs = list(self.orgs.values())
        return [dump_org(org) for org in orgs]

    def load(self, saved: list[dict[str, Any]]) -> None:
        from ppbackup.simulator.dataverse.persist import load_org

        loaded = [load_org(data) for data in saved]
        with self._lock:
            self.orgs = {org.env_id: org for org in loaded}

    # ------------------------------------------------------------------ pipeline

    def headers(self) -> dict[str, str]:
        return {"OData-Version": "4.0",
                "x-ms-dop-hint": str(self.state.options.dataverse_dop_hint)}

    def error_response(self, error: SimError) -> Response:
        if error.code == "TooManyRequests":  # a random 429 of the shared fault switches
            limit = self.state.options.dataverse_requests_per_window
            window = self.state.options.dataverse_window_seconds
            error = SimError(429, dverr.REQUESTS_EXCEEDED,
                             f"Number of requests exceeded the limit of {limit} over time "
                             f"window of {window:g} seconds.")
        response = Response(error.status, dverr.error_body(error), self.headers())
        if isinstance(error, Throttled):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    def handle(self, request: Request) -> Response:
        user = request.headers.get("Authorization") or request.headers.get(
            "authorization") or "anonymous"
        try:
            env_id, tail = self._split(request.path)
            org = self.org(env_id)
            self.limits.enter(user)
        except SimError as error:
            return self.error_response(error)
        started = time.monotonic()
        rows = 0
        info: dict[str, str] = {}
        try:
            now = self.state.now()  # before the organisation lock: see `on_restore`
            with org.lock:
                response, rows = self.execute(org, env_id, request, tail, {}, now)
        except SimError as error:
            response = self.error_response(error)
        finally:
            cost = rows * self.state.options.dataverse_row_cost_ms / 1000
            info = self.limits.leave(user, time.monotonic() - started + cost)
        for name, value in {**self.headers(), **info}.items():
            response.headers.setdefault(name, value)
        # Server affinity, as the platform sets it; clients that want every web server's limits
        # do not send it back (reference §7.3).
        response.headers.setdefault("Set-Cookie", f"ARRAffinity={_AFFINITY}; Path=/; HttpOnly")
        return response

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        match = _PATH.match(path)
        if match is None:
            raise dverr.resource_not_found(path)
        rest = match.group("rest") or ""
        if not rest.startswith(API_ROOT):
            raise dverr.resource_not_found(rest or "/")
        return match.group("env"), rest[len(API_ROOT):]

    def execute(self, org: Org, env_id: str, request: Request, tail: str,
                content_ids: Mapping[str, str], now: datetime) -> tuple[Response, int]:
        """One request (top-level or inside a `$batch`); returns it with the rows it touched."""
        base = f"{self.org_url(env_id)}{API_ROOT}"
        method = request.method
        if tail == "$batch":
            if method != "POST":
                raise SimError(405, "0x0", "$batch accepts POST only.")
            from ppbackup.simulator.dataverse.batch import run_batch

            return run_batch(self, org, env_id, request, now)
        if tail.startswith("EntityDefinitions"):
            _only(method, "GET")
            return Response(200, self._metadata(org, base, tail, request)), 0
        if tail in ("WhoAmI", "WhoAmI()"):
            _only(method, "GET")
            return Response(200, {
                "@odata.context": f"{base}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                "BusinessUnitId": str(uuid.uuid5(_BUSINESS_UNIT, env_id)),
                "UserId": org.id_of("systemuser", 0),
                "OrganizationId": str(uuid.uuid5(uuid.NAMESPACE_URL, env_id)),
            }), 0
        if tail == "":
            _only(method, "GET")
            return Response(200, {"@odata.context": f"{base}$metadata", "value": [
                {"name": d.table.entity_set, "kind": "EntitySet", "url": d.table.entity_set}
                for d in org.tables.values()]}), 0
        prefer = parse_prefer(request.headers)
        api = TableApi(org, base, now,
                       expire_days=self.state.options.dataverse_change_tracking_days,
                       content_ids=content_ids)
        if tail == "Restore":
            _only(method, "POST")
            response = recycle_bin.restore(api, request, json_object(request))
            return response, api.rows_touched
        bulk = _BULK.match(tail)
        if bulk is not None:
            _only(method, "POST")
            response = api.bulk(bulk.group("set"), bulk.group("message"), request)
            return response, api.rows_touched
        ref = _REF.match(tail)
        if ref is not None:
            response = api.reference(ref.group("set"), ref.group("key"), ref.group("nav"),
                                     ref.group("ref"), request)
            return response, api.rows_touched
        match = _ROW.match(tail)
        if match is None:
            raise dverr.resource_not_found(tail.split("/")[0].split("(")[0] or tail)
        entity_set, key = match.group("set"), match.group("key")
        if key is None:
            if method == "GET":
                response = api.read_collection(entity_set, request, prefer)
            elif method == "POST":
                response = api.create(entity_set, request, prefer)
            else:
                raise SimError(405, "0x0", f"{method} is not allowed on an entity set.")
        elif method == "GET":
            response = api.read_one(entity_set, key, request, prefer)
        elif method == "PATCH":
            response = api.upsert(entity_set, key, request, prefer)
        elif method == "DELETE":
            response = api.delete(entity_set, key, request)
        else:
            raise SimError(405, "0x0", f"{method} is not allowed on a row.")
        return response, api.rows_touched

    # ------------------------------------------------------------------ metadata

    def _metadata(self, org: Org, base: str, tail: str, request: Request) -> dict[str, Any]:
        match = _METADATA.match(tail)
        if match is None:
            raise dverr.resource_not_found(tail)
        tables = org.schema
        key, nav = match.group("key"), match.group("nav")
        context = f"{base}$metadata#{tail}"
        if key is None:
            if nav is not None:
                raise dverr.resource_not_found(nav)
            items = [meta.entity_metadata(t) for t in tables.values()]
            return {"@odata.context": context, "value": _query(items, request)}
        table = _table_by_key(tables, key)
        if nav is None:
            return {"@odata.context": context, **_project(meta.entity_metadata(table), request)}
        if nav == "Attributes":
            found = [meta.attribute_metadata(table, c) for c in table.columns.values()]
            cast = match.group("cast")
            if cast is not None:
                found = [a for a in found if a["@odata.type"].endswith(f".{cast}")]
        elif nav == "ManyToOneRelationships":
            found = meta.many_to_one(table, tables)
        elif nav == "OneToManyRelationships":
            found = meta.one_to_many(table, tables)
        else:
            found = meta.many_to_many(table, tables)
        akey = match.group("akey")
        if akey is not None:
            name = _NAME_KEY.match(akey)
            hits = [a for a in found
                    if (name is not None and a.get("LogicalName") == name.group("name"))
                    or a.get("MetadataId") == akey.lower()]
            if not hits:
                raise dverr.resource_not_found(akey)
            return {"@odata.context": context, **_project(hits[0], request)}
        return {"@odata.context": context, "value": _query(found, request)}


def _only(method: str, allowed: str) -> None:
    if method != allowed:
        raise SimError(405, "0x0", f"{method} is not allowed here; use {allowed}.")


def _table_by_key(tables: Mapping[str, meta.Table], key: str) -> meta.Table:
    name = _NAME_KEY.match(key.strip())
    for table in tables.values():
        if name is not None and table.logical_name == name.group("name"):
            return table
        if name is None and table.metadata_id == key.strip().lower():
            return table
    raise SimError(404, dverr.OBJECT_DOES_NOT_EXIST,
                   f"Could not find entity with key '{key}'.")


def _project(item: dict[str, Any], request: Request) -> dict[str, Any]:
    text = request.param("$select")
    if not text:
        return item
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in item:
            raise dverr.bad_query(f"Could not find a property named '{name}' on type "
                                  "'Microsoft.Dynamics.CRM.EntityMetadata'.")
    keep = {"MetadataId", "@odata.type", *names}
    return {k: v for k, v in item.items() if k in keep}


def _query(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    """$filter and $select over metadata; metadata is never paged (reference §2.1)."""
    text = request.param("$filter")
    if text is not None:
        predicate = parse_filter(text).predicate
        items = [i for i in items if predicate(i)]
    return [_project(i, request) for i in items]
