"""The part of every kind's state the engine reads (pure: no I/O).

A checkpoint counter (`seq`: a message for another seq is stale), the time its next step is due,
its fault counters, a phase that may be terminal, and its JSON. Each kind's state is a frozen
dataclass with these fields and more of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar


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
