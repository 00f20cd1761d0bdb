"""Writes sent at once and their outcome (pure: standard library only)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, wait
from typing import TypeVar

T = TypeVar("T")


def settled(futures: Sequence[Future[T]]) -> list[T]:
    """Every future's result, in order, once all of them have settled: a failure is raised
    only when no other write is still on its way (none lands after its caller gave up)."""
    wait(futures)
    return [future.result() for future in futures]
