"""The step engine: the one impure part of the orchestrator (docs/orchestrator.md, "One step").

For each `restore-steps` message:

    load (one point read, with the ETag) -> stale or finished? drop
    plan -> execute (platform calls, recorded) -> decide
    checkpoint (ETag-guarded write: record + state, seq + 1; next due time for the watchdog)
    continue in this invocation, or send the next message (delayed), or stop

A lost ETag race means another worker owns the step: this one stops without sending anything.
A crash before the checkpoint re-runs the step from the stored state (every command is
idempotent or reconciled); a crash after it leaves an operation whose next step is overdue, which
the watchdog re-drives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from notifications.outbox import announce
from restore_orchestrator.commands import Command
from restore_orchestrator.config import EngineConfig
from restore_orchestrator.decide import decide, plan
from restore_orchestrator.decision import ContinueNow, Stop, WaitFor
from restore_orchestrator.execute import execute
from restore_orchestrator.locks import release_and_wake_next
from restore_orchestrator.messages import decode_step, send_step
from restore_orchestrator.phases import Phase
from restore_orchestrator.record import Finish, StepUpdate, apply_changes
from restore_orchestrator.state import RestoreState, StateUnreadableError
from shared.errors import ConcurrencyConflict, OperationNotFound
from shared.operations import (
    Operation,
    OperationError,
    OperationKind,
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
    """`restore-steps`: run the step the message continues."""
    config = config or runner_config()
    try:
        message = decode_step(body)
    except ValueError as error:
        # Only this app writes the queue; a malformed message is a bug. Logged loudly, dropped
        # (the watchdog still drives the operation it may have been for).
        log.error("restore.step_message_malformed", extra={"error": str(error)})
        return
    try:
        run_steps(ctx, message.operation_id, message.seq, config=config)
    except Exception as error:
        if dequeue_count >= MAX_DEQUEUE_COUNT:
            record_engine_fault(
                ctx, message.operation_id, error, dequeue_count, seq=message.seq, config=config
            )
        raise


def run_steps(
    ctx: AppContext, operation_id: str, seq: int, *, config: RunnerConfig | None = None
) -> None:
    config = config or runner_config()
    try:
        stored = ctx.history.get(operation_id)
    except OperationNotFound:
        log.error("restore.step_for_unknown_operation", extra={"operationId": operation_id})
        return
    operation = stored.operation
    if operation.kind is not OperationKind.RESTORE or operation.status.terminal:
        log.info("restore.step_after_end", extra={"operationId": operation_id, "seq": seq})
        return
    state = RestoreState.from_json(stored.internal)
    if state.seq != seq:
        log.info(
            "restore.stale_message",
            extra={"operationId": operation_id, "seq": seq, "storedSeq": state.seq},
        )
        return
    now = _now(ctx)
    if state.wake_at is not None and (state.wake_at - now).total_seconds() > 1.0:
        # A wait longer than the queue can delay a message: send it on for the rest.
        remaining = (state.wake_at - now).total_seconds()
        send_step(ctx, operation_id, seq, remaining)
        log.info(
            "restore.wait_chained",
            extra={"operationId": operation_id, "remainingSeconds": round(remaining)},
        )
        return
    _Run(ctx, stored, state, config).steps()


class _Run:
    """One invocation's steps for one operation."""

    def __init__(
        self, ctx: AppContext, stored: StoredOperation, state: RestoreState, config: RunnerConfig
    ) -> None:
        self.ctx, self.stored, self.state, self.config = ctx, stored, state, config
        self.engine = config.engine_for(ctx)
        self.started = time.monotonic()
        self.operation_id = stored.operation.operation_id
        # The call log is written once per invocation, not per step: one round trip instead of
        # several (the request ids are in the record's steps at every checkpoint anyway).
        self.calls: dict[str, list[dict[str, Any]]] = {}

    def steps(self) -> None:
        try:
            command: Command | None = None
            while True:
                next_step = self._step(command)
                if next_step is None:
                    return
                if time.monotonic() - self.started > self.config.invocation_budget_seconds:
                    # A fresh due time: the one this invocation started under may be long past.
                    self.ctx.history.set_next_due(
                        self.operation_id, _now(self.ctx) + self.config.grace(self.ctx)
                    )
                    send_step(self.ctx, self.operation_id, self.state.seq)
                    return
                command = next_step.command
        finally:
            self._write_call_log()

    def _write_call_log(self) -> None:
        for step, calls in self.calls.items():
            try:
                self.ctx.history.append_calls(self.operation_id, step, calls)
            except Exception:
                # The log is for people; losing a few lines must not fail the step.
                log.exception("restore.call_log_failed", extra={"operationId": self.operation_id})
        self.calls.clear()

    def _step(self, command: Command | None) -> ContinueNow | None:
        ctx, state = self.ctx, self.state
        phase = state.phase
        now = _now(ctx)
        command = command or plan(state, now, self.engine)
        with recording_calls() as calls:
            answer = execute(ctx, command, operation_id=self.operation_id)
        now = _now(ctx)
        decision = decide(state, answer, now, self.engine)
        step = phase.step or "validate"
        operation = apply_changes(self.stored.operation, decision.changes, now)
        operation = add_request_ids(
            operation, step, tuple(call.request_id for call in calls if call.request_id)
        )
        new_state = replace(decision.state, seq=state.seq + 1)
        before = self.stored.operation
        try:
            self.stored = ctx.history.update(self.stored, operation, internal=new_state.to_json())
        except ConcurrencyConflict:
            log.info(
                "restore.step_lost_race",
                extra={"operationId": self.operation_id, "phase": phase.value},
            )
            return None
        self.state = new_state
        announce(ctx, before, self.stored.operation)
        if calls:
            self.calls.setdefault(step, []).extend(c.to_log_entry() for c in calls)
        log.info(
            "restore.step",
            extra={
                "operationId": self.operation_id,
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
            self._ended(operation)
            return None
        if isinstance(following, WaitFor):
            # The watchdog's due time moves only with a wait: while this invocation keeps
            # stepping (for less than the grace), the due time it started under still holds.
            due = (new_state.wake_at or now) + self.config.grace(ctx)
            ctx.history.set_next_due(self.operation_id, due)
            send_step(ctx, self.operation_id, new_state.seq, following.seconds)
            return None
        return following

    def _ended(self, operation: Operation) -> None:
        state = self.state
        log.info(
            "restore.ended",
            extra={
                "operationId": self.operation_id,
                "status": operation.status.value,
                "code": operation.error.code if operation.error else None,
            },
        )
        if not state.request.dry_run:
            _release(self.ctx, state.request.target_id, self.operation_id)


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
    watchdog to try again later, or to a person when it keeps happening."""
    config = config or runner_config()
    summary = f"{type(error).__name__}: {error}"[:500]
    try:
        stored = ctx.history.get(operation_id)
    except OperationNotFound:
        log.exception("restore.engine_fault_unrecorded", extra={"operationId": operation_id})
        return
    if stored.operation.status.terminal:
        return
    try:
        state = RestoreState.from_json(stored.internal)
    except StateUnreadableError:
        end_needing_attention(
            ctx, stored, f"The orchestrator cannot read this restore's saved state ({summary})."
        )
        return
    if seq is not None and state.seq != seq:
        return  # a stale message failing says nothing about the restore that moved on
    now = _now(ctx)
    faults = state.engine_faults + 1
    step = state.phase.step or "validate"
    text = f"This step failed {dequeue_count} times in a row ({summary})."
    if faults >= config.max_engine_faults:
        message = (
            f"{text} The orchestrator gave up after {faults} such rounds; check the environment "
            "(its type, administration mode) and the app's log."
        )
        changes: Sequence[StepUpdate | Finish] = (
            StepUpdate(step, detail=message),
            Finish(
                OperationStatus.NEEDS_ATTENTION,
                OperationError("EngineFault", message),
                skipped_detail="Not run: the orchestrator gave up.",
            ),
        )
        new_state = replace(
            state, seq=state.seq + 1, engine_faults=faults, phase=Phase.NEEDS_ATTENTION
        )
    else:
        retry_at = now + config.grace(ctx)
        message = f"{text} Trying again from {format_time(retry_at)}."
        changes = (StepUpdate(step, detail=message),)
        new_state = replace(state, seq=state.seq + 1, engine_faults=faults, wake_at=None)
    operation = apply_changes(stored.operation, changes, now)
    try:
        ctx.history.update(stored, operation, internal=new_state.to_json())
    except ConcurrencyConflict:
        return  # someone else advanced it: not stuck after all
    announce(ctx, stored.operation, operation)
    log.error(
        "restore.engine_fault",
        extra={"operationId": operation_id, "faults": faults, "error": summary},
    )
    if operation.status.terminal:
        if not state.request.dry_run:
            _release(ctx, state.request.target_id, operation_id)
    else:
        ctx.history.set_next_due(operation_id, now + config.grace(ctx))


def end_needing_attention(ctx: AppContext, stored: StoredOperation, message: str) -> None:
    """Hand a restore the engine cannot drive on to a person: NeedsAttention (which alerts) and
    its target's lock released, so newer restores of that environment are not blocked by it."""
    now = _now(ctx)
    text = (
        f"{message} Check the environment now (its type, administration mode) and the app's log; "
        "the orchestrator will not drive this restore any further."
    )
    ended = finish(
        stored.operation,
        OperationStatus.NEEDS_ATTENTION,
        now,
        error=OperationError("EngineFault", text),
    )
    try:
        ctx.history.update(stored, ended)
    except ConcurrencyConflict:
        return  # it moved after all
    announce(ctx, stored.operation, ended)
    log.error("restore.handed_to_a_person", extra={"operationId": ended.operation_id})
    _release(ctx, ended.environment_id, ended.operation_id)


def _release(ctx: AppContext, target_id: str, operation_id: str) -> None:
    try:
        release_and_wake_next(ctx, target_id, operation_id)
    except Exception:
        # The restore has ended either way; a lock left behind is taken over by the next
        # restore of the target, since its holder has ended.
        log.exception("restore.release_failed", extra={"operationId": operation_id})


def _now(ctx: AppContext) -> datetime:
    # Records keep milliseconds; deciding on the same precision keeps re-runs identical.
    return to_millis(ctx.clock())
