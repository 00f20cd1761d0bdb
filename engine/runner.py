"""The runner: the one impure loop every kind of operation runs in.

The design is docs/orchestrator.md, "One step". For each step message (`{"operationId", "seq"}`,
on the kind's queue):

    load (one point read, with the ETag) -> stale or finished? drop
    plan -> execute (platform calls, recorded) -> decide          (the kind's, from `engine.kinds`)
    checkpoint (ETag-guarded write: record + state, seq + 1; next due time for the watchdog)
    continue in this invocation, or send the next message (delayed), or stop

A lost ETag race means another worker owns the step: this one stops without sending anything.
A crash before the checkpoint re-runs the step from the stored state (every command is
idempotent or reconciled); a crash after it leaves an operation whose next step is overdue, which
the watchdog re-drives. Faults are handled here, once for every kind: an answer is a value, a
storage failure propagates (the queue delivers again), and on the last delivery the failure is
recorded on the operation before the host poisons the message (`record_engine_fault`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Generic

from engine.config import EngineConfig
from engine.decision import ContinueNow, Stop, WaitFor
from engine.kind import Kind
from engine.kinds import kind_for
from engine.messages import decode_step, send_step
from engine.record import StepUpdate, apply_changes
from engine.state import S, StateUnreadableError
from notifications.outbox import announce, ending_notice_due, update_and_announce
from shared.errors import ConcurrencyConflict, OperationNotFound
from shared.operations import (
    Operation,
    OperationError,
    OperationStatus,
    add_request_ids,
    finish,
    format_time,
    to_millis,
)
from shared.power_platform import recording_calls
from shared.queue_names import MAX_DEQUEUE_COUNT
from shared.runtime import AppContext
from shared.storage.history import StoredOperation

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    # One invocation keeps stepping while its steps need no wait, for at most this long (real
    # seconds), then hands over to a fresh message: invocations stay short, as Functions wants.
    invocation_budget_seconds: float = 60.0
    # Real seconds the watchdog allows past a step's due time before it re-drives it: the
    # host's queue polling (up to a minute on Azure) plus one step's own platform calls.
    watchdog_grace_seconds: float = 180.0
    # Messages given up by the host (poisoned) before the operation is handed to a person.
    max_engine_faults: int = 3
    # Watchdog re-drives (lost messages, killed invocations the host poisoned without a word)
    # before the operation is handed to a person instead of being driven again.
    max_watchdog_nudges: int = 20
    engine: EngineConfig | None = field(default=None)

    def engine_for(self, ctx: AppContext) -> EngineConfig:
        return self.engine or EngineConfig.from_settings(ctx.settings, ctx.backoff)

    def grace(self, ctx: AppContext) -> timedelta:
        """The watchdog's grace in the app's clock (which may run faster than real time)."""
        return timedelta(seconds=self.watchdog_grace_seconds * ctx.time_scale)


DEFAULT_RUNNER = RunnerConfig()
_current = DEFAULT_RUNNER


def runner_config() -> RunnerConfig:
    """The configuration the triggers use (the defaults, unless a test or benchmark set one)."""
    return _current


@contextmanager
def use_runner_config(config: RunnerConfig) -> Iterator[RunnerConfig]:
    global _current
    previous, _current = _current, config
    try:
        yield config
    finally:
        _current = previous


def handle_step_message(
    ctx: AppContext,
    body: bytes | str,
    *,
    dequeue_count: int,
    config: RunnerConfig | None = None,
) -> None:
    """A step message of any kind: run the steps it continues."""
    config = config or runner_config()
    try:
        message = decode_step(body)
    except ValueError as error:
        # Only this app writes the queue; a malformed message is a bug. Logged loudly, dropped
        # (the watchdog still drives the operation it may have been for).
        log.error("engine.step_message_malformed", extra={"error": str(error)})
        return
    run_guarded(ctx, message.operation_id, message.seq, dequeue_count=dequeue_count, config=config)


def run_guarded(
    ctx: AppContext,
    operation_id: str,
    seq: int,
    *,
    dequeue_count: int,
    config: RunnerConfig | None = None,
) -> None:
    """`run_steps`; on the message's last delivery, record the failure before it is poisoned."""
    config = config or runner_config()
    try:
        run_steps(ctx, operation_id, seq, config=config)
    except Exception as error:
        if dequeue_count >= MAX_DEQUEUE_COUNT:
            record_engine_fault(ctx, operation_id, error, dequeue_count, seq=seq, config=config)
        raise


