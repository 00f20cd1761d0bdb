"""What the host runs, read from the `FunctionApp` itself (its decorators are the only list).

`FunctionApp.get_functions()` raises when called twice on the same app (it remembers the names it
has handed out), so its result is cached per app object; everything else derives from that cache.
Bindings are read from `get_raw_bindings()`, the JSON the real worker sends to the host, so this
module sees exactly what the real host would see.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ppbackup.host.errors import HostConfigError
from shared.queue_names import poison_queue

# Queue names: 3-63 characters, lowercase letters, digits and single inner hyphens.
_QUEUE_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$")
_SETTING_REFERENCE = re.compile(r"%([^%\s]+)%")
# A parameter with this name gets the invocation context, as in the Python worker.
CONTEXT_PARAMETER = "context"
# The only output bindings this host implements; anything else fails at start-up rather than at
# the first invocation.
_HTTP_RETURN = ("http", "$return")


@dataclass(frozen=True, slots=True)
class QueueTrigger:
    arg_name: str
    queue_name: str
    connection: str | None


@dataclass(frozen=True, slots=True)
class TimerTrigger:
    arg_name: str
    schedule: str
    run_on_startup: bool


@dataclass(frozen=True, slots=True)
class HttpTrigger:
    arg_name: str
    route: str
    # None: every method, as the real host does when `methods` is omitted.
    methods: frozenset[str] | None
    auth_level: str | None


Trigger = QueueTrigger | TimerTrigger | HttpTrigger


@dataclass(frozen=True, slots=True)
class QueueOutput:
    """A `queue_output` binding; `arg_name` may be `$return`."""

    arg_name: str
    queue_name: str


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    trigger: Trigger
    handler: Callable[..., Any]
    queue_outputs: tuple[QueueOutput, ...] = ()
    wants_context: bool = False


# A failed description is cached too: asking the app a second time would only raise ValueError.
_cache: weakref.WeakKeyDictionary[object, tuple[FunctionSpec, ...] | HostConfigError] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()


def describe_app(app: object) -> tuple[FunctionSpec, ...]:
    """Every function the app declares, with binding values as written (`%X%` unresolved).

    Raises `HostConfigError` listing every function this host cannot run.
    """
    with _cache_lock:
        cached = _cache.get(app)
        if cached is None:
            get_functions = getattr(app, "get_functions", None)
            if get_functions is None:
                raise TypeError(f"{type(app).__name__} is not an azure.functions.FunctionApp")
            try:
                functions = get_functions()
            except ValueError as error:
                # The library says "does not have a unique function name" both for a real
                # duplicate and for a second get_functions() call made outside this module.
                raise HostConfigError([
                    f"{error} (if the names are unique, something called get_functions() on "
                    "this app object before the host; use ppbackup.host.metadata.describe_app)"
                ]) from error
            problems: list[str] = []
            specs: list[FunctionSpec] = []
            for function in functions:
                spec = _describe(function, problems)
                if spec is not None:
                    specs.append(spec)
            cached = HostConfigError(problems) if problems else tuple(specs)
            _cache[app] = cached
    if isinstance(cached, HostConfigError):
        raise cached
    return cached


def resolve_functions(
    specs: tuple[FunctionSpec, ...], environ: Mapping[str, str]
) -> tuple[FunctionSpec, ...]:
    """Drop disabled functions and resolve `%SETTING%` expressions, as the host does at start.

    Raises `HostConfigError` naming every unresolved setting and invalid queue name.
    """
    problems: list[str] = []
    resolved: list[FunctionSpec] = []
    for spec in specs:
        if is_disabled(spec.name, environ):
            continue
        resolved.append(_resolve(spec, environ, problems))
    if problems:
        raise HostConfigError(problems)
    return tuple(resolved)


def is_disabled(name: str, environ: Mapping[str, str]) -> bool:
    """`AzureWebJobs.<name>.Disabled`, the app setting the host reads to skip a function."""
    return environ.get(f"AzureWebJobs.{name}.Disabled", "").strip().lower() in {"true", "1"}


def resolve_setting_references(text: str, environ: Mapping[str, str]) -> str:
    """Replace each `%NAME%` with the app setting's value; `KeyError` names a missing one."""

    def lookup(match: re.Match[str]) -> str:
        value = environ.get(match.group(1))
        if value is None:
            raise KeyError(match.group(1))
        return value

    return _SETTING_REFERENCE.sub(lookup, text)


