"""Row reads and writes of the Web API (reference §3-§5), over one organisation's `Org`.

`TableApi` is called with the organisation lock held; it parses the wire form, applies the
platform's rules (conditional writes, lookups through `@odata.bind`, read-only columns ignored,
`statecode` alone getting its default `statuscode`), records every successful write in the
org's write log, and renders answers with `render.py`.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from ppbackup.simulator.dataverse import errors as dverr
from ppbackup.simulator.dataverse import recycle_bin
from ppbackup.simulator.dataverse.query import (
    MAX_PAGE_SIZE,
    Filter,
    Prefer,
    decode_deltatoken,
    decode_skiptoken,
    encode_deltatoken,
    encode_skiptoken,
    parse_filter,
    parse_guid,
    parse_key,
)
from ppbackup.simulator.dataverse.render import etag, row_json, select_context
from ppbackup.simulator.dataverse.schema import (
    BOOLEAN,
    DATETIME,
    DECIMAL,
    MEMO,
    MONEY,
    OWNER,
    STATE,
    STATUS,
    STRING,
    UNIQUEIDENTIFIER,
    Column,
    Table,
    many_to_many,
)
from ppbackup.simulator.dataverse.store import Org, TableData, WriteRecord
from ppbackup.simulator.errors import SimError
from ppbackup.simulator.messages import Request, Response

_NOT_WITH_TRACKING = ("$filter", "$orderby", "$expand", "$top")
_UNSUPPORTED = ("$orderby", "$expand", "$skip", "$apply", "$count", "$search")
_LINK_SAFE = ",()'/:"
_INT_TYPES = frozenset({"Integer", "BigInt", "Picklist", STATE, STATUS})


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class TableApi:
    """Row endpoints of one organisation; `base` is its Web API root (ends with `/`)."""

    def __init__(self, org: Org, base: str, now: datetime, *,
                 expire_days: float, content_ids: Mapping[str, str] | None = None) -> None:
        self.org = org
        self.base = base
        self.now = now
        self.expire_days = expire_days
        self.content_ids = content_ids or {}
        self.rows_touched = 0
        """Rows read or written by this call (the execution-time charge)."""

    # ------------------------------------------------------------------ helpers

    def table(self, entity_set: str) -> TableData:
        data = self.org.by_set(entity_set)
        if data is None:
            raise dverr.resource_not_found(entity_set)
        return data

    def check_privilege(self, data: TableData, privilege: str) -> None:
        if privilege in self.org.revoked.get(data.table.logical_name, set()):
            app_user = self.org.id_of("systemuser", 0)
            raise dverr.privilege_denied(app_user, privilege, data.table.logical_name)

    def _render(self, data: TableData, row_id: str, select: tuple[str, ...] | None,
                prefer: Prefer) -> dict[str, Any] | None:
        raw = self.org.raw(data, row_id)
        if raw is None:
            return None
        return self.render_raw(data, row_id, raw, select, prefer)

    def render_raw(self, data: TableData, row_id: str, raw: dict[str, Any],
                   select: tuple[str, ...] | None, prefer: Prefer) -> dict[str, Any]:
        """A row's raw columns (live or from the recycle bin) as the Web API shows them."""
        self.rows_touched += 1
        return row_json(data.table, raw, data.version(row_id), select, prefer, self.org.name)

    @staticmethod
    def finish_row(table: Table, raw: dict[str, Any]) -> None:
        """What the platform does to a row's columns before storing it: derived columns, and a
        statecode/statuscode pair that does not match is refused."""
        _derive(table, raw)
        _check_status(table, raw)

    @staticmethod
    def _select(table: Table, request: Request) -> tuple[str, ...] | None:
        text = request.param("$select")
        if text is None or not text.strip():
            return None
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        known = {c.read_name for c in table.columns.values()}
        for name in names:
            if name not in known:
                raise dverr.unknown_property(table.logical_name, name)
        return names

    def _link(self, entity_set: str, request: Request, drop: tuple[str, ...],
              extra: tuple[str, str]) -> str:
        parts = [f"{k}={quote(v[-1], safe=_LINK_SAFE)}" for k, v in request.query.items()
                 if k not in drop]
        parts.append(f"{extra[0]}={quote(extra[1], safe='')}")
        return f"{self.base}{entity_set}?{'&'.join(parts)}"

    # ------------------------------------------------------------------ reads

    def read_collection(self, entity_set: str, request: Request, prefer: Prefer) -> Response:
        data = self.table(entity_set)
        self.check_privilege(data, "Read")
        if request.param("fetchXml") is not None:
            return recycle_bin.query(self, data, request, prefer)
        table = data.table
        select = self._select(table, request)
        params = {k for k in request.query}
        skip_state = (decode_skiptoken(request.param("$skiptoken") or "")
                      if request.param("$skiptoken") is not None else None)
        delta = request.param("$deltatoken")
        tracking = (table.change_tracking and prefer.track_changes) or delta is not None or (
            skip_state is not None and skip_state.get("u") is not None)
        if tracking:
            for name in _NOT_WITH_TRACKING:
                if name in params:
                    raise dverr.bad_query(f'The "{name}" query parameter isn\'t supported when '
                                          "Change Tracking is enabled.")
        for name in _UNSUPPORTED:
            if name in params:
                raise dverr.bad_query(f"The simulator does not support {name}.")
        page_size = prefer.max_page_size or MAX_PAGE_SIZE
        headers: dict[str, str] = {}
        applied = []
        if prefer.max_page_size is not None:
            applied.append(f"odata.maxpagesize={page_size}")
        if tracking:
            applied.append("odata.track-changes")
        if prefer.annotations:
            applied.append(f'odata.include-annotations="{",".join(prefer.annotations)}"')
        if applied:
            headers["Preference-Applied"] = ",".join(applied)
        if delta is not None or (skip_state is not None and skip_state.get("k") == "d"):
            body = self._delta_page(data, request, prefer, select, page_size, delta, skip_state)
        else:
            body = self._full_page(data, request, prefer, select, page_size, tracking,
                                   skip_state)
        return Response(200, body, headers)

    def _filter(self, table: Table, request: Request) -> Filter | None:
        text = request.param("$filter")
        if text is None:
            return None
        parsed = parse_filter(text)
        known = {c.read_name for c in table.columns.values()}
        for name in parsed.properties:
            if name not in known:
                raise dverr.unknown_property(table.logical_name, name)
        return parsed

    def _full_page(self, data: TableData, request: Request, prefer: Prefer,
                   select: tuple[str, ...] | None, page_size: int, tracking: bool,
                   state: dict[str, Any] | None) -> dict[str, Any]:
        table = data.table
        filt = self._filter(table, request)
        top_text = request.param("$top")
        limit = page_size
        if top_text is not None and prefer.max_page_size is None:
            if not top_text.isdigit():
                raise dverr.bad_query(f"Invalid value '{top_text}' for $top query option.")
            limit = min(int(top_text), MAX_PAGE_SIZE)
        after = -1
        upto, issued = self.org.version, _fmt(self.now)
        if state is not None:
            if state.get("k") != "r" or not isinstance(state.get("p"), int):
                raise dverr.invalid_token("$skiptoken")
            after = int(state["p"])
            upto = int(state["u"]) if state.get("u") is not None else upto
            issued = str(state.get("i") or issued)
        rows: list[dict[str, Any]] = []
        more = False
        last = after
        if filt is not None and filt.key_in and filt.key_in[0] == table.primary_id:
            # Direct lookups, in paging order, so a page token works as it does for a scan.
            found = sorted((p, i) for i in filt.key_in[1]
                           if (p := data.position(i)) is not None and p > after)
            for position, row_id in found:
                if len(rows) == limit:
                    more = top_text is None or prefer.max_page_size is not None
                    break
                row = self._render(data, row_id, select, prefer)
                if row is not None:
                    rows.append(row)
                    last = position
        else:
            for position, row_id in data.positions(after):
                raw = self.org.raw(data, row_id)
                if raw is None:
                    continue
                row = self.render_raw(data, row_id, raw, select, prefer)
                # The filter sees every column of the row: $select only shapes the answer.
                if filt is not None and not filt.predicate(row if select is None else row_json(
                        table, raw, data.version(row_id), None, prefer, self.org.name)):
                    continue
                if len(rows) == limit:
                    more = top_text is None or prefer.max_page_size is not None
                    break
                rows.append(row)
                last = position
        body: dict[str, Any] = {
            "@odata.context": select_context(self.base, table.entity_set, select),
            "value": rows,
        }
        if more:
            token = encode_skiptoken({"k": "r", "p": last, "u": upto if tracking else None,
                                      "i": issued if tracking else None})
            body["@odata.nextLink"] = self._link(table.entity_set, request, ("$skiptoken",),
                                                 ("$skiptoken", token))
        elif tracking:
            moment = datetime.fromisoformat(issued.replace("Z", "+00:00"))
            body["@odata.deltaLink"] = self._link(
                table.entity_set, request, ("$skiptoken", "$deltatoken"),
                ("$deltatoken", encode_deltatoken(upto, moment)))
        return body

    def _delta_page(self, data: TableData, request: Request, prefer: Prefer,
                    select: tuple[str, ...] | None, page_size: int, delta: str | None,
                    state: dict[str, Any] | None) -> dict[str, Any]:
        table = data.table
        if not table.change_tracking:
            raise dverr.bad_query(
                f"Change tracking is not enabled for entity '{table.logical_name}'.")
        if state is None:
            assert delta is not None
            since, issued = decode_deltatoken(delta)
            if since > self.org.version or since <= self.org.invalid_through:
                raise dverr.invalid_token("$deltatoken")
            too_old = self.now - issued > timedelta(days=self.expire_days)
            if too_old or since <= self.org.expired_through:
                raise dverr.expired_version_stamp()
            state = {"k": "d", "s": since, "u": self.org.version, "ph": 0, "v": since,
                     "i": _fmt(self.now)}
        try:
            since, upto, phase, last = (int(state["s"]), int(state["u"]), int(state["ph"]),
                                        int(state["v"]))
            issued_text = str(state["i"])
        except (KeyError, TypeError, ValueError) as exc:
            raise dverr.invalid_token("$skiptoken") from exc
        # New and changed rows first, then deletes (reference §4.7): two passes over the log,
        # each resuming after the last version handed out in its phase.
        upserts = ((0, v, i) for v, i in self.org.changes_since(
            data, last if phase == 0 else upto, upto) if data.exists(i))
        deletes = ((1, v, i) for v, i in self.org.changes_since(
            data, last if phase == 1 else since, upto) if not data.exists(i))
        pending = itertools.islice(itertools.chain(upserts, deletes), page_size + 1)
        page = list(pending)
        rest = page[page_size:]
        page = page[:page_size]
        deleted_context = f"{self.base}$metadata#{table.entity_set}/$deletedEntity"
        value: list[dict[str, Any]] = []
        for p, _v, row_id in page:
            if p == 0:
                row = self._render(data, row_id, select, prefer)
                if row is not None:
                    value.append(row)
            else:
                self.rows_touched += 1
                value.append({"@odata.context": deleted_context, "id": row_id,
                              "reason": "deleted"})
        body: dict[str, Any] = {
            "@odata.context": select_context(self.base, table.entity_set, select) + "/$delta",
            "value": value,
        }
        if rest:
            p, v, _ = page[-1]
            token = encode_skiptoken({"k": "d", "s": since, "u": upto, "ph": p, "v": v,
                                      "i": issued_text})
            body["@odata.nextLink"] = self._link(table.entity_set, request,
                                                 ("$skiptoken", "$deltatoken"),
                                                 ("$skiptoken", token))
        else:
            moment = datetime.fromisoformat(issued_text.replace("Z", "+00:00"))
            body["@odata.deltaLink"] = self._link(
                table.entity_set, request, ("$skiptoken", "$deltatoken"),
                ("$deltatoken", encode_deltatoken(upto, moment)))
        return body

    def read_one(self, entity_set: str, key: str, request: Request, prefer: Prefer) -> Response:
        data = self.table(entity_set)
        self.check_privilege(data, "Read")
        row_id = parse_key(key, data.table.primary_id, entity_set)
        select = self._select(data.table, request)
        row = self._render(data, row_id, select, prefer)
        if row is None:
            raise dverr.does_not_exist(data.table.logical_name, row_id)
        none_match = request.headers.get("If-None-Match") or _header(request, "if-none-match")
        if none_match and none_match == row["@odata.etag"] and not prefer.annotations:
            return Response(304)
        row = {"@odata.context": select_context(self.base, entity_set, select) + "/$entity",
               **row}
        return Response(200, row)

    # ------------------------------------------------------------------ writes

    def create(self, entity_set: str, request: Request, prefer: Prefer) -> Response:
        data = self.table(entity_set)
        _not_intersect(data.table, "Create")
        self.check_privilege(data, "Create")
        body = json_object(request)
        given = body.get(data.table.primary_id)
        row_id = parse_guid(given, data.table.primary_id) if given is not None else str(
            uuid.uuid4())
        if data.exists(row_id):
            raise SimError(412, dverr.DUPLICATE_RECORD,
                           "A record with matching key values already exists.")
        return self._write_new(data, row_id, body, request, prefer, status_plain=204)

    def upsert(self, entity_set: str, key: str, request: Request, prefer: Prefer) -> Response:
        data = self.table(entity_set)
        table = data.table
        _not_intersect(table, "Update")
        row_id = parse_key(key, table.primary_id, entity_set)
        body = json_object(request)
        given = body.get(table.primary_id)
        if given is not None and parse_guid(given, table.primary_id) != row_id:
            raise dverr.bad_query("The primary key in the body does not match the URL.")
        if_match = _header(request, "if-match")
        if_none_match = _header(request, "if-none-match")
        exists = data.exists(row_id)
        if if_none_match == "*" and exists:
            raise SimError(412, "", "A record with matching key values already exists.")
        if if_match is not None and not exists:
            raise SimError(404, "", f"{table.logical_name} With Id = {row_id} Does Not Exist")
        if if_match not in (None, "*") and if_match != etag(data.version(row_id)):
            raise SimError(412, "", "The version of the existing record doesn't match the "
                           "RowVersion property provided.")
        if not exists:
            self.check_privilege(data, "Create")
            return self._write_new(data, row_id, body, request, prefer, status_plain=204)
        self.check_privilege(data, "Write")
        raw = self.org.raw(data, row_id)
        assert raw is not None
        changes = self.column_values(table, body, creating=False)
        if table.logical_name == "workflow" and changes.get("statecode") == 1:
            self._check_connections(raw)
        raw.update(changes)
        raw["modifiedon"] = _fmt(self.now)
        self.finish_row(table, raw)
        self._store(data, row_id, raw, "update", body)
        if prefer.return_representation:
            row = self._render(data, row_id, self._select(table, request), prefer)
            return Response(200, row, {"Preference-Applied": "return=representation"})
        return Response(204, headers={"OData-EntityId": f"{self.base}{entity_set}({row_id})"})

    def _check_connections(self, flow: dict[str, Any]) -> None:
        """A cloud flow turns on only when every connection reference it uses has a
        connection (reference §9.2; a reference that does not exist counts as unbound)."""
        if flow.get("category") != 5 or not flow.get("clientdata"):
            return
        try:
            used = json.loads(flow["clientdata"])["properties"]["connectionReferences"]
        except (ValueError, KeyError, TypeError):
            return
        refs = self.org.tables["connectionreference"]
        bound: dict[str, bool] = {}
        for _, ref_id in refs.positions(-1):
            row = self.org.raw(refs, ref_id) or {}
            bound[str(row.get("connectionreferencelogicalname"))] = bool(row.get("connectionid"))
        for entry in used.values():
            logical = (entry.get("connection") or {}).get("connectionReferenceLogicalName")
            if logical and not bound.get(logical, False):
                raise dverr.connection_missing(logical)

    def delete(self, entity_set: str, key: str, request: Request) -> Response:
        data = self.table(entity_set)
        _not_intersect(data.table, "Delete")
        self.check_privilege(data, "Delete")
        row_id = parse_key(key, data.table.primary_id, entity_set)
        if not data.exists(row_id):
            raise dverr.does_not_exist(data.table.logical_name, row_id)
        if_match = _header(request, "if-match")
        if if_match not in (None, "*") and if_match != etag(data.version(row_id)):
            raise SimError(412, "", "The version of the existing record doesn't match the "
                           "RowVersion property provided.")
        self.org.remove(data, row_id, self.now)
        self.log_write(data, row_id, "delete", {})
        return Response(204)

    # ------------------------------------------------------------------ bulk messages

    def bulk(self, entity_set: str, message: str, request: Request) -> Response:
        """`<set>/Microsoft.Dynamics.CRM.{Create,Update,Upsert}Multiple` (reference §7.4): every
        target needs `@odata.type` naming the table; one transaction on a standard table, so
        any failing target rolls the whole request back."""
        data = self.table(entity_set)
        table = data.table
        if message == "DeleteMultiple":
            raise SimError(400, "0x0", "DeleteMultiple has not yet been implemented for "
                           f"standard tables such as '{table.logical_name}'; use BulkDelete.")
        if message not in ("CreateMultiple", "UpdateMultiple", "UpsertMultiple"):
            raise dverr.resource_not_found(f"Microsoft.Dynamics.CRM.{message}")
        targets = json_object(request).get("Targets")
        if not isinstance(targets, list) or not targets:
            raise dverr.bad_query(f"{message} needs a non-empty 'Targets' array.")
        wanted = f"Microsoft.Dynamics.CRM.{table.logical_name}"
        mark = self.org.begin()
        ids: list[str] = []
        try:
            for index, target in enumerate(targets):
                if not isinstance(target, dict) or target.get("@odata.type", "").lstrip(
                        "#") != wanted:
                    raise dverr.bad_query(f"Targets[{index}] needs \"@odata.type\": "
                                          f"\"{wanted}\".")
                ids.append(self._bulk_one(entity_set, message, target, request))
        except SimError:
            self.org.rollback(mark)
            raise
        self.org.commit(mark)
        if message == "CreateMultiple":
            return Response(200, {
                "@odata.context":
                    f"{self.base}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse",
                "Ids": ids,
            })
        return Response(204)

    def _bulk_one(self, entity_set: str, message: str, target: dict[str, Any],
                  request: Request) -> str:
        data = self.table(entity_set)
        pk = data.table.primary_id
        body = json.dumps(target).encode()
        if message == "CreateMultiple":
            inner = Request("POST", request.path, "", {}, body)
            created = self.create(entity_set, inner, Prefer())
            return created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
        if target.get(pk) is None:
            raise dverr.bad_query(f"Each target of {message} needs its primary key '{pk}'.")
        row_id = parse_guid(target[pk], pk)
        headers = {"If-Match": "*"} if message == "UpdateMultiple" else {}
        self.upsert(entity_set, row_id, Request("PATCH", request.path, "", headers, body),
                    Prefer())
        return row_id

    # ------------------------------------------------------------------ $ref

    def reference(self, entity_set: str, key: str, nav: str, ref_key: str | None,
                  request: Request) -> Response:
        """`<set>(<id>)/<nav>/$ref`: N:N associate (POST) and disassociate (DELETE), or set
        (PUT) and clear (DELETE) a single-valued lookup (reference §5.5)."""
        data = self.table(entity_set)
        table = data.table
        row_id = parse_key(key, table.primary_id, entity_set)
        if not data.exists(row_id):
            raise dverr.does_not_exist(table.logical_name, row_id)
        single = table.navigation().get(nav)
        if single is not None:
            if request.method == "PUT":
                body = json_object(request)
                return self._patch_raw(data, row_id, {f"{nav}@odata.bind": body.get(
                    "@odata.id")}, body)
            if request.method == "DELETE" and ref_key is None:
                return self._patch_raw(data, row_id, {f"{nav}@odata.bind": None}, {})
            raise SimError(405, "0x0", f"{request.method} is not allowed on {nav}/$ref.")
        relationship = next((r for r in many_to_many(table, self.org.schema)
                             if r["SchemaName"] == nav), None)
        if relationship is None:
            raise dverr.resource_not_found(nav)
        mine_is_1 = relationship["Entity1LogicalName"] == table.logical_name
        other = relationship["Entity2LogicalName" if mine_is_1 else "Entity1LogicalName"]
        mine_col = relationship["Entity1IntersectAttribute" if mine_is_1
                                else "Entity2IntersectAttribute"]
        other_col = relationship["Entity2IntersectAttribute" if mine_is_1
                                 else "Entity1IntersectAttribute"]
        inter = self.org.tables[relationship["IntersectEntityName"]]
        other_data = self.org.tables[other]
        if request.method == "POST" and ref_key is None:
            target = self._target_id(other_data, json_object(request).get("@odata.id"))
        elif request.method == "DELETE":
            target = (parse_key(ref_key, other_data.table.primary_id, nav) if ref_key
                      else self._target_id(other_data, request.param("$id")))
        else:
            raise SimError(405, "0x0", f"{request.method} is not allowed on {nav}/$ref.")
        pair = {mine_col: row_id, other_col: target}
        found = next((i for _, i in inter.positions(-1)
                      if {k: (self.org.raw(inter, i) or {}).get(k) for k in pair} == pair),
                     None)
        if request.method == "POST":
            if found is not None:
                raise SimError(412, dverr.DUPLICATE_RECORD,
                               "A record with matching key values already exists.")
            new_id = str(uuid.uuid4())
            self.org.put(inter, new_id, dict(pair), self.now)
            self.log_write(inter, new_id, "associate", {"@odata.id": target, "from": row_id})
            return Response(204)
        if found is None:
            raise dverr.does_not_exist(inter.table.logical_name, target)
        self.org.remove(inter, found, self.now)
        self.log_write(inter, found, "disassociate", {"@odata.id": target, "from": row_id})
        return Response(204)

    def _target_id(self, data: TableData, reference: Any) -> str:
        if not isinstance(reference, str) or "(" not in reference:
            raise dverr.bad_query("The body needs an '@odata.id' naming the related row, e.g. "
                                  f"\"{self.base}{data.table.entity_set}(<id>)\".")
        path = reference.split("/api/data/v9.2/", 1)[-1].lstrip("/")
        entity_set, _, rest = path.partition("(")
        if entity_set != data.table.entity_set or not rest.endswith(")"):
            raise dverr.bad_query(f"'{reference}' is not a {data.table.logical_name} row.")
        row_id = parse_key(rest[:-1], data.table.primary_id, entity_set)
        if not data.exists(row_id):
            raise dverr.does_not_exist(data.table.logical_name, row_id)
        return row_id

    def _patch_raw(self, data: TableData, row_id: str, changes_body: dict[str, Any],
                   logged: dict[str, Any]) -> Response:
        self.check_privilege(data, "Write")
        raw = self.org.raw(data, row_id)
        assert raw is not None
        raw.update(self.column_values(data.table, changes_body, creating=False))
        raw["modifiedon"] = _fmt(self.now)
        _check_status(data.table, raw)
        self._store(data, row_id, raw, "update", logged or changes_body)
        return Response(204)

    def _write_new(self, data: TableData, row_id: str, body: dict[str, Any], request: Request,
                   prefer: Prefer, status_plain: int) -> Response:
        table = data.table
        raw: dict[str, Any] = {c: None for c in table.columns}
        now = _fmt(self.now)
        raw.update(createdon=now, modifiedon=now)
        if "statecode" in table.columns:
            raw.update(statecode=0, statuscode=table.status_defaults.get(0))
        if "ownerid" in table.columns:
            raw["ownerid"] = ("systemuser", self.org.id_of("systemuser", 0))
        raw.update(self.column_values(table, body, creating=True))
        if raw.get("overriddencreatedon") and "createdon" in table.columns:
            # The platform keeps the given date as createdon and the real one aside (§5.7).
            raw["createdon"], raw["overriddencreatedon"] = raw["overriddencreatedon"], now
        self.finish_row(table, raw)
        self._store(data, row_id, raw, "create", body)
        entity_id = f"{self.base}{table.entity_set}({row_id})"
        if prefer.return_representation:
            row = self._render(data, row_id, self._select(table, request), prefer)
            return Response(201, row, {"Preference-Applied": "return=representation",
                                       "Location": entity_id})
        return Response(status_plain, headers={"OData-EntityId": entity_id,
                                               "Location": entity_id})

    def _store(self, data: TableData, row_id: str, raw: dict[str, Any], action: str,
               body: dict[str, Any]) -> None:
        raw = dict(raw)
        raw.pop(data.table.primary_id, None)
        raw.pop("versionnumber", None)
        self.org.put(data, row_id, raw, self.now)
        self.log_write(data, row_id, action, body)

    def log_write(self, data: TableData, row_id: str, action: str, body: dict[str, Any]) -> None:
        self.rows_touched += 1
        self.org.writes.append(WriteRecord(
            seq=len(self.org.writes) + 1, at=_fmt(self.now), table=data.table.logical_name,
            row_id=row_id, action=action, body_json=json.dumps(body, separators=(",", ":")),
        ))

    def column_values(self, table: Table, body: dict[str, Any], *,
                      creating: bool) -> dict[str, Any]:
        """The body's column values in raw form; refuses what the platform refuses."""
        navs = table.navigation()
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key.endswith("@odata.bind"):
                nav = navs.get(key[: -len("@odata.bind")])
                if nav is None:
                    raise SimError(400, dverr.UNKNOWN_PROPERTY,
                                   f"An undeclared property '{key[:-11]}' which only has "
                                   "property annotations in the payload but no property value "
                                   "was found in the payload.")
                out[nav.column] = None if value is None else self._bind(table, nav.column,
                                                                        nav.target, value)
                continue
            if "@" in key:
                continue  # other instance annotations (@odata.type, @odata.etag) are ignored
            if key in navs and (key not in table.columns or table.columns[key].is_lookup):
                if value is not None:
                    raise dverr.bad_query(f"Deep insert through '{key}' is not supported by "
                                          "the simulator; use '{key}@odata.bind'.")
                out[navs[key].column] = None
                continue
            if key.startswith("_") and key.endswith("_value"):
                raise SimError(400, dverr.UNKNOWN_PROPERTY,
                               "CRM do not support direct update of Entity Reference "
                               "properties, Use Navigation properties instead.")
            col = table.columns.get(key)
            if col is None:
                raise dverr.unknown_property(table.logical_name, key)
            if not (col.create if creating else col.update) or col.name == table.primary_id:
                continue  # read-only for this call: ignored, as the platform does (§5.7)
            out[key] = _check_value(table, col, value)
        if "statecode" in out and "statuscode" not in out:
            out["statuscode"] = table.status_defaults.get(int(out["statecode"]))
        return out

    def _bind(self, table: Table, column: str, target: str | None, value: Any) -> tuple[str, str]:
        if not isinstance(value, str):
            raise dverr.bad_query(f"The @odata.bind value of '{column}' must be a string.")
        ref = self.content_ids.get(value, value)
        path = ref.split("/api/data/v9.2/", 1)[-1].lstrip("/")
        entity_set, _, rest = path.partition("(")
        data = self.org.by_set(entity_set)
        col = table.columns[column]
        if data is None or not rest.endswith(")"):
            raise dverr.bad_query(f"'{value}' is not a valid reference for '{column}'.")
        wanted = col.targets if col.type == OWNER else (target,)
        if data.table.logical_name not in wanted:
            raise dverr.bad_query(f"'{value}' is not a valid reference for '{column}': expected "
                                  f"a {' or '.join(t for t in wanted if t)}.")
        row_id = parse_key(rest[:-1], data.table.primary_id, entity_set)
        if not data.exists(row_id):
            raise dverr.does_not_exist(data.table.logical_name, row_id)
        return data.table.logical_name, row_id