def run_admitted(
    ctx: AppContext,
    stored: StoredOperation,
    *,
    dequeue_count: int,
    first: Any = None,
    config: RunnerConfig | None = None,
) -> None:
    """Run an operation its intake has just admitted, from the stored state (no re-read).

    `first`: the command whose intent the admission itself checkpointed, run without planning;
    only for the invocation that made the admission (anyone else plans, and looks first).

    Also for an intake message delivered again: its earlier delivery failed, so no worker drives
    the operation on its behalf. On the last delivery the failure is recorded whatever the state
    moved to meanwhile (the intake message names the operation, not a checkpoint).
    """
    config = config or runner_config()
    operation = stored.operation
    kind = kind_for(operation.kind)
    if kind is None or operation.status.terminal:
        return
    try:
        _run_kind(ctx, kind, stored, None, config, first=first)
    except Exception as error:
        if dequeue_count >= MAX_DEQUEUE_COUNT:
            record_engine_fault(ctx, operation.operation_id, error, dequeue_count, config=config)
        raise


def run_steps(
    ctx: AppContext, operation_id: str, seq: int, *, config: RunnerConfig | None = None
) -> None:
    config = config or runner_config()
    try:
        stored = ctx.history.get(operation_id)
    except OperationNotFound:
        log.error("engine.step_for_unknown_operation", extra={"operationId": operation_id})
        return
    operation = stored.operation
    kind = kind_for(operation.kind)
    if kind is None or operation.status.terminal:
        log.info("engine.step_after_end", extra={"operationId": operation_id, "seq": seq})
        return
    _run_kind(ctx, kind, stored, seq, config)


def _run_kind(
    ctx: AppContext,
    kind: Kind[S],
    stored: StoredOperation,
    seq: int | None,
    config: RunnerConfig,
    *,
    first: Any = None,
) -> None:
    """`seq`: the checkpoint the message continues (None: whatever is stored)."""
    operation_id = stored.operation.operation_id
    state = kind.read_state(stored)
    seq = state.seq if seq is None else seq
    if state.seq != seq:
        log.info(
            "engine.stale_message",
            extra={"operationId": operation_id, "seq": seq, "storedSeq": state.seq},
        )
        return
    now = _now(ctx)
    if state.wake_at is not None and (state.wake_at - now).total_seconds() > 1.0:
        # A wait longer than the queue can delay a message: send it on for the rest.
        remaining = (state.wake_at - now).total_seconds()
        send_step(ctx, kind.queue, operation_id, seq, remaining)
        log.info(
            "engine.wait_chained",
            extra={"operationId": operation_id, "remainingSeconds": round(remaining)},
        )
        return
    _Run(ctx, kind, stored, state, config).steps(first)


