"""decide(), table-driven: given a state and an answer, expect a phase, an event, what comes next
and the record changes. Plus plan(): what each phase asks for, also after a crash."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from engine import answers as a
from engine import commands as c
from engine.decision import ContinueNow, Stop, WaitFor
from engine.record import Finish, SetFlows, SetOption, StepUpdate
from restore_orchestrator.decide import decide, plan
from restore_orchestrator.kind import RESTORE
from restore_orchestrator.moves import Decision
from restore_orchestrator.phases import Event, Phase
from restore_orchestrator.reactivating import pending
from restore_orchestrator.state import FlowResult, Problem, RestoreState, Selector
from shared.flows import CloudFlow, FlowsSeen
from shared.operations import OperationStatus, StepStatus
from shared.power_platform import LifecycleKind, PlatformStatus

from .builders import CONFIG, NOW, SOURCE, TARGET, backup, env, handle, op, state

H = timedelta(hours=1)
# The target's flows were read (right after the environments).
FLOWS_READ: dict[str, Any] = {"flows_before": FlowsSeen(())}
# Before the restore: a parent flow on that calls a child flow also on; a flow off.
BEFORE = FlowsSeen((CloudFlow("p1", "A parent", True, calls=("c1",)),
                    CloudFlow("c1", "Z child", True), CloudFlow("o1", "Off one", False)))
AFTER = FlowsSeen(tuple(replace(f, on=False) for f in BEFORE.flows))
MISSING_CONNECTION = a.Refused("XrmConnectionReferenceMissingConnection",
                               "its connection reference new_teams has no connection")
M = timedelta(minutes=1)


@dataclass(frozen=True)
class Case:
    name: str
    given: RestoreState
    answer: a.Answer
    phase: Phase
    event: Event
    # "continue" / "wait" / "stop", and for continue, the command type it carries (or None)
    next: str
    command: type | None = None
    steps: dict[str, StepStatus] = field(default_factory=dict)
    finish: OperationStatus | None = None
    check: Callable[[Decision], Any] | None = None


def steps_of(decision: Decision) -> dict[str, StepStatus]:
    return {
        ch.name: ch.status
        for ch in decision.changes
        if isinstance(ch, StepUpdate) and ch.status is not None
    }


def finish_of(decision: Decision) -> Finish | None:
    return next((ch for ch in decision.changes if isinstance(ch, Finish)), None)


def error_code(decision: Decision) -> str | None:
    finish = finish_of(decision)
    return finish.error.code if finish and finish.error else None


def attention_code(decision: Decision) -> str | None:
    attention = decision.state.attention
    return attention.code if attention else None


SANDBOX_TARGET = env(name="Contoso Test", type="Sandbox")
PROD = env()
PROD_SOURCE = env(SOURCE, name="Contoso Prod EU")

CASES = [
    # --- Queued ------------------------------------------------------------------------------
    Case("lock taken: validating starts", state(), a.LockAcquired(), Phase.VALIDATING,
         Event.STARTED, "continue"),
    Case("lock busy: wait in line", state(), a.LockBusy("restore-x", first_in_line=False),
         Phase.QUEUED, Event.WAIT, "wait",
         check=lambda d: d.next == WaitFor(CONFIG.lock_retry_seconds)),
    # --- Validating ---------------------------------------------------------------------------
    Case("production target, allowed and confirmed: on to list the backups",
         state(Phase.VALIDATING), a.EnvironmentsRead(PROD, PROD), Phase.VALIDATING, Event.WAIT,
         "continue",
         check=lambda d: d.state.facts.original_type == "Production"),
    Case("production target not in RESTORE_ALLOW_PRODUCTION: rejected",
         state(Phase.VALIDATING), a.EnvironmentsRead(env("33333333-3333-4333-8333-333333333333"),
                                                     env("33333333-3333-4333-8333-333333333333")),
         Phase.REJECTED, Event.REFUSED, "stop", steps={"validate": StepStatus.FAILED},
         finish=OperationStatus.REJECTED,
         check=lambda d: error_code(d) == "ProductionNotAllowed"),
    Case("production target without confirmation: rejected",
         state(Phase.VALIDATING, request_changes={"confirm_production": None}),
         a.EnvironmentsRead(PROD, PROD), Phase.REJECTED, Event.REFUSED, "stop",
         finish=OperationStatus.REJECTED,
         check=lambda d: error_code(d) == "ConfirmationRequired"),
    Case("confirmation naming another environment: rejected",
         state(Phase.VALIDATING, request_changes={"confirm_production": "Fabrikam Prod"}),
         a.EnvironmentsRead(PROD, PROD), Phase.REJECTED, Event.REFUSED, "stop",
         check=lambda d: error_code(d) == "ConfirmationMismatch"),
    Case("confirmation by id, any case: accepted",
         state(Phase.VALIDATING, request_changes={"confirm_production": TARGET.upper()}),
         a.EnvironmentsRead(PROD, PROD), Phase.VALIDATING, Event.WAIT, "continue"),
    Case("confirmation by a display name with invisible characters, as it reads: accepted",
         state(Phase.VALIDATING, request_changes={"confirm_production": "contoso prod"}),
         a.EnvironmentsRead(env(name="Contoso\u200b Prod"), PROD), Phase.VALIDATING,
         Event.WAIT, "continue"),
    Case("default environment: rejected",
         state(Phase.VALIDATING),
         a.EnvironmentsRead(env(type="Default", default=True), PROD), Phase.REJECTED,
         Event.REFUSED, "stop", check=lambda d: error_code(d) == "TargetIsDefault"),
    Case("developer environment: rejected",
         state(Phase.VALIDATING), a.EnvironmentsRead(env(type="Developer"), PROD),
         Phase.REJECTED, Event.REFUSED, "stop",
         check=lambda d: error_code(d) == "TargetTypeNotSupported"),
    Case("another geo: rejected",
         state(Phase.VALIDATING, request_changes={"source_id": SOURCE}),
         a.EnvironmentsRead(SANDBOX_TARGET, env(SOURCE, geo="asia")), Phase.REJECTED,
         Event.REFUSED, "stop", check=lambda d: error_code(d) == "GeoMismatch"),
    Case("managed into unmanaged: rejected",
         state(Phase.VALIDATING, request_changes={"source_id": SOURCE}),
         a.EnvironmentsRead(SANDBOX_TARGET, env(SOURCE, managed=True)), Phase.REJECTED,
         Event.REFUSED, "stop", check=lambda d: error_code(d) == "ManagedMismatch"),
    Case("sandbox whose lifecycle enforcement forbids restores: rejected",
         state(Phase.VALIDATING),
         a.EnvironmentsRead(env(type="Sandbox", disallowed={"Restore": "Locked by policy"}),
                            PROD), Phase.REJECTED, Event.REFUSED, "stop",
         check=lambda d: "Locked by policy" in finish_of(d).error.message),  # type: ignore[union-attr]
    Case("newest backup with the label wins; old enough: on to the safety backup",
         state(Phase.VALIDATING, facts={"original_type": "Production", "target_name": "P",
                                        "source_retention_days": 28.0, **FLOWS_READ}),
         a.BackupsListed((backup("Before release 4.2", 3 * H, backup_id="old"),
                          backup("Before release 4.2", 2 * H, backup_id="new"),
                          backup("Other", 1 * H))),
         Phase.SAFETY_BACKUP, Event.DONE, "continue", command=c.CreateBackup,
         steps={"validate": StepStatus.SUCCEEDED},
         check=lambda d: (d.state.facts.backup_id == "new"
                          and d.state.work.intent_at == NOW)),
    Case("a backup made five minutes ago is waited for, not failed",
         state(Phase.VALIDATING, facts={"original_type": "Production",
                                        "source_retention_days": 28.0, **FLOWS_READ}),
         a.BackupsListed((backup("Before release 4.2", 5 * M),)),
         Phase.WAITING_FOR_BACKUP, Event.BACKUP_NOT_READY, "continue"),
    Case("no backup with the label: rejected with the labels there are",
         state(Phase.VALIDATING, facts={"original_type": "Production",
                                        "source_retention_days": 28.0, **FLOWS_READ}),
         a.BackupsListed((backup("Nightly", H),)), Phase.REJECTED, Event.REFUSED, "stop",
         check=lambda d: "'Nightly'" in finish_of(d).error.message),  # type: ignore[union-attr]
    Case("a point older than retention: rejected as expired",
         state(Phase.VALIDATING, request_changes={"selector": Selector.POINT,
                                                  "restore_point": NOW - timedelta(days=30)}),
         a.EnvironmentsRead(PROD, PROD), Phase.REJECTED, Event.REFUSED, "stop",
         check=lambda d: error_code(d) == "RestorePointExpired"),
    Case("an in-place point the switch to Sandbox would delete: rejected",
         state(Phase.VALIDATING, request_changes={"selector": Selector.POINT,
                                                  "restore_point": NOW - timedelta(days=10)}),
         a.EnvironmentsRead(PROD, PROD), Phase.REJECTED, Event.REFUSED, "stop",
         check=lambda d: error_code(d) == "RestorePointWouldExpire"),
    Case("the same point from another environment is fine",
         state(Phase.VALIDATING, request_changes={
             "selector": Selector.POINT, "restore_point": NOW - timedelta(days=10),
             "source_id": SOURCE}),
         a.EnvironmentsRead(PROD, PROD_SOURCE), Phase.VALIDATING, Event.WAIT, "continue",
         check=lambda d: d.state.facts.restore_point == NOW - timedelta(days=10)),
    Case("the target's flows recorded, the point known: on to the safety backup",
         state(Phase.VALIDATING, facts={"original_type": "Production", "target_name": "P",
                                        "restore_point": NOW - 2 * H}),
         a.FlowsRead(FlowsSeen((CloudFlow("f1", "Notify", True),
                                CloudFlow("f2", "Digest", False)))),
         Phase.SAFETY_BACKUP, Event.DONE, "continue", command=c.CreateBackup,
         check=lambda d: d.state.facts.flows_before is not None
         and [f.id for f in d.state.facts.flows_before.flows if f.on] == ["f1"]),
    Case("flows that cannot be read never stop the restore: noted, validation goes on",
         state(Phase.VALIDATING, facts={"original_type": "Production", "target_name": "P"}),
         a.Refused("Forbidden", "no read on workflow"), Phase.VALIDATING, Event.WAIT, "continue",
         check=lambda d: d.state.facts.flows_before_unreadable == "no read on workflow"),
    Case("latest: the newest restorable point",
         state(Phase.VALIDATING, request_changes={"selector": Selector.LATEST,
                                                  "backup_label": None}),
         a.EnvironmentsRead(PROD, PROD), Phase.VALIDATING, Event.WAIT, "continue",
         check=lambda d: (NOW - d.state.facts.restore_point)  # type: ignore[operator]
         == timedelta(seconds=CONFIG.backup_settle_seconds + CONFIG.backup_settle_margin_seconds)),
    Case("environment not found: rejected",
         state(Phase.VALIDATING), a.Missing("Environment 'x' was not found."), Phase.REJECTED,
         Event.REFUSED, "stop", check=lambda d: error_code(d) == "EnvironmentNotFound"),
    Case("unregistered app (403): failed, not rejected",
         state(Phase.VALIDATING), a.Refused("Forbidden", "register the app"), Phase.FAILED,
         Event.GAVE_UP, "stop", finish=OperationStatus.FAILED),
    Case("platform unavailable: back off",
         state(Phase.VALIDATING), a.Unavailable("503"), Phase.VALIDATING, Event.WAIT, "wait",
         check=lambda d: d.state.work.attempts == 1),
    Case("dry run of a production target: plan recorded, nothing changed",
         state(Phase.VALIDATING, request_changes={"dry_run": True},
               facts={"original_type": "Production", "source_retention_days": 28.0,
                      "target_name": "Contoso Prod", **FLOWS_READ}),
         a.BackupsListed((backup("Before release 4.2", 2 * H),)), Phase.SUCCEEDED,
         Event.DRY_RUN_DONE, "stop",
         steps={"validate": StepStatus.SUCCEEDED, "switch_to_sandbox": StepStatus.SKIPPED,
                "restore": StepStatus.SKIPPED},
         finish=OperationStatus.SUCCEEDED,
         check=lambda d: any(isinstance(ch, SetOption) and ch.key == "plan"
                             for ch in d.changes)),
    Case("dry run of a sandbox target asks the platform too",
         state(Phase.VALIDATING, request_changes={"dry_run": True},
               facts={"original_type": "Sandbox", "source_retention_days": 7.0, **FLOWS_READ}),
         a.BackupsListed((backup("Before release 4.2", 2 * H),)), Phase.VALIDATING, Event.WAIT,
         "continue"),
    # --- Waiting for the backup ---------------------------------------------------------------
    Case("backup still too young: keep waiting until it is restorable",
         state(Phase.WAITING_FOR_BACKUP, facts={"restorable_at": NOW + 4 * M}),
         a.Proceeded(), Phase.WAITING_FOR_BACKUP, Event.WAIT, "wait",
         check=lambda d: d.next == WaitFor(240.0)),
    Case("backup restorable now", state(Phase.WAITING_FOR_BACKUP), a.Proceeded(),
         Phase.SAFETY_BACKUP, Event.DONE, "continue", command=c.CreateBackup),
    # --- Safety backup ------------------------------------------------------------------------
    Case("safety backup made", state(Phase.SAFETY_BACKUP, work={"intent_at": NOW}),
         a.BackupMade(backup("Safety", 0 * M)), Phase.SWITCHING_TO_SANDBOX, Event.DONE,
         "continue", steps={"safety_backup": StepStatus.SUCCEEDED}),
    Case("safety backup not requested", state(Phase.SAFETY_BACKUP,
                                              request_changes={"safety_backup": False}),
         a.Proceeded(), Phase.SWITCHING_TO_SANDBOX, Event.DONE, "continue",
         steps={"safety_backup": StepStatus.SKIPPED}),
    Case("after a crash the backup is found: not made twice",
         state(Phase.SAFETY_BACKUP, work={"intent_at": NOW - M}),
         a.BackupFound(backup("Safety", 1 * M)), Phase.SWITCHING_TO_SANDBOX, Event.DONE,
         "continue"),
    Case("after a crash nothing was made: make it now, with a new intent",
         state(Phase.SAFETY_BACKUP, work={"intent_at": NOW - M}), a.BackupFound(None),
         Phase.SAFETY_BACKUP, Event.WAIT, "continue", command=c.CreateBackup,
         check=lambda d: d.state.work.intent_at == NOW),
    Case("safety backup refused: failed, nothing changed",
         state(Phase.SAFETY_BACKUP, work={"intent_at": NOW}), a.Refused("X", "no"),
         Phase.FAILED, Event.GAVE_UP, "stop", steps={"safety_backup": StepStatus.FAILED},
         finish=OperationStatus.FAILED),
    Case("busy environment: the safety backup waits",
         state(Phase.SAFETY_BACKUP, work={"intent_at": NOW}), a.Busy("409", retry_after=None),
         Phase.SAFETY_BACKUP, Event.WAIT, "wait"),
    # --- Switch to Sandbox --------------------------------------------------------------------
    Case("production: start the switch with its intent checkpointed first",
         state(Phase.SWITCHING_TO_SANDBOX), a.EnvironmentRead(PROD), Phase.SWITCHING_TO_SANDBOX,
         Event.WAIT, "continue", command=c.ChangeType,
         check=lambda d: d.state.work.intent_at == NOW),
    Case("already Sandbox when re-entered: not switched again",
         state(Phase.SWITCHING_TO_SANDBOX), a.EnvironmentRead(env(type="Sandbox")),
         Phase.PRECHECKING, Event.DONE, "continue",
         steps={"switch_to_sandbox": StepStatus.SUCCEEDED},
         check=lambda d: d.state.facts.switched_to_sandbox),
    Case("sandbox target: no switch",
         state(Phase.SWITCHING_TO_SANDBOX, facts={"original_type": "Sandbox"}), a.Proceeded(),
         Phase.PRECHECKING, Event.DONE, "continue",
         steps={"switch_to_sandbox": StepStatus.SKIPPED}),
    Case("switch accepted: poll after Retry-After",
         state(Phase.SWITCHING_TO_SANDBOX, work={"intent_at": NOW}),
         a.OperationStarted(handle(LifecycleKind.CHANGE_TYPE, url="https://x/op",
                                   retry_after=20.0)),
         Phase.SWITCHING_TO_SANDBOX, Event.WAIT, "wait",
         check=lambda d: d.next == WaitFor(20.0) and d.state.work.handle is not None),
    Case("switch operation succeeded: confirm by reading the environment",
         state(Phase.SWITCHING_TO_SANDBOX,
               work={"intent_at": NOW, "handle": handle(LifecycleKind.CHANGE_TYPE, url="u")}),
         a.Polled(op(PlatformStatus.SUCCEEDED, name="ModifySku")), Phase.SWITCHING_TO_SANDBOX,
         Event.WAIT, "continue", check=lambda d: d.state.work.confirming),
    Case("switch failed for good: still switch back (and end Failed later)",
         state(Phase.SWITCHING_TO_SANDBOX, work={"intent_at": NOW, "failures": 2,
                                                 "handle": handle(url="u")}),
         a.Polled(op(PlatformStatus.FAILED, error=("ModifySkuFailed", "boom"))),
         Phase.SWITCHING_TO_PRODUCTION, Event.GAVE_UP, "continue",
         steps={"switch_to_sandbox": StepStatus.FAILED},
         check=lambda d: d.state.failure is not None),
    Case("switch failed once: try again later",
         state(Phase.SWITCHING_TO_SANDBOX, work={"intent_at": NOW, "handle": handle(url="u")}),
         a.Polled(op(PlatformStatus.FAILED)), Phase.SWITCHING_TO_SANDBOX, Event.WAIT, "wait",
         check=lambda d: d.state.work.failures == 1 and d.state.work.handle is None),
    Case("crash after the switch call: the operation is found and followed",
         state(Phase.SWITCHING_TO_SANDBOX, work={"intent_at": NOW - M}),
         a.Reconciled(env(state="Running"), op(name="ModifySku", op_id="sku-1")),
         Phase.SWITCHING_TO_SANDBOX, Event.WAIT, "wait",
         check=lambda d: d.state.work.handle.operation_id == "sku-1"),  # type: ignore[union-attr]
    Case("crash before the switch call: after the grace, switch",
         state(Phase.SWITCHING_TO_SANDBOX, work={"intent_at": NOW - 20 * M}),
         a.Reconciled(PROD, None), Phase.SWITCHING_TO_SANDBOX, Event.WAIT, "continue",
         command=c.ChangeType),
    Case("crash, nothing visible yet: look again",
         state(Phase.SWITCHING_TO_SANDBOX, work={"intent_at": NOW - M}),
         a.Reconciled(PROD, None), Phase.SWITCHING_TO_SANDBOX, Event.WAIT, "wait"),
    Case("cancel requested before the switch: still switch back",
         state(Phase.SWITCHING_TO_SANDBOX, cancel_requested_at=NOW - M,
               cancel_requested_by="ops"),
         a.Proceeded(), Phase.SWITCHING_TO_PRODUCTION, Event.CANCEL, "continue",
         check=lambda d: d.state.cancelled),
    # --- Prechecking --------------------------------------------------------------------------
    Case("platform validation passes: start the restore, intent first",
         state(Phase.PRECHECKING), a.Restorable(listed=True), Phase.RESTORING, Event.DONE,
         "continue", command=c.StartRestore,
         check=lambda d: d.state.facts.restore_requested_at == NOW),
    Case("platform validation refuses: switch back, end Failed",
         state(Phase.PRECHECKING), a.Refused("RestoreGeoMismatch", "wrong geo"),
         Phase.SWITCHING_TO_PRODUCTION, Event.REFUSED, "continue",
         steps={"restore": StepStatus.FAILED}, check=lambda d: d.state.failure is not None),
    Case("not a restore candidate: switch back",
         state(Phase.PRECHECKING), a.Restorable(listed=False), Phase.SWITCHING_TO_PRODUCTION,
         Event.REFUSED, "continue"),
    # --- Restoring ----------------------------------------------------------------------------
    Case("restore accepted (bare 202): first poll in a minute",
         state(Phase.RESTORING, work={"intent_at": NOW}), a.OperationStarted(handle()),
         Phase.RESTORING, Event.WAIT, "wait",
         check=lambda d: d.next == WaitFor(60.0)),
    Case("restore running, Retry-After honoured exactly",
         state(Phase.RESTORING, work={"intent_at": NOW, "handle": handle()}),
         a.Polled(op(progress=(1, 4), retry_after=60.0)), Phase.RESTORING, Event.WAIT, "wait",
         check=lambda d: d.next == WaitFor(60.0) and len(d.state.work.progress) == 1),
    Case("restore done: switch back at once",
         state(Phase.RESTORING, work={"intent_at": NOW, "handle": handle()}),
         a.Polled(op(PlatformStatus.SUCCEEDED)), Phase.SWITCHING_TO_PRODUCTION, Event.DONE,
         "continue", steps={"restore": StepStatus.SUCCEEDED}),
    Case("restore failed on the platform: switch back, end Failed",
         state(Phase.RESTORING, work={"intent_at": NOW, "handle": handle()}),
         a.Polled(op(PlatformStatus.FAILED, error=("RestoreFailed", "disk"))),
         Phase.SWITCHING_TO_PRODUCTION, Event.GAVE_UP, "continue",
         steps={"restore": StepStatus.FAILED},
         check=lambda d: d.state.failure.code == "RestoreFailed"),  # type: ignore[union-attr]
    Case("restore still running past RESTORE_TIMEOUT_HOURS: switch back, needs attention",
         state(Phase.RESTORING, work={"intent_at": NOW, "handle": handle()},
               facts={"restore_started_at": NOW - 49 * H}),
         a.Polled(op(progress=(2, 4))), Phase.SWITCHING_TO_PRODUCTION, Event.TIMED_OUT,
         "continue", check=lambda d: d.state.attention is not None),
    Case("crash after the restore call: found, followed, never started twice",
         state(Phase.RESTORING, work={"intent_at": NOW - M}),
         a.Reconciled(env(type="Sandbox", state="Running"), op(op_id="r-1")), Phase.RESTORING,
         Event.WAIT, "wait",
         check=lambda d: d.state.work.handle.operation_id == "r-1"),  # type: ignore[union-attr]
    Case("crash, restore not listed yet: look again, do not start a second one",
         state(Phase.RESTORING, work={"intent_at": NOW - M}),
         a.Reconciled(env(type="Sandbox"), None), Phase.RESTORING, Event.WAIT, "wait"),
    Case("restore refused outright: switch back, Failed",
         state(Phase.RESTORING, work={"intent_at": NOW}),
         a.Refused("RestorePointOutsideRetention", "too old"), Phase.SWITCHING_TO_PRODUCTION,
         Event.GAVE_UP, "continue"),
    Case("409 to the restore request: keep the intent and look for it",
         state(Phase.RESTORING, work={"intent_at": NOW}), a.Busy("busy"), Phase.RESTORING,
         Event.WAIT, "wait", check=lambda d: d.state.work.intent_at == NOW),
    # --- Switch back --------------------------------------------------------------------------
    Case("switch back: start it",
         state(Phase.SWITCHING_TO_PRODUCTION), a.EnvironmentRead(env(type="Sandbox")),
         Phase.SWITCHING_TO_PRODUCTION, Event.WAIT, "continue", command=c.ChangeType),
    Case("switch back while the restore still runs (409): wait it out",
         state(Phase.SWITCHING_TO_PRODUCTION),
         a.EnvironmentRead(env(type="Sandbox", state="Running")),
         Phase.SWITCHING_TO_PRODUCTION, Event.WAIT, "wait"),
    Case("switch back keeps waiting out a restore running past its timeout",
         state(Phase.SWITCHING_TO_PRODUCTION, work={"attempts": 100}),
         a.EnvironmentRead(env(type="Sandbox", state="Running")),
         Phase.SWITCHING_TO_PRODUCTION, Event.WAIT, "wait"),
    Case("...but not beyond its own budget",
         state(Phase.SWITCHING_TO_PRODUCTION, phase_since=NOW - 25 * H),
         a.EnvironmentRead(env(type="Sandbox", state="Running")),
         Phase.DISABLING_ADMIN_MODE, Event.GAVE_UP, "continue",
         check=lambda d: attention_code(d) == "SwitchBackFailed"),
    Case("switch back failing after all retries: needs attention",
         state(Phase.SWITCHING_TO_PRODUCTION,
               work={"intent_at": NOW, "handle": handle(url="u"),
                     "failures": CONFIG.switch_back_attempts - 1}),
         a.Polled(op(PlatformStatus.FAILED)), Phase.DISABLING_ADMIN_MODE, Event.GAVE_UP,
         "continue", steps={"switch_to_production": StepStatus.FAILED},
         check=lambda d: attention_code(d) == "SwitchBackFailed"),
    Case("never switched (switch to Sandbox failed early): skipped",
         state(Phase.SWITCHING_TO_PRODUCTION, facts={"switched_to_sandbox": False}),
         a.EnvironmentRead(PROD), Phase.DISABLING_ADMIN_MODE, Event.DONE, "continue",
         steps={"switch_to_production": StepStatus.SKIPPED}),
    Case("switched back", state(Phase.SWITCHING_TO_PRODUCTION, work={"confirming": True}),
         a.EnvironmentRead(PROD), Phase.DISABLING_ADMIN_MODE, Event.DONE, "continue",
         steps={"switch_to_production": StepStatus.SUCCEEDED}),
    # --- Administration mode ------------------------------------------------------------------
    Case("admin mode on after the restore: turn it off",
         state(Phase.DISABLING_ADMIN_MODE), a.EnvironmentRead(env(admin_mode=True,
                                                                  background=False)),
         Phase.DISABLING_ADMIN_MODE, Event.WAIT, "continue", command=c.SetRuntimeState),
    Case("403 in the known window: retry in 30 s",
         state(Phase.DISABLING_ADMIN_MODE), a.AdminWindow("UserMissingRequiredPermission"),
         Phase.DISABLING_ADMIN_MODE, Event.WAIT, "wait",
         check=lambda d: d.next == WaitFor(30.0) and d.state.work.forbidden_since == NOW),
    Case("403 for over an hour: give up to verification (needs attention)",
         state(Phase.DISABLING_ADMIN_MODE, work={"forbidden_since": NOW - 61 * M}),
         a.AdminWindow("UserMissingRequiredPermission"), Phase.VERIFYING, Event.GAVE_UP,
         "continue", steps={"disable_admin_mode": StepStatus.FAILED},
         check=lambda d: d.state.attention is not None),
    Case("no restore ran: admin mode left alone",
         state(Phase.DISABLING_ADMIN_MODE, facts={"restore_requested_at": None}), a.Proceeded(),
         Phase.VERIFYING, Event.DONE, "continue",
         steps={"disable_admin_mode": StepStatus.SKIPPED}),
    # --- Verifying ----------------------------------------------------------------------------
    Case("all as before: on to the flows", state(Phase.VERIFYING), a.EnvironmentRead(PROD),
         Phase.REACTIVATING_FLOWS, Event.VERIFIED, "continue",
         steps={"verify": StepStatus.SUCCEEDED}),
    Case("restore had failed, environment back in shape: Failed",
         state(Phase.VERIFYING, failure=Problem("RestoreFailed", "x")),
         a.EnvironmentRead(PROD), Phase.FAILED, Event.CONCLUDED_FAILED, "stop",
         finish=OperationStatus.FAILED, check=lambda d: error_code(d) == "RestoreFailed"),
    Case("cancelled before the restore: Cancelled",
         state(Phase.VERIFYING, cancelled=True, facts={"restore_requested_at": None}),
         a.EnvironmentRead(PROD), Phase.CANCELLED, Event.CONCLUDED_CANCELLED, "stop",
         finish=OperationStatus.CANCELLED),
    Case("still a Sandbox at the end: needs attention",
         state(Phase.VERIFYING), a.EnvironmentRead(env(type="Sandbox")),
         Phase.NEEDS_ATTENTION, Event.NEEDS_ATTENTION, "stop",
         steps={"verify": StepStatus.FAILED}, finish=OperationStatus.NEEDS_ATTENTION),
    Case("timed out earlier: needs attention even if all is fine now",
         state(Phase.VERIFYING, attention=Problem("RestoreTimedOut", "x")),
         a.EnvironmentRead(PROD), Phase.NEEDS_ATTENTION, Event.NEEDS_ATTENTION, "stop",
         check=lambda d: error_code(d) == "RestoreTimedOut"),
    # --- Reactivating flows ------------------------------------------------------------------
    Case("the flows after the restore are read: the child before the flow that calls it",
         state(Phase.REACTIVATING_FLOWS, facts={"flows_before": BEFORE}), a.FlowsRead(AFTER),
         Phase.REACTIVATING_FLOWS, Event.WAIT, "continue",
         check=lambda d: pending(d.state) == ("c1", "p1")),
    Case("reactivateFlows none: nothing to turn on",
         state(Phase.REACTIVATING_FLOWS, request_changes={"reactivate_flows": "none"},
               facts={"flows_before": BEFORE}), a.FlowsRead(AFTER),
         Phase.REACTIVATING_FLOWS, Event.WAIT, "continue",
         check=lambda d: pending(d.state) == ()),
    Case("a flow turned on is checkpointed before the next",
         state(Phase.REACTIVATING_FLOWS, facts={"flows_before": BEFORE, "flows_after": AFTER}),
         a.FlowOn("c1", already=False), Phase.REACTIVATING_FLOWS, Event.WAIT, "continue",
         check=lambda d: pending(d.state) == ("p1",)),
    Case("a connection reference without a connection: listed with the reason, next flow",
         state(Phase.REACTIVATING_FLOWS, facts={"flows_before": BEFORE, "flows_after": AFTER,
                                                "flow_results": (FlowResult("c1", "on"),)}),
         MISSING_CONNECTION, Phase.REACTIVATING_FLOWS, Event.WAIT, "continue",
         check=lambda d: "new_teams has no connection" in (d.state.facts.flow_results[-1].reason
                                                           or "")),
    Case("throttled while turning a flow on: backed off like every step",
         state(Phase.REACTIVATING_FLOWS, facts={"flows_before": BEFORE, "flows_after": AFTER}),
         a.Throttled("429", 10.0), Phase.REACTIVATING_FLOWS, Event.WAIT, "wait",
         check=lambda d: d.state.work.attempts == 1),
    Case("one flow could not be turned on: the step Failed, the restore Succeeded",
         state(Phase.REACTIVATING_FLOWS, facts={
             "flows_before": BEFORE, "flows_after": AFTER,
             "flow_results": (FlowResult("c1", "on"), FlowResult("p1", "off", "no connection"))}),
         a.Proceeded(), Phase.SUCCEEDED, Event.DONE, "stop",
         steps={"reactivate_flows": StepStatus.FAILED}, finish=OperationStatus.SUCCEEDED),
    Case("every flow on again: the step Succeeded",
         state(Phase.REACTIVATING_FLOWS, facts={
             "flows_before": BEFORE, "flows_after": AFTER,
             "flow_results": (FlowResult("c1", "on"), FlowResult("p1", "on"))}),
         a.Proceeded(), Phase.SUCCEEDED, Event.DONE, "stop",
         steps={"reactivate_flows": StepStatus.SUCCEEDED}, finish=OperationStatus.SUCCEEDED),
    *(Case(f"the flows cannot be read after the restore ({why}): the step Failed, the restore "
           "Succeeded, the flows on before named as left off",
           state(Phase.REACTIVATING_FLOWS, facts={"flows_before": BEFORE}), answer,
           Phase.SUCCEEDED, Event.DONE, "stop",
           steps={"reactivate_flows": StepStatus.FAILED}, finish=OperationStatus.SUCCEEDED,
           check=lambda d: _left_off(d) == {"A parent", "Z child"})
      for why, answer in (
          ("401", a.Refused("AuthenticationFailed", "Dataverse refused the token (HTTP 401)")),
          ("403", a.Refused("Forbidden", "the application user lacks prvReadWorkflow")),
          ("404", a.Missing("no such table")),
          ("403 in the window after a restore", a.AdminWindow("UserMissingRequiredPermission")))),
]


def _left_off(decision: Decision) -> set[str]:
    """The names of the flows the record lists as left off that were on before, with a reason
    that says the flows could not be read."""
    flows = next(ch.flows for ch in decision.changes if isinstance(ch, SetFlows))
    return {f["name"] for f in flows if f["before"] == "on" and f["after"] != "on"
            and "could not be read" in f.get("reason", "")}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_decide(case: Case) -> None:
    decision = decide(case.given, case.answer, NOW, CONFIG)
    assert decision.state.phase is case.phase
    assert decision.event is case.event
    kind = {ContinueNow: "continue", WaitFor: "wait", Stop: "stop"}[type(decision.next)]
    assert kind == case.next
    if case.command is not None:
        assert isinstance(decision.next, ContinueNow)
        assert isinstance(decision.next.command, case.command)
    for name, status in case.steps.items():
        assert steps_of(decision).get(name) is status, (name, steps_of(decision))
    finish = finish_of(decision)
    if case.finish is not None:
        assert finish is not None
        assert finish.status is case.finish
    assert (finish is not None) == decision.state.phase.terminal
    if decision.state.phase is not case.given.phase:
        assert decision.state.work == type(decision.state.work)() or decision.state.work.intent_at
    if case.check is not None:
        assert case.check(decision), decision


def test_every_working_phase_has_a_case() -> None:
    covered = {case.given.phase for case in CASES}
    assert covered == {p for p in Phase if not p.terminal}


PLANS = [
    (state(), c.AcquireLock),
    (state(request_changes={"dry_run": True}), c.Proceed),
    (state(Phase.VALIDATING), c.InspectEnvironments),
    (state(Phase.VALIDATING, facts={"original_type": "Production"}), c.ReadFlows),
    (state(Phase.VALIDATING, facts={"original_type": "Production", **FLOWS_READ}),
     c.ListBackups),
    (state(Phase.REACTIVATING_FLOWS), c.ReadFlows),
    (state(Phase.REACTIVATING_FLOWS, facts={"flows_before": BEFORE, "flows_after": AFTER}),
     c.TurnFlowOn),
    (state(Phase.REACTIVATING_FLOWS, facts={"flows_before": BEFORE, "flows_after": AFTER,
                                            "flow_results": (FlowResult("c1", "on"),
                                                             FlowResult("p1", "on"))}),
     c.Proceed),
    (state(Phase.SAFETY_BACKUP, work={"intent_at": NOW}), c.FindBackup),
    (state(Phase.SWITCHING_TO_SANDBOX), c.ReadEnvironment),
    (state(Phase.SWITCHING_TO_SANDBOX, work={"intent_at": NOW}), c.Reconcile),
    (state(Phase.SWITCHING_TO_SANDBOX, work={"intent_at": NOW, "handle": handle(url="u")}),
     c.Poll),
    (state(Phase.SWITCHING_TO_SANDBOX, facts={"original_type": "Sandbox"}), c.Proceed),
    (state(Phase.PRECHECKING), c.CheckRestorable),
    (state(Phase.RESTORING), c.Proceed),
    (state(Phase.RESTORING, work={"intent_at": NOW}), c.Reconcile),
    (state(Phase.RESTORING, work={"intent_at": NOW, "handle": handle()}), c.Poll),
    (state(Phase.SWITCHING_TO_PRODUCTION, work={"confirming": True,
                                                "handle": handle(url="u")}), c.ReadEnvironment),
    (state(Phase.DISABLING_ADMIN_MODE), c.ReadEnvironment),
    (state(Phase.VERIFYING), c.ReadEnvironment),
    # A pending cancel is honoured first, before the platform restore starts...
    (state(Phase.PRECHECKING, cancel_requested_at=NOW), c.Proceed),
    # ...but not after it.
    (state(Phase.RESTORING, cancel_requested_at=NOW, work={"intent_at": NOW,
                                                           "handle": handle()}), c.Poll),
]


@pytest.mark.parametrize(("given", "expected"), PLANS,
                         ids=[f"{s.phase}-{t.__name__}" for s, t in PLANS])
def test_plan(given: RestoreState, expected: type) -> None:
    assert isinstance(plan(given, NOW, CONFIG), expected)


def test_a_reconciled_restore_is_never_started_twice_within_the_grace() -> None:
    """However often the step is re-run after a crash, it looks and waits until the grace ends."""
    s = state(Phase.RESTORING, work={"intent_at": NOW})
    for minute in range(int(CONFIG.reconcile_grace_seconds // 60)):
        d = decide(s, a.Reconciled(env(type="Sandbox"), None), NOW + minute * M, CONFIG)
        assert isinstance(d.next, WaitFor)
        s = d.state
    later = NOW + timedelta(seconds=CONFIG.reconcile_grace_seconds + 1)
    d = decide(s, a.Reconciled(env(type="Sandbox"), None), later, CONFIG)
    assert isinstance(d.next, ContinueNow)
    assert isinstance(d.next.command, c.StartRestore)


def test_the_state_survives_its_json_form() -> None:
    for case in CASES:
        decided = decide(case.given, case.answer, NOW, CONFIG).state
        assert RestoreState.from_json(decided.to_json()) == decided
        assert RestoreState.from_json(case.given.to_json()) == replace(case.given)


def _flows_set(changes: tuple[Any, ...]) -> dict[str, Any]:
    flows = next((ch.flows for ch in changes if isinstance(ch, SetFlows)), ())
    return {f["name"]: f for f in flows}


@pytest.mark.parametrize(("problem", "answer"), [
    ({"attention": Problem("SwitchBackFailed", "still a Sandbox")},
     a.EnvironmentRead(env(type="Sandbox", admin_mode=False))),
    ({"failure": Problem("RestoreFailed", "the platform failed the restore")},
     a.EnvironmentRead(env(admin_mode=False))),
    ({}, a.Refused("Forbidden", "cannot read the environment")),
])
def test_a_restore_ending_otherwise_after_the_overwrite_names_the_flows_that_were_on(
    problem: dict[str, Any], answer: a.Answer,
) -> None:
    given = state(Phase.VERIFYING, facts={"flows_before": BEFORE}, **problem)
    d = decide(given, answer, NOW, CONFIG)
    assert d.state.phase.terminal and d.state.phase is not Phase.SUCCEEDED
    listed = _flows_set(d.changes)
    assert set(listed) == {"A parent", "Z child", "Off one"}
    for name in ("A parent", "Z child"):
        assert listed[name]["before"] == "on" and listed[name]["after"] == "off"
        assert f"ended {d.state.phase.value}" in listed[name]["reason"]
    assert "reason" not in listed["Off one"]


def test_an_abandoned_restore_after_the_overwrite_names_the_flows_that_were_on() -> None:
    given = state(Phase.DISABLING_ADMIN_MODE, facts={"flows_before": BEFORE})
    _, changes = RESTORE.abandon(given, "poisoned")
    assert {n for n, f in _flows_set(changes).items() if f.get("reason")} == {"A parent",
                                                                             "Z child"}


def test_a_restore_ending_before_the_overwrite_lists_no_flows() -> None:
    given = state(Phase.SAFETY_BACKUP, facts={"flows_before": BEFORE})
    _, changes = RESTORE.abandon(given, "poisoned")
    assert _flows_set(changes) == {}


def test_a_restore_abandoned_while_turning_flows_on_names_those_not_yet_on() -> None:
    given = state(Phase.REACTIVATING_FLOWS, facts={
        "flows_before": BEFORE, "flows_after": AFTER, "flow_results": (FlowResult("c1", "on"),)})
    _, changes = RESTORE.abandon(given, "poisoned")
    listed = _flows_set(changes)
    assert listed["Z child"]["after"] == "on" and "reason" not in listed["Z child"]
    assert listed["A parent"]["after"] == "off"
    assert "gave up" in listed["A parent"]["reason"]


# A 403 UserMissingRequiredPermission is the platform's code for any missing permission, not only
# the window after a restore; the phases that do not wait that window out must still decide (an
# exception here poisons every delivery, and the restore ends "EngineFault" rounds later).
@pytest.mark.parametrize(
    ("given", "phase", "status_field"),
    [
        (state(Phase.VALIDATING), Phase.FAILED, "failure"),
        (state(Phase.SAFETY_BACKUP, work={"intent_at": NOW}), Phase.FAILED, "failure"),
        (state(Phase.PRECHECKING), Phase.SWITCHING_TO_PRODUCTION, "failure"),
        (state(Phase.RESTORING, work={"intent_at": NOW}), Phase.SWITCHING_TO_PRODUCTION,
         "failure"),
        (state(Phase.VERIFYING), Phase.NEEDS_ATTENTION, "attention"),
    ],
    ids=lambda value: value.phase.value if isinstance(value, RestoreState) else None,
)
def test_a_missing_permission_is_decided_in_every_phase(
    given: RestoreState, phase: Phase, status_field: str
) -> None:
    d = decide(given, a.AdminWindow("403 UserMissingRequiredPermission: no permission"), NOW,
               CONFIG)
    assert d.state.phase is phase
    problem = getattr(d.state, status_field)
    assert problem is not None and "no permission" in problem.message


def test_a_failed_restore_into_a_sandbox_does_not_claim_a_switch_back() -> None:
    # A Sandbox target is never switched: its record must not say it "is switched back".
    sandbox = {"original_type": "Sandbox", "switched_to_sandbox": False}
    running = {"intent_at": NOW, "handle": handle()}
    failed = decide(state(Phase.RESTORING, facts=sandbox, work=running),
                    a.Polled(op(PlatformStatus.FAILED, error=("RestoreFailed", "boom"))), NOW,
                    CONFIG)
    late = state(Phase.RESTORING, facts={**sandbox, "restore_started_at": NOW - timedelta(
        seconds=CONFIG.restore_timeout_seconds + 60)}, work=running)
    timed_out = decide(late, a.Polled(op()), NOW, CONFIG)
    lost = decide(state(Phase.RESTORING, facts=sandbox, work=running), a.Missing("404"), NOW,
                  CONFIG)
    for d in (failed, timed_out, lost):
        problem = d.state.failure or d.state.attention
        assert problem is not None and "switched back" not in problem.message, problem
    production = decide(state(Phase.RESTORING, work=running),
                        a.Polled(op(PlatformStatus.FAILED)), NOW, CONFIG)
    assert production.state.failure is not None
    assert "switched back" in production.state.failure.message