def _not_intersect(table: Table, message: str) -> None:
    if table.intersect:
        raise SimError(400, dverr.UNKNOWN_PROPERTY,
                       f"The '{message}' method does not support entities of type "
                       f"'{table.logical_name}'. Associate and disassociate the rows through "
                       "the relationship's $ref instead.")


def _header(request: Request, name: str) -> str | None:
    for key, value in request.headers.items():
        if key.lower() == name:
            return value.strip()
    return None


def json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise dverr.bad_query(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise dverr.bad_query("The request body must be a JSON object.")
    return body


def _check_value(table: Table, col: Column, value: Any) -> Any:
    if value is None:
        if col.required == "SystemRequired":
            raise SimError(400, dverr.ATTRIBUTE_NOT_NULL,
                           f"Attribute: {col.name} cannot be set to NULL")
        return None
    checks: dict[str, Callable[[Any], bool]] = {
        STRING: lambda v: isinstance(v, str), MEMO: lambda v: isinstance(v, str),
        BOOLEAN: lambda v: isinstance(v, bool),
        MONEY: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        DECIMAL: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        DATETIME: _is_datetime, UNIQUEIDENTIFIER: _is_guid_text,
    }
    check = checks.get(col.type)
    if check is None and col.type in _INT_TYPES:
        check = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
    if check is not None and not check(value):
        raise dverr.bad_query(f"Cannot convert the literal '{value}' to the type of "
                              f"'{table.logical_name}.{col.name}' ({col.type}).")
    if col.max_length is not None and len(value) > col.max_length:
        raise SimError(400, "0x80044331",
                       f"A validation error occurred. The length of the '{col.name}' attribute "
                       f"of the '{table.logical_name}' entity exceeded the maximum allowed length "
                       f"of '{col.max_length}'.")
    if col.options and value not in col.options:
        raise SimError(400, "0x8004431a", f"{value} is not a valid value for {col.name} "
                       f"(valid: {', '.join(map(str, col.options))}).")
    return value.lower() if col.type == UNIQUEIDENTIFIER else value


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_guid_text(value: Any) -> bool:
    try:
        parse_guid(value, "value")
    except SimError:
        return False
    return True


def _check_status(table: Table, raw: dict[str, Any]) -> None:
    """Each statecode has its statuscode (reference §5.6); a pair that does not match is refused."""
    state, status = raw.get("statecode"), raw.get("statuscode")
    if state is None or status is None or not table.status_defaults:
        return
    if table.status_defaults.get(state) != status:
        raise SimError(400, "0x8004431a",
                       f"{status} is not a valid status code for state code "
                       f"{table.schema_name}State.{state} on {table.logical_name}.")


def _derive(table: Table, raw: dict[str, Any]) -> None:
    """Columns the platform computes from others."""
    if table.logical_name == "contact":
        raw["fullname"] = " ".join(p for p in (raw.get("firstname"), raw.get("lastname")) if p)