class _Run(Generic[S]):
    """One invocation's steps for one operation."""

    def __init__(
        self,
        ctx: AppContext,
        kind: Kind[S],
        stored: StoredOperation,
        state: S,
        config: RunnerConfig,
    ) -> None:
        self.ctx, self.kind, self.stored, self.state, self.config = ctx, kind, stored, state, config
        self.engine = config.engine_for(ctx)
        self.started = time.monotonic()
        self.operation_id = stored.operation.operation_id
        # The call log is written once per invocation, not per step: one round trip instead of
        # several (the request ids are in the record's steps at every checkpoint anyway).
        self.calls: dict[str, list[dict[str, Any]]] = {}

    def steps(self, command: Any = None) -> None:
        try:
            while True:
                next_step = self._step(command)
                if next_step is None:
                    return
                # A command carried by the decision is the call whose intent that checkpoint has
                # just recorded: handed to a fresh message, it would be planned again, and the
                # plan of an intent looks for the call instead of making it (a backup's next
                # attempt, a type change's reconcile grace). One more step, then the budget.
                over = time.monotonic() - self.started > self.config.invocation_budget_seconds
                if over and next_step.command is None:
                    # A fresh due time: the one this invocation started under may be long past.
                    self.ctx.history.set_next_due(
                        self.operation_id, _now(self.ctx) + self.config.grace(self.ctx)
                    )
                    send_step(self.ctx, self.kind.queue, self.operation_id, self.state.seq)
                    return
                command = next_step.command
        finally:
            self._write_call_log()

    def _write_call_log(self) -> None:
        calls, self.calls = self.calls, {}
        if not calls:
            return
        try:
            self.ctx.history.append_calls(self.operation_id, calls)
        except Exception:
            # The log is for people; losing a few lines must not fail the step.
            log.exception("engine.call_log_failed", extra={"operationId": self.operation_id})

    def _step(self, command: Any) -> ContinueNow | None:
        ctx, kind, state = self.ctx, self.kind, self.state
        phase = state.phase
        now = _now(ctx)
        command = command or kind.plan(state, now, self.engine)
        with recording_calls() as calls:
            answer = kind.execute(ctx, command, self.operation_id)
        now = _now(ctx)
        decision = kind.decide(state, answer, now, self.engine)
        step = kind.step_of(state)
        operation = apply_changes(self.stored.operation, decision.changes, now)
        operation = add_request_ids(
            operation, step, tuple(call.request_id for call in calls if call.request_id)
        )
        new_state = replace(decision.state, seq=state.seq + 1)
        if new_state.phase != phase:
            # The fault budgets bound an operation that cannot move on, not the faults of a long
            # one that does: a new phase starts them afresh.
            new_state = replace(new_state, engine_faults=0, watchdog_nudges=0)
        if calls:  # made, whatever the checkpoint meets: the log is of what was called
            self.calls.setdefault(step, []).extend(c.to_log_entry() for c in calls)
        # The operation's last checkpoint: the call log goes out beside the rows that follow the
        # record (one round trip for both, not one more after them); any other checkpoint leaves
        # it for the end of the invocation (one write per invocation, not per step).
        beside = (self._write_call_log,) if operation.status.terminal else ()
        try:
            if operation.status.terminal:
                self.stored = end_and_release(
                    ctx, self.stored, operation, internal=new_state.to_json(), beside=beside,
                    release=lambda: kind.ended(ctx, new_state, self.operation_id),
                )
            else:
                self.stored = update_and_announce(ctx, self.stored, operation,
                                                  internal=new_state.to_json())
        except ConcurrencyConflict:
            log.info(
                "engine.step_lost_race",
                extra={"operationId": self.operation_id, "phase": phase.value},
            )
            return None
        self.state = new_state
        log.info(
            "engine.step",
            extra={
                "operationId": self.operation_id,
                "kind": kind.operation_kind.value,
                "seq": new_state.seq,
                "phase": phase.value,
                "command": type(command).__name__,
                "answer": type(answer).__name__,
                "event": decision.event.value,
                "nextPhase": new_state.phase.value,
                "next": type(decision.next).__name__,
                "platformCalls": len(calls),
            },
        )
        following = decision.next
        if isinstance(following, WaitFor) and following.seconds <= 0:
            following = ContinueNow()  # a wait of nothing is not worth a queue round trip
        if isinstance(following, Stop):
            log.info(
                "engine.ended",
                extra={
                    "operationId": self.operation_id,
                    "status": operation.status.value,
                    "code": operation.error.code if operation.error else None,
                },
            )
            if not operation.status.terminal:
                _ended(ctx, kind, new_state, self.operation_id)
            return None
        if isinstance(following, WaitFor):
            # The watchdog's due time moves only with a wait: while this invocation keeps
            # stepping (for less than the grace), the due time it started under still holds.
            due = (new_state.wake_at or now) + self.config.grace(ctx)
            ctx.history.set_next_due(self.operation_id, due)
            send_step(ctx, kind.queue, self.operation_id, new_state.seq, following.seconds)
            return None
        return following


def record_engine_fault(
    ctx: AppContext,
    operation_id: str,
    error: BaseException,
    dequeue_count: int,
    *,
    seq: int | None = None,
    config: RunnerConfig | None = None,
) -> None:
    """The host is about to poison a step message: say so on the operation, and hand it to the
    watchdog to try again later, or end it when it keeps happening (the kind's `abandon`)."""
    config = config or runner_config()
    summary = f"{type(error).__name__}: {error}"[:500]
    try:
        stored = ctx.history.get(operation_id)
    except OperationNotFound:
        log.exception("engine.fault_unrecorded", extra={"operationId": operation_id})
        return
    kind = kind_for(stored.operation.kind)
    if kind is None or stored.operation.status.terminal:
        return
    _record_fault(ctx, kind, stored, summary, dequeue_count, seq, config)


