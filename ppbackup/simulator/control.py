"""Control endpoints under `/_sim/` (JSON, loopback only, no auth).

    GET  /_sim/state                          options, faults, clock, full tenant dump
    POST /_sim/environments                   add one ({"displayName", ...}) or many ({"count"})
    GET  /_sim/environments/{id}/content      current data marker and its history
    POST /_sim/environments/{id}/content      {"marker"}: change the environment's data now
    POST /_sim/environments/{id}/backups      {"label", "point"?}: a (back-dated) backup
    GET|POST /_sim/faults                     read / change fault switches ({"clear": true} first)
    GET|POST /_sim/options                    read / change behaviour options
    GET|POST /_sim/clock                      {"advance": seconds} and/or {"speed": x}
    GET  /_sim/stats, POST /_sim/stats/reset  request counters
    GET  /_sim/operations?environmentId=&kind=
    POST /_sim/reset                          {"populate": true|false}
    GET|POST /_sim/dataverse/{env}[/...]      an environment's Dataverse (dataverse/control.py)

They skip throttling, faults and the counters, so a test can always steer the simulator.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ppbackup.simulator import wire
from ppbackup.simulator.errors import SimError
from ppbackup.simulator.messages import Request, Response

if TYPE_CHECKING:
    from ppbackup.simulator.app import SimulatorApp

CONTROL_PREFIX = "/_sim"

ControlHandler = Callable[["SimulatorApp", Request, dict[str, str]], Response]

# JSON field -> add_environment keyword
_ENV_FIELDS = {
    "displayName": "display_name", "type": "type", "location": "location",
    "azureRegion": "azure_region", "managed": "managed", "isDefault": "is_default",
    "id": "env_id", "content": "content",
}
_MANY_FIELDS = {"count": "count", "type": "type", "location": "location",
                "managed": "managed", "prefix": "prefix"}


def _body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    data = request.json()
    if not isinstance(data, dict):
        raise SimError(400, "InvalidRequestBody", "The body must be a JSON object.")
    return data


_BOOL_FIELDS = frozenset({"managed", "isDefault"})
_INT_FIELDS = frozenset({"count"})


def _translate(data: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Rename JSON fields to keywords, refusing unknown fields and wrong JSON types."""
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    for key, value in data.items():
        if key in _BOOL_FIELDS:
            ok = isinstance(value, bool)
        elif key in _INT_FIELDS:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = value is None or isinstance(value, str | int | float)
        if not ok:
            raise ValueError(f"{key}: unexpected value {value!r}")
    return {names[key]: value for key, value in data.items()}


def _state(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    return Response(200, app.snapshot())


def _add_environments(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    data = _body(request)
    if "count" in data:
        ids = app.seed_many(**_translate(data, _MANY_FIELDS))
        return Response(201, {"ids": ids})
    kwargs = _translate(data, _ENV_FIELDS)
    if not isinstance(kwargs.get("display_name"), str):
        raise ValueError("displayName is required")
    env_id = app.add_environment(**kwargs)
    return Response(201, {"id": env_id, "environment": app.environment(env_id)})


def _content(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    env_id = params["env"]
    if request.method == "POST":
        marker = _body(request).get("marker")
        if not isinstance(marker, str):
            raise ValueError("marker (string) is required")
        app.set_content(env_id, marker)
    env = app.state.environment(env_id)
    return Response(200, {
        "environmentId": env_id,
        "marker": env.current_content.marker,
        "version": len(env.content),
        "history": [{"at": wire.fmt_time(c.at), "marker": c.marker} for c in env.content],
    })


def _add_backup(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    data = _body(request)
    label = data.get("label")
    if not isinstance(label, str) or not label:
        raise ValueError("label (string) is required")
    point = None
    if data.get("point") is not None:
        point = wire.parse_time_with_offset(data["point"], "point")
    backup_id = app.add_backup(params["env"], label, point=point)
    backup = next(b for b in app.backups(params["env"]) if b["id"] == backup_id)
    return Response(201, backup)


def _faults(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    if request.method == "POST":
        data = _body(request)
        if data.pop("clear", False):
            app.clear_faults()
        app.set_faults(**data)
    return Response(200, app.faults.snapshot())


def _options(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    data = _body(request) if request.method == "POST" else {}
    return Response(200, app.set_options(**data))


def _clock(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    if request.method == "POST":
        data = _body(request)
        _translate(data, {"advance": "advance", "speed": "speed"})
        if "speed" in data:
            app.set_speed(_number(data["speed"], "speed"))
        if "advance" in data:
            app.advance(_number(data["advance"], "advance"))
    return Response(200, {"now": wire.fmt_time(app.now()), "speed": app.clock.speed})


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _stats(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    return Response(200, app.stats())


def _reset_stats(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    app.reset_stats()
    return Response(200, app.stats())


def _operations(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    ops = app.operations(request.param("environmentId"), kind=request.param("kind"))
    return Response(200, {"value": ops})


def _reset(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    populate = _body(request).get("populate", True)
    if not isinstance(populate, bool):
        raise ValueError("populate must be a boolean")
    app.reset(populate=populate)
    return Response(200, app.snapshot())


def _dataverse(app: SimulatorApp, request: Request, params: dict[str, str]) -> Response:
    from ppbackup.simulator.dataverse import control as dataverse_control

    data = _body(request) if request.method == "POST" else {}
    return dataverse_control.handle(app.dataverse, request, params["env"],
                                    params.get("action") or "", data)


_P = re.escape(CONTROL_PREFIX)
_ROUTES: tuple[tuple[frozenset[str], re.Pattern[str], ControlHandler], ...] = tuple(
    (frozenset(methods), re.compile(pattern), handler)
    for methods, pattern, handler in (
        ({"GET"}, rf"{_P}/state", _state),
        ({"POST"}, rf"{_P}/environments", _add_environments),
        ({"GET", "POST"}, rf"{_P}/environments/(?P<env>[^/]+)/content", _content),
        ({"POST"}, rf"{_P}/environments/(?P<env>[^/]+)/backups", _add_backup),
        ({"GET", "POST"}, rf"{_P}/faults", _faults),
        ({"GET", "POST"}, rf"{_P}/options", _options),
        ({"GET", "POST"}, rf"{_P}/clock", _clock),
        ({"GET"}, rf"{_P}/stats", _stats),
        ({"POST"}, rf"{_P}/stats/reset", _reset_stats),
        ({"GET"}, rf"{_P}/operations", _operations),
        ({"POST"}, rf"{_P}/reset", _reset),
        ({"GET", "POST"}, rf"{_P}/dataverse/(?P<env>[^/]+)(?:/(?P<action>.+))?", _dataverse),
    )
)


def handle_control(app: SimulatorApp, request: Request) -> Response:
    try:
        for methods, pattern, handler in _ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if request.method not in methods:
                raise SimError(405, "MethodNotAllowed", f"{request.method} is not supported here.")
            return handler(app, request, match.groupdict())
        raise SimError(404, "NotFound", f"No control endpoint {request.path}.")
    except SimError as error:
        return Response(error.status, wire.bap_error(error.code, error.message))
    except (ValueError, TypeError) as error:
        return Response(400, wire.bap_error("InvalidControlRequest", str(error)))
