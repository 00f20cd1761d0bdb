"""Writes sent at once and their outcome (pure: standard library only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, wait
from typing import TypeVar

T = TypeVar("T")


def settled(futures: Sequence[Future[T]]) -> list[T]:
    """Every future's result, in order, once all of them have settled: a failure is raised
    only when no other write is still on its way (none lands after its caller gave up)."""
    wait(futures)
    return [future.result() for future in futures]


def at_once(calls: Sequence[Callable[[], T]], pool: Callable[[], Executor]) -> list[T]:
    """Each call's result, in order: all sent at once on `pool()` and `settled`, or, for one
    call, made in the caller's thread (a pool would cost more than it saves)."""
    if len(calls) <= 1:
        return [call() for call in calls]
    executor = pool()
    return settled([executor.submit(call) for call in calls])
