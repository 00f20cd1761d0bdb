"""Carrying out a platform command: the calls behind each one, and the answer (every kind).

Every platform refusal and fault becomes an `Answer` here, so the decision function sees values,
never exceptions. Storage failures are not answers: they propagate, and the queue delivers the
message again (the step re-runs from the stored state). A command that is not the platform's (a
restore's lock) is carried out by its kind (`Kind.execute`), which hands the rest to this one.

A backup made or found is claimed for the operation (`platform-backup:<id>`): two requests may
share a label on one environment, and a reconciliation must never adopt another's backup.
"""

from __future__ import annotations

from engine import answers as a
from engine import commands as c
from shared import errors
from shared.dataverse.errors import asks_fewer_requests
from shared.policy.clock_skew import CLOCK_SKEW
from shared.power_platform import Backup, Environment, PlatformOperation
from shared.runtime import AppContext
from shared.storage.claims import claims_for

# An operation found in a list may have started a little before our clock said we asked.


def execute(ctx: AppContext, command: c.Command, *, operation_id: str) -> a.Answer:
    try:
        return _carry_out(ctx, command, operation_id)
    except errors.PowerPlatformError as error:
        return fault_answer(error)


def fault_answer(error: errors.PowerPlatformError) -> a.Answer:
    message = error.message
    if isinstance(error, errors.Forbidden):
        if error.error_code == "UserMissingRequiredPermission":
            return a.AdminWindow(message)
        return a.Refused("Forbidden", message)
    if isinstance(error, errors.AuthenticationFailed):
        return a.Refused("AuthenticationFailed", message)
    if isinstance(error, errors.NotFound):
        return a.Missing(message)
    if isinstance(error, errors.Busy):
        return a.Busy(message, error.retry_after)
    if isinstance(error, errors.Throttled):
        return a.Throttled(message, error.retry_after, fewer=asks_fewer_requests(error))
    if isinstance(error, errors.ForeignHost):
        return a.Refused(error.code, message)
    if isinstance(error, errors.ValidationFailed):
        return a.Refused(error.error_code or "ValidationFailed", message)
    if isinstance(error, errors.OutcomeUnknown):
        return a.Lost(message)
    return a.Unavailable(message, error.retry_after)


def _carry_out(ctx: AppContext, command: c.Command, operation_id: str) -> a.Answer:
    platform = ctx.platform
    if isinstance(command, c.Proceed):
        return a.Proceeded()
    if isinstance(command, c.InspectEnvironments):
        target = _environment(ctx, command.target_id, "target")
        source = target
        if command.source_id != command.target_id:
            source = _environment(ctx, command.source_id, "source")
        return a.EnvironmentsRead(target, source)
    if isinstance(command, c.ListBackups):
        return a.BackupsListed(tuple(platform.list_backups(command.environment_id)))
    if isinstance(command, c.ReadEnvironment):
        return a.EnvironmentRead(platform.get_environment(command.environment_id))
    if isinstance(command, c.CreateBackup):
        backup = platform.create_backup(command.environment_id, command.label)
        _claim(ctx, backup, operation_id)  # ours by construction; claimed against adoption
        return a.BackupMade(backup)
    if isinstance(command, c.FindBackup):
        return a.BackupFound(_own_backup(ctx, command, operation_id))
    if isinstance(command, c.ChangeType):
        return a.OperationStarted(
            platform.begin_change_type(command.environment_id, command.environment_type)
        )
    if isinstance(command, c.Reconcile):
        environment = platform.get_environment(command.environment_id)
        return a.Reconciled(environment, _started_since(ctx, command))
    if isinstance(command, c.Poll):
        return a.Polled(platform.get_operation(command.handle))
    if isinstance(command, c.CheckRestorable):
        platform.validate_restore(
            command.target_id,
            command.source_id,
            command.restore_point,
            skip_audit_data=command.skip_audit_data,
        )
        wanted = command.target_id.lower()
        if wanted == command.source_id.lower():
            # A restore onto itself: the reference does not say whether restoreCandidates names
            # the source itself (§3.3), and ValidateOnly above is the platform's own verdict.
            return a.Restorable(True)
        candidates = platform.list_restore_candidates(command.source_id)
        return a.Restorable(any(x.environment_id.lower() == wanted for x in candidates))
    if isinstance(command, c.StartRestore):
        return a.OperationStarted(
            platform.begin_restore(
                command.target_id,
                command.source_id,
                command.restore_point,
                skip_audit_data=command.skip_audit_data,
            )
        )
    if isinstance(command, c.SetRuntimeState):
        return a.OperationStarted(
            platform.begin_set_runtime_state(
                command.environment_id, admin_mode=False, background_operations=True
            )
        )
    if isinstance(command, c.ReadFlows | c.TurnFlowOn):
        return _flows(ctx, command)
    # Never a default: an unmapped command must not turn into some platform call.
    raise TypeError(f"no executor for command {type(command).__name__}")


def _flows(ctx: AppContext, command: c.ReadFlows | c.TurnFlowOn) -> a.Answer:
    from shared.dataverse import DataverseClient, NoDataverse
    from shared.dataverse.client import shared_http_client
    from shared.dataverse.flows import read_flows, turn_on
    from shared.flows import FlowsSeen

    environment = ctx.platform.get_environment(command.environment_id)
    try:
        # The process's pool: a client of its own built a TLS context per step, about a
        # tenth of a restore step's CPU (bench/restore_engine_bench.py).
        client = DataverseClient.from_settings(
            ctx.settings, environment, http_client=shared_http_client()
        )
    except NoDataverse:
        if isinstance(command, c.TurnFlowOn):
            raise
        return a.FlowsRead(FlowsSeen(()))  # no Dataverse: no cloud flows
    with client:
        if isinstance(command, c.ReadFlows):
            return a.FlowsRead(read_flows(client))
        return a.FlowOn(command.flow_id, turn_on(client, command.flow_id))


def _environment(ctx: AppContext, environment_id: str, role: str) -> Environment:
    try:
        return ctx.platform.get_environment(environment_id)
    except errors.NotFound as error:
        raise errors.NotFound(
            f"The {role} environment {environment_id} does not exist, or this app cannot see "
            "it (is the app registered as a Power Platform management application?).",
            status=error.status,
            request_id=error.request_id,
        ) from error


def _own_backup(ctx: AppContext, command: c.FindBackup, operation_id: str) -> Backup | None:
    """The newest backup with the label made since `command.since` that this operation can
    claim (a match by label and time is only a candidate: another request may share the label)."""
    candidates = sorted(
        (
            b
            for b in ctx.platform.list_backups(command.environment_id)
            if b.label == command.label and b.point >= command.since
        ),
        key=lambda b: b.point,
        reverse=True,
    )
    return next((b for b in candidates if _claim(ctx, b, operation_id)), None)


def _claim(ctx: AppContext, backup: Backup, operation_id: str) -> bool:
    """Make `backup` this operation's for good; False if another operation owns it already."""
    return claims_for(ctx).claim(f"platform-backup:{backup.id}", operation_id) == operation_id


def _started_since(ctx: AppContext, command: c.Reconcile) -> PlatformOperation | None:
    if command.operation_name.lower() == "restore":
        return ctx.platform.find_restore_operation(command.environment_id, not_before=command.since)
    threshold = command.since - CLOCK_SKEW
    found = [
        op
        for op in ctx.platform.list_operations(command.environment_id)
        if (op.name or "").lower() == command.operation_name.lower()
        and op.started_at is not None
        and op.started_at >= threshold
    ]
    return max(found, key=lambda op: op.started_at or threshold, default=None)
