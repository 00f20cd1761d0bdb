"""The status page's routes: the page itself, and the JSON it reads.

Every JSON view is served twice by the same code: under its API route with the function key, as
the rest of the API (`GET /api/environments`, for pipelines and scripts), and under `ui/data/`
at anonymous level for the page, which a browser opens without a key; there `access.refusal`
requires the App Service Authentication principal in Azure (see README, "The status page").
Views import their use cases on first call, not here (cold start, bench/coldstart_bench.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import azure.functions as func

from shared.http_api import error_response, handles_errors, json_response
from status_page import access

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # (azure-functions is unannotated)

View = Callable[[func.HttpRequest], Any]
UI_DATA = "ui/data"

# The page builds its DOM with textContent only, so no inline script or style is ever needed.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}


def refused(req: func.HttpRequest, *, as_json: bool) -> func.HttpResponse | None:
    """The refusal for a caller who may not see the page, or None."""
    headers = {name.lower(): value for name, value in req.headers.items()}
    refusal = access.refusal(os.environ, headers)
    if refusal is None:
        return None
    if as_json:
        return error_response(refusal.status, refusal.code, refusal.message)
    return func.HttpResponse(refusal.message + "\n", status_code=refusal.status,
                             mimetype="text/plain", charset="utf-8", headers=PAGE_HEADERS)


def serve_twice(name: str, route: str, view: View) -> None:
    """Register `view` at `route` (function key) and at `ui/data/<route>` (signed-in caller)."""

    @bp.function_name(name)
    @bp.route(route=route, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    @handles_errors
    def keyed(req: func.HttpRequest) -> func.HttpResponse:
        return json_response(200, view(req))

    serve_to_page(name, route, view)


def serve_to_page(name: str, route: str, view: View) -> None:
    """Register `view` at `ui/data/<route>`: anonymous level, so the signed-in check is ours."""

    @bp.function_name(f"ui_{name}")
    @bp.route(route=f"{UI_DATA}/{route}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    @handles_errors
    def for_page(req: func.HttpRequest) -> func.HttpResponse:
        return refused(req, as_json=True) or json_response(200, view(req), PAGE_HEADERS)


# -------------------------------------------------------------------------------- the views


def _environments(req: func.HttpRequest) -> Any:
    from shared.runtime import get_context
    from status_page import overview

    return overview.environments(get_context())


def _alerts(req: func.HttpRequest) -> Any:
    from shared.runtime import get_context
    from status_page import overview

    return overview.open_alerts(get_context())


def _active_operations(req: func.HttpRequest) -> Any:
    from shared.runtime import get_context
    from status_page import overview

    return overview.running(get_context())


def _next_steps(req: func.HttpRequest) -> Any:
    from shared.runtime import get_context
    from status_page import overview

    return overview.operation_next_steps(get_context(), req.route_params.get("operationId", ""))


def _operation(req: func.HttpRequest) -> Any:
    from shared import history_api
    from shared.runtime import get_context

    return history_api.get_record(get_context(), req.route_params.get("operationId", ""))


def _operations(req: func.HttpRequest) -> Any:
    from shared import history_api
    from shared.runtime import get_context

    query = history_api.parse_listing_query(dict(req.params))
    return history_api.list_records(get_context(), query)


def _data_backups(req: func.HttpRequest) -> Any:
    from data_backups import catalog
    from shared.errors import RequestInvalid
    from shared.inputs import parse_guid
    from shared.runtime import get_context

    try:
        environment_id = parse_guid(req.params.get("environmentId"))
    except ValueError:
        raise RequestInvalid("InvalidQuery", "environmentId must be a GUID.", {
            "environmentId": "must be a GUID such as 00000000-0000-0000-0000-000000000000"},
        ) from None
    points, token = catalog.list_points(get_context(), environment_id, limit=1)
    return {"points": points, "continuationToken": token}


serve_twice("list_environments", "environments", _environments)
serve_twice("list_alerts", "alerts", _alerts)
serve_twice("list_active_operations", "active-operations", _active_operations)
serve_twice("get_next_steps", "operations/{operationId}/next-steps", _next_steps)


# The history routes themselves (`operations`, `operations/{operationId}`) belong to another
# blueprint; the page reads the same use cases (shared.history_api) through these two.
serve_to_page("get_operation", "operations/{operationId}", _operation)
serve_to_page("list_operations", "operations", _operations)
# Each environment's newest data backup point and its expiry: the first point of the catalog
# `GET /api/data-backups` (data_backups/blueprint.py) answers from.
serve_to_page("list_data_backups", "data-backups", _data_backups)


# -------------------------------------------------------------------------------- the page


@bp.function_name("status_page")
@bp.route(route="ui", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def status_page(req: func.HttpRequest) -> func.HttpResponse:
    from status_page.assets import read_asset

    return refused(req, as_json=False) or func.HttpResponse(
        read_asset("index.html"), status_code=200, mimetype="text/html", charset="utf-8",
        headers=PAGE_HEADERS,
    )


@bp.function_name("status_page_asset")
@bp.route(route="ui/assets/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def status_page_asset(req: func.HttpRequest) -> func.HttpResponse:
    from status_page.assets import read_asset

    name = req.route_params.get("name", "")
    if name not in ASSETS:
        return func.HttpResponse("No such file.\n", status_code=404, mimetype="text/plain",
                                 charset="utf-8", headers=PAGE_HEADERS)
    return refused(req, as_json=False) or func.HttpResponse(
        read_asset(name), status_code=200, mimetype=ASSETS[name], charset="utf-8",
        headers=PAGE_HEADERS,
    )