def _record_fault(
    ctx: AppContext,
    kind: Kind[S],
    stored: StoredOperation,
    summary: str,
    dequeue_count: int,
    seq: int | None,
    config: RunnerConfig,
) -> None:
    operation_id = stored.operation.operation_id
    try:
        state = kind.read_state(stored)
    except StateUnreadableError:
        end_needing_attention(
            ctx, stored, f"The engine cannot read this operation's saved state ({summary})."
        )
        return
    if seq is not None and state.seq != seq:
        return  # a stale message failing says nothing about the operation that moved on
    now = _now(ctx)
    faults = state.engine_faults + 1
    step = kind.step_of(state)
    text = (
        f"This step failed {dequeue_count} times in a row; the message goes to the poison "
        f"queue ({summary})."
    )
    allowed = kind.max_engine_faults or config.max_engine_faults
    rescued = None
    if faults >= allowed:
        message = (
            f"{text} Gave up after {faults} such rounds; check the environment and the app's log."
        )
        rescued = kind.rescue(state, message, now) if kind.rescue is not None else None
        new_state, changes = rescued or kind.abandon(state, message)
        changes = (StepUpdate(step, detail=message), *changes)
    else:
        retry_at = now + config.grace(ctx)
        message = f"{text} Trying again from {format_time(retry_at)}."
        changes = (StepUpdate(step, detail=message),)
        new_state = replace(state, wake_at=None)
    # A rescued operation is driven on in its new phase, with budgets of its own.
    new_state = replace(new_state, seq=state.seq + 1, engine_faults=0 if rescued else faults,
                        watchdog_nudges=0 if rescued else state.watchdog_nudges)
    operation = apply_changes(stored.operation, changes, now)
    try:
        if operation.status.terminal:
            end_and_release(ctx, stored, operation, internal=new_state.to_json(),
                            release=lambda: kind.ended(ctx, new_state, operation_id))
        else:
            update_and_announce(ctx, stored, operation, internal=new_state.to_json())
    except ConcurrencyConflict:
        return  # someone else advanced it: not stuck after all
    log.error(
        "engine.fault",
        extra={"operationId": operation_id, "faults": faults, "error": summary},
    )
    if not operation.status.terminal:
        ctx.history.set_next_due(operation_id, now + config.grace(ctx))


def end_needing_attention(ctx: AppContext, stored: StoredOperation, message: str) -> None:
    """Hand an operation the engine cannot drive on to a person: NeedsAttention (which alerts),
    and what it held released, so newer operations of that environment are not blocked by it."""
    now = _now(ctx)
    text = (
        f"{message} Check the environment now (its type, administration mode) and the app's log; "
        "the engine will not drive this operation any further."
    )
    ended = finish(
        stored.operation,
        OperationStatus.NEEDS_ATTENTION,
        now,
        error=OperationError("EngineFault", text),
    )
    kind = kind_for(ended.kind)

    def release() -> None:
        if kind is not None:
            kind.released(ctx, ended.environment_id, ended.operation_id)

    try:
        end_and_release(ctx, stored, ended, release=release)
    except ConcurrencyConflict:
        return  # it moved after all
    log.error("engine.handed_to_a_person", extra={"operationId": ended.operation_id})


def end_and_release(
    ctx: AppContext,
    stored: StoredOperation,
    ended: Operation,
    *,
    release: Callable[[], None],
    internal: Mapping[str, Any] | None = None,
    beside: Sequence[Callable[[], object]] = (),
) -> StoredOperation:
    """The checkpoint that ends an operation, then what it held released, then its notice.

    Its watchdog entry outlives the checkpoint until the release has run: a crash or a storage
    fault in between leaves the entry, and the watchdog releases again (idempotent) before it
    drops an ended operation's entry. Released once and only then, a restore that left its
    target a Sandbox would lose for good the original type its target's next restore must know.
    ConcurrencyConflict as `HistoryStore.update`.
    """
    pending = ending_notice_due(ctx, stored.operation, ended)
    written = ctx.history.update(stored, ended, internal=internal, beside=beside,
                                 keep_active=True)
    released = _guarded(release, ended.operation_id)
    # The notice's marker is the same entry: cleared with the notice only once released.
    announce(ctx, stored.operation, written.operation, pending=pending and released)
    if released and not pending:
        try:
            ctx.history.discard_active(ended.operation_id)
        except Exception:
            # A leftover entry on an ended operation: the watchdog drops it.
            log.warning("engine.entry_left", exc_info=True,
                        extra={"operationId": ended.operation_id})
    return written


def _ended(ctx: AppContext, kind: Kind[S], state: S, operation_id: str) -> None:
    _guarded(lambda: kind.ended(ctx, state, operation_id), operation_id)


def _guarded(release: Callable[[], None], operation_id: str) -> bool:
    """Whether `release` ran through (a failure is logged, never raised)."""
    try:
        release()
    except Exception:
        # The operation has ended either way; what it held (a restore's lock) is taken over by
        # the next operation that needs it, since its holder has ended, and released again by
        # the watchdog (`end_and_release`).
        log.exception("engine.release_failed", extra={"operationId": operation_id})
        return False
    return True


def _now(ctx: AppContext) -> datetime:
    # Records keep milliseconds; deciding on the same precision keeps re-runs identical.
    return to_millis(ctx.clock())