def _describe(function: Any, problems: list[str]) -> FunctionSpec | None:
    name = str(function.get_function_name())
    handler = function.get_user_function()
    bindings = [json.loads(raw) for raw in function.get_raw_bindings()]
    trigger: Trigger | None = None
    outputs: list[QueueOutput] = []
    bound_names: set[str] = set()
    for binding in bindings:
        kind = str(binding.get("type", ""))
        arg_name = str(binding.get("name", ""))
        if kind.endswith("Trigger"):
            trigger = _trigger(kind, arg_name, binding)
            if trigger is None:
                problems.append(f"{name}: trigger type '{kind}' is not supported by the local host")
                return None
        elif (kind, arg_name) == _HTTP_RETURN:
            continue
        elif kind == "queue" and str(binding.get("direction", "")).upper() == "OUT":
            outputs.append(QueueOutput(arg_name=arg_name, queue_name=str(binding["queueName"])))
        else:
            problems.append(
                f"{name}: binding '{arg_name}' of type '{kind}' is not supported by the local host"
            )
            return None
        bound_names.add(arg_name)
    if trigger is None:
        problems.append(f"{name}: has no trigger")
        return None
    wants_context = _check_signature(name, handler, bound_names, problems)
    return FunctionSpec(
        name=name,
        trigger=trigger,
        handler=handler,
        queue_outputs=tuple(outputs),
        wants_context=wants_context,
    )


def _trigger(kind: str, arg_name: str, binding: Mapping[str, Any]) -> Trigger | None:
    if kind == "queueTrigger":
        return QueueTrigger(
            arg_name=arg_name,
            queue_name=str(binding["queueName"]),
            connection=binding.get("connection"),
        )
    if kind == "timerTrigger":
        return TimerTrigger(
            arg_name=arg_name,
            schedule=str(binding["schedule"]),
            run_on_startup=bool(binding.get("runOnStartup") or False),
        )
    if kind == "httpTrigger":
        methods = binding.get("methods")
        return HttpTrigger(
            arg_name=arg_name,
            route=str(binding.get("route") or ""),
            methods=None if not methods else frozenset(str(m).upper() for m in methods),
            auth_level=binding.get("authLevel"),
        )
    return None


def _check_signature(
    name: str, handler: Callable[..., Any], bound: set[str], problems: list[str]
) -> bool:
    """Every parameter without a default must be bound, or the first call would fail."""
    parameters = inspect.signature(handler).parameters
    unbound = [
        p.name
        for p in parameters.values()
        if p.name not in bound
        and p.name != CONTEXT_PARAMETER
        and p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if unbound:
        problems.append(f"{name}: parameter(s) {', '.join(unbound)} have no binding")
    return CONTEXT_PARAMETER in parameters and CONTEXT_PARAMETER not in bound


def _resolve(spec: FunctionSpec, environ: Mapping[str, str], problems: list[str]) -> FunctionSpec:
    def resolve(text: str, what: str) -> str:
        try:
            return resolve_setting_references(text, environ)
        except KeyError as missing:
            problems.append(
                f"{spec.name}: {what} '{text}' refers to app setting {missing.args[0]}, "
                "which is not set"
            )
            return text

    def queue_name(text: str, what: str, *, triggered: bool) -> str:
        value = resolve(text, what)
        if value == text and _SETTING_REFERENCE.search(text):
            return value  # already reported as unresolved
        # A triggered queue needs room for its poison queue's name as well.
        checked = poison_queue(value) if triggered else value
        if not _QUEUE_NAME.fullmatch(value) or not _QUEUE_NAME.fullmatch(checked):
            limit = "3-56" if triggered else "3-63"
            problems.append(
                f"{spec.name}: {what} '{value}' is not a valid queue name ({limit} characters: "
                "lowercase letters, digits, single inner hyphens)"
            )
        return value

    trigger = spec.trigger
    if isinstance(trigger, QueueTrigger):
        trigger = replace(
            trigger, queue_name=queue_name(trigger.queue_name, "queueName", triggered=True)
        )
    elif isinstance(trigger, TimerTrigger):
        trigger = replace(trigger, schedule=resolve(trigger.schedule, "schedule"))
    outputs = tuple(
        replace(
            out,
            queue_name=queue_name(
                out.queue_name, f"output '{out.arg_name}' queueName", triggered=False
            ),
        )
        for out in spec.queue_outputs
    )
    return replace(spec, trigger=trigger, queue_outputs=outputs)
