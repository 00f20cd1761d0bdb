"""Partial, validated updates of the simulator's settings dataclasses.

Options and faults are changed at runtime from Python keyword arguments and from JSON control
requests; both go through `apply_changes`, so a typo or a wrong type is refused the same way
(a `ValueError` naming the field) instead of silently doing nothing.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints


def _coerce(tp: Any, value: Any, name: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        errors: list[str] = []
        for option in get_args(tp):
            try:
                return _coerce(option, value, name)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(f"{name}: {value!r} matches none of {tp}")
    if tp is type(None):
        if value is None:
            return None
        raise ValueError(f"{name}: expected null")
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ValueError(f"{name}: {value!r} is not one of {get_args(tp)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{name}: expected a boolean, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{name}: expected a string, got {value!r}")
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ValueError(f"{name}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(a, v, name) for a, v in zip(args, value, strict=True))
    if origin is list:
        (item,) = get_args(tp)
        if not isinstance(value, list | tuple | set | frozenset):
            raise ValueError(f"{name}: expected a list, got {value!r}")
        return [_coerce(item, v, name) for v in value]
    if origin is dict:
        key_tp, value_tp = get_args(tp)
        if not isinstance(value, Mapping):
            raise ValueError(f"{name}: expected an object, got {value!r}")
        return {_coerce(key_tp, k, name): _coerce(value_tp, v, name) for k, v in value.items()}
    raise ValueError(f"{name}: unsupported setting type {tp}")  # pragma: no cover


def apply_changes(target: Any, changes: Mapping[str, Any]) -> None:
    """Validate every change first, then assign them all (no half-applied updates)."""
    hints = get_type_hints(type(target))
    known = {f.name for f in dataclasses.fields(target)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    coerced = {name: _coerce(hints[name], value, name) for name, value in changes.items()}
    candidate = dataclasses.replace(target, **coerced)
    validate = getattr(candidate, "validate", None)
    if callable(validate):
        validate()
    for name, value in coerced.items():
        setattr(target, name, value)


def as_json(target: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(target):
        value = getattr(target, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
