"""The part of every kind's state the engine reads (pure: no I/O).

A checkpoint counter (`seq`: a message for another seq is stale), the time its next step is due,
its fault counters, a phase that may be terminal, and its JSON. Each kind's state is a frozen
dataclass with these fields and more of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from shared.operations import format_time, parse_time


class StateUnreadableError(ValueError):
    """The stored state is missing, malformed, or written by a newer version of the app."""


class PhaseLike(Protocol):
    @property
    def value(self) -> str: ...

    @property
    def terminal(self) -> bool: ...


class EngineState(Protocol):
    """The part of every kind's state the engine reads: a frozen dataclass with these fields."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def version(self) -> int: ...

    @property
    def seq(self) -> int: ...

    @property
    def wake_at(self) -> datetime | None: ...

    @property
    def engine_faults(self) -> int: ...

    @property
    def watchdog_nudges(self) -> int: ...

    @property
    def phase(self) -> PhaseLike: ...

    def to_json(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=EngineState)


def state_json(state: EngineState, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A state as stored: its version, seq and phase, the kind's `fields`, when it wakes and its
    fault counters; a None (or a zero counter) is left out, and read back as the default."""
    values = {
        "version": state.version, "seq": state.seq, "phase": state.phase.value, **fields,
        "wakeAt": format_time(state.wake_at), "engineFaults": state.engine_faults or None,
        "watchdogNudges": state.watchdog_nudges or None,
    }
    return {k: v for k, v in values.items() if v is not None}


def engine_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's fields of a stored state (`state_json`) as keyword arguments of its type
    (the phase is the kind's own type: the kind reads it)."""
    return {
        "seq": int(data["seq"]), "wake_at": parse_time(data.get("wakeAt")),
        "engine_faults": int(data.get("engineFaults", 0)),
        "watchdog_nudges": int(data.get("watchdogNudges", 0)),
    }


@contextmanager
def reading(data: Mapping[str, Any] | None, what: str, newest: int) -> Iterator[None]:
    """Read a stored state of `what` inside: a missing state, a version this app does not read,
    or a missing or malformed field is a StateUnreadableError that says which."""
    if not data:
        raise StateUnreadableError(f"the operation has no {what} state")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise StateUnreadableError(f"{what} state without a valid version: {version!r}")
    if version > newest:
        raise StateUnreadableError(
            f"{what} state version {version} was written by a newer version of the app (this "
            f"one reads up to {newest})"
        )
    try:
        yield
    except (KeyError, TypeError, ValueError) as error:
        raise StateUnreadableError(f"{what} state is malformed: {error!r}") from error
