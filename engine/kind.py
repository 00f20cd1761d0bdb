"""What a kind of long-running operation gives the engine: its state type and its decisions.

The engine knows an operation's state only through `EngineState` (engine/state.py); everything
else is the kind's own business, reached through the `Kind` record of callables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic

from engine.config import EngineConfig
from engine.decision import Decision
from engine.record import RecordChange
from engine.state import S
from shared.operations import OperationKind
from shared.runtime import AppContext
from shared.storage.history import StoredOperation


@dataclass(frozen=True, slots=True)
class Kind(Generic[S]):
    """One kind of operation, as the engine drives it.

    `plan`, `decide` and `abandon` are pure; `execute`, `ended` and `released` do the I/O the
    kind needs (platform calls; a lock released when an operation ends).
    """

    operation_kind: OperationKind
    # The queue that carries this kind's step messages (`{"operationId", "seq"}`).
    queue: str
    # The state stored with the operation (raises StateUnreadableError).
    read_state: Callable[[StoredOperation], S]
    plan: Callable[[S, datetime, EngineConfig], Any]
    decide: Callable[[S, Any, datetime, EngineConfig], Decision[S]]
    execute: Callable[[AppContext, Any, str], Any]
    # The record's step a state reports on (platform request ids and engine faults go there).
    step_of: Callable[[S], str]
    # The state ended by the engine itself (faults or lost steps beyond their budget), and the
    # record changes that say so (a `Finish` among them).
    abandon: Callable[[S, str], tuple[S, tuple[RecordChange, ...]]]
    # After the operation ended (any terminal checkpoint): release what it held. Never raises
    # for a missing resource; exceptions are logged by the runner.
    ended: Callable[[AppContext, S, str], None]
    # After an operation whose state could not be read was ended: release by what the record
    # says (operation id, environment id).
    released: Callable[[AppContext, str, str], None]
    # Messages poisoned (rounds of failed deliveries) before the engine abandons the operation;
    # None: the runner's `max_engine_faults`.
    max_engine_faults: int | None = None
    # Before the engine abandons an operation (poisoned or lost steps beyond their budget): a
    # state the kind must still be driven on in (a restore that may have left its target a
    # Sandbox switches it back first), with the record changes that say why; None to abandon.
    # Takes the state, the engine's message and the time.
    rescue: Callable[[S, str, datetime], tuple[S, tuple[RecordChange, ...]] | None] | None = None


def abandon_by(
    fail: Callable[[S, str], Decision[S]],
) -> Callable[[S, str], tuple[S, tuple[RecordChange, ...]]]:
    """A kind's `abandon` that ends the operation as its own failing step does (`fail`: the
    state and a message -> that decision), so the engine's giving up reads like the kind's."""

    def abandon(state: S, message: str) -> tuple[S, tuple[RecordChange, ...]]:
        ended = fail(state, message)
        return ended.state, ended.changes

    return abandon


def nothing_held(ctx: AppContext, *args: Any) -> None:
    """`ended` and `released` of a kind that holds no lock: nothing to release."""
