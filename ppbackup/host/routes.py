"""HTTP route templates as the Functions host (ASP.NET routing) reads them.

Supported: literal segments (matched case-insensitively), `{name}`, typed constraints
(`{id:guid}`, `{n:int}`, `:long`, `:alpha`, `:bool`, `:decimal`, `:double`, `:float`,
`:datetime`, `:minlength(n)`, `:maxlength(n)`, `:length(n)`, `:length(a,b)`, `:min(n)`,
`:max(n)`, `:range(a,b)`), an optional last segment `{name?}`, a default `{name=value}`, a
catch-all last segment `{*rest}`, and parameters inside a segment (`files/{name}.{ext}`).
When several templates match, the more specific one wins, as in ASP.NET: literal segments beat
constrained parameters, which beat plain ones, which beat optional and catch-all ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

_PARAMETER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_TYPE_PATTERNS: dict[str, str] = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    r"|\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])",
    "decimal": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?",
    "float": r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?",
    "datetime": r"[^/]+",
}
_CHECKED_CONSTRAINT = re.compile(r"^(minlength|maxlength|length|min|max|range)\(([^()]*)\)$")

_RANK_LITERAL, _RANK_COMPLEX, _RANK_CONSTRAINED, _RANK_PLAIN, _RANK_OPTIONAL = 1, 2, 3, 4, 5


@dataclass(frozen=True, slots=True)
class RouteTemplate:
    template: str
    pattern: re.Pattern[str]
    # Regex group -> route parameter name (names need not be valid group names).
    groups: tuple[tuple[str, str], ...]
    defaults: tuple[tuple[str, str], ...]
    checks: tuple[tuple[str, Callable[[str], bool]], ...]
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters if `path` (still percent-encoded, no query) matches."""
        if len(path) > 1:
            path = path.rstrip("/")
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        params = dict(self.defaults)
        for group, name in self.groups:
            value = found.group(group)
            if value is not None and value != "":
                params[name] = unquote(value)
        for name, check in self.checks:
            if name in params and not check(params[name]):
                return None
        return params


def compile_route(route: str, *, prefix: str) -> RouteTemplate:
    """Compile `route` under `prefix` (host.json routePrefix); `ValueError` if malformed."""
    segments = [s for s in prefix.strip("/").split("/") if s] + [
        s for s in route.strip("/").split("/") if s != ""
    ]
    parts: list[str] = []
    groups: list[tuple[str, str]] = []
    defaults: list[tuple[str, str]] = []
    checks: list[tuple[str, Callable[[str], bool]]] = []
    ranks: list[int] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        tokens = _PARAMETER.split(segment)  # literal, param, literal, param, ..., literal
        if "{" in segment.replace("{{", "") and len(tokens) == 1:
            raise ValueError(f"route '{route}': unbalanced braces in '{segment}'")
        if len(tokens) == 1:
            parts.append("/" + re.escape(segment))
            ranks.append(_RANK_LITERAL)
            continue
        whole = len(tokens) == 3 and tokens[0] == "" and tokens[2] == ""
        body = ""
        rank = _RANK_COMPLEX
        for position, token in enumerate(tokens):
            if position % 2 == 0:
                body += re.escape(token)
                continue
            param = _parse_parameter(token, route)
            group = f"g{len(groups)}"
            groups.append((group, param.name))
            if param.default is not None:
                defaults.append((param.name, param.default))
            checks.extend((param.name, check) for check in param.checks)
            if (param.optional or param.catch_all) and not (whole and last):
                raise ValueError(
                    f"route '{route}': '{{{token}}}' may only be the whole last segment"
                )
            value_pattern = ".*" if param.catch_all else param.pattern
            body += f"(?P<{group}>{value_pattern})"
            if whole:
                rank = (
                    _RANK_OPTIONAL if param.optional or param.catch_all
                    else _RANK_CONSTRAINED if param.constrained else _RANK_PLAIN
                )
        if whole and last and rank == _RANK_OPTIONAL:
            parts.append(f"(?:/{body})?")
        else:
            parts.append("/" + body)
        ranks.append(rank)
    pattern = re.compile("".join(parts) or "/", re.IGNORECASE)
    return RouteTemplate(
        template="/" + "/".join(segments),
        pattern=pattern,
        groups=tuple(groups),
        defaults=tuple(defaults),
        checks=tuple(checks),
        precedence=tuple(ranks),
    )


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    pattern: str
    optional: bool
    catch_all: bool
    default: str | None
    checks: tuple[Callable[[str], bool], ...]
    constrained: bool


def _parse_parameter(token: str, route: str) -> _Parameter:
    text = token.strip()
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    default: str | None = None
    if "=" in text:
        text, default = text.split("=", 1)
    optional = text.endswith("?")
    text = text.rstrip("?")
    name, *constraints = text.split(":")
    if not _NAME.fullmatch(name):
        raise ValueError(f"route '{route}': '{{{token}}}' has no valid parameter name")
    patterns: list[str] = []
    checks: list[Callable[[str], bool]] = []
    for constraint in constraints:
        if constraint.lower() in _TYPE_PATTERNS:
            patterns.append(_TYPE_PATTERNS[constraint.lower()])
            continue
        checked = _CHECKED_CONSTRAINT.fullmatch(constraint.lower())
        if checked is None:
            raise ValueError(f"route '{route}': constraint '{constraint}' is not supported")
        checks.append(_check(checked.group(1), checked.group(2), route))
    if len(patterns) > 1:
        raise ValueError(f"route '{route}': '{{{token}}}' has more than one type constraint")
    return _Parameter(
        name=name,
        pattern=f"(?:{patterns[0]})" if patterns else "[^/]+",
        optional=optional or default is not None,
        catch_all=catch_all,
        default=default,
        checks=tuple(checks),
        constrained=bool(constraints),
    )


def _check(kind: str, arguments: str, route: str) -> Callable[[str], bool]:
    try:
        numbers = [int(a) for a in arguments.split(",")]
    except ValueError as error:
        raise ValueError(f"route '{route}': {kind}({arguments}) needs integer arguments") from error
    if kind in ("minlength", "maxlength", "min", "max") and len(numbers) == 1:
        bound = numbers[0]
        return {
            "minlength": lambda v: len(v) >= bound,
            "maxlength": lambda v: len(v) <= bound,
            "min": lambda v: (n := _as_int(v)) is not None and n >= bound,
            "max": lambda v: (n := _as_int(v)) is not None and n <= bound,
        }[kind]
    if kind == "length" and len(numbers) in (1, 2):
        low, high = numbers[0], numbers[-1]
        return lambda v: low <= len(v) <= high
    if kind == "range" and len(numbers) == 2:
        low, high = numbers
        return lambda v: (n := _as_int(v)) is not None and low <= n <= high
    raise ValueError(f"route '{route}': {kind}({arguments}) has the wrong number of arguments")


def _as_int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
