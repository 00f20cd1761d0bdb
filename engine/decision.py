"""What a decision is, for every kind: the new state, the record changes, the event it took (for
the log and the transition table), and what comes next.

Next is one of: continue now (optionally with the command to run, when it must not be re-planned:
the call whose intent this very checkpoint records), continue after a delay, or stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from engine.record import RecordChange


@dataclass(frozen=True, slots=True)
class ContinueNow:
    command: Any = None


@dataclass(frozen=True, slots=True)
class WaitFor:
    seconds: float


@dataclass(frozen=True, slots=True)
class Stop:
    pass


Next = ContinueNow | WaitFor | Stop

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Decision(Generic[S]):
    state: S
    event: StrEnum
    changes: tuple[RecordChange, ...] = ()
    next: Next = ContinueNow()
