"""What a person should do next, in plain words, for each outcome and known error.

The text is plain (no Markdown); cards make it inert before showing it. Environment names are
shortened here so that a pathological name cannot crowd the advice itself out of a card.
"""

from __future__ import annotations

from notifications.text import display_name, shorten
from shared.operations import (
    INTAKE_FAILED,
    UNREAD_FLOWS,
    Operation,
    OperationKind,
    OperationStatus,
    StepStatus,
)

_NAME_CHARS = 80
_DONE = (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
HISTORY_COMMAND = "ppbackup history --kind backup"


def next_steps(operation: Operation) -> tuple[str, ...]:
    """Concrete advice for `operation`, most urgent first; empty when nothing needs doing."""
    env = _env(operation.environment_name, operation.environment_id)
    if operation.status is OperationStatus.SUCCEEDED:
        return _after_restore(operation, env) if operation.kind is OperationKind.RESTORE else ()
    if not operation.status.terminal:
        return ()
    code = operation.error.code if operation.error else ""
    advice: list[str] = []
    if _timed_out(operation):
        # The platform may still be restoring: "switch back now" could collide with it, so the
        # timeout advice (look first, then clean up) stands alone.
        advice.append(_timeout(env))
    else:
        # A half-finished restore leaves the environment in a state that costs data (Sandbox
        # retention) or locks users out (administration mode); that comes before any root cause.
        cleanup = _cleanup_steps(operation, env, code)
        advice.extend(cleanup)
        if operation.status is OperationStatus.CANCELLED:
            advice.append(
                f"The restore was cancelled before the platform restore started; {env} was not "
                "restored."
                if operation.kind is OperationKind.RESTORE
                else f"The backup was cancelled; no backup of {env} was taken."
            )
        elif operation.status is OperationStatus.REJECTED:
            advice.append(_REJECTED)
        elif not cleanup or code in _ROOT_CAUSES:
            # "Request again" is wrong while cleanup is pending (the restore must not simply be
            # repeated), so only root causes that explain a failed cleanup step are added.
            advice.extend(_advice_for_code(operation, env, code))
    # A restore that ended otherwise after the overwrite left its flows off: each is named.
    advice.extend(_flows_left_off(operation, env))
    if operation.status in (OperationStatus.FAILED, OperationStatus.NEEDS_ATTENTION) and (
        code != INTAKE_FAILED  # never started: no steps, no platform request ids
    ):
        advice.append(
            f"See every step and the platform's request ids with: ppbackup status "
            f"{operation.operation_id}. If the cause is unclear, open a Microsoft support case "
            "with those request ids."
        )
    return tuple(dict.fromkeys(advice))


def switch_back_advice(environment_name: str | None, environment_id: str) -> str:
    env = _env(environment_name, environment_id)
    return (
        f"Switch {env} back to Production in the Power Platform admin center now (Environments > "
        f"{env} > Convert to production): backups older than 7 days are deleted while it is a "
        "Sandbox."
    )


def still_sandbox_steps(
    environment_name: str | None, environment_id: str, operation_id: str
) -> tuple[str, ...]:
    return (
        switch_back_advice(environment_name, environment_id),
        f"Then check what the restore did with: ppbackup status {operation_id}",
    )


def backup_expiring_steps(
    environment_name: str | None, environment_id: str, expires: str
) -> tuple[str, ...]:
    env = _env(environment_name, environment_id)
    return (
        f"If {env} may still need to go back to this point, restore it before {expires}; the "
        "platform deletes the backup then and it cannot be recovered.",
        f"To keep a fresh restore point instead, take a new labeled backup: ppbackup backup "
        f"{environment_id} --label \"...\"",
    )


def data_backup_overdue_steps(
    environment_name: str | None, environment_id: str
) -> tuple[str, ...]:
    env = _env(environment_name, environment_id)
    return (
        f"See why the recent data backups of {env} did not complete: ppbackup history --env "
        f"{environment_id} --kind data_backup",
        "A table the application user cannot read fails with a 403: assign it a security role "
        "that can read every table (Power Platform admin center > Environments > Settings > "
        "Application users).",
        f"Once fixed, take a point now: ppbackup data backup {environment_id} --wait",
    )


def data_round_steps(
    failed_count: int, failed_tables: int, pending_count: int
) -> tuple[str, ...]:
    advice = []
    if failed_tables:
        advice.append(
            "A table that failed with 403 is one the application user cannot read: assign it a "
            "security role that can (admin center > Environments > Settings > Application "
            "users). The other tables of the point were copied."
        )
    if failed_count or failed_tables:
        advice.append(
            "Once the cause is fixed, take a point now with: ppbackup data backup <environment "
            "id> --wait (see each one with: ppbackup history --kind data_backup)"
        )
    if pending_count:
        advice.append(
            f"{pending_count} data backup(s) were still running when the round was summarised; "
            "check them later with: ppbackup history --kind data_backup"
        )
    return tuple(advice)


def round_steps(failed_count: int, pending_count: int) -> tuple[str, ...]:
    advice = []
    if failed_count:
        advice.append(
            "Each failed backup has its own error above. Once the cause is fixed, back that "
            "environment up again with: ppbackup backup <environment id> --label \"...\""
        )
    if pending_count:
        advice.append(
            f"{pending_count} backup(s) were still running when the round was summarised; check "
            f"them later with: {HISTORY_COMMAND}"
        )
    return tuple(advice)


def _cleanup_steps(operation: Operation, env: str, code: str) -> list[str]:
    if operation.kind is not OperationKind.RESTORE:
        return []
    advice = []
    if _status(operation, "switch_to_sandbox") is StepStatus.SUCCEEDED and _status(
        operation, "switch_to_production"
    ) not in _DONE:
        advice.append(
            switch_back_advice(operation.environment_name, operation.environment_id)
        )
    admin_step = _status(operation, "disable_admin_mode")
    restored = _status(operation, "restore") is StepStatus.SUCCEEDED
    if admin_step is StepStatus.FAILED or (restored and admin_step not in _DONE):
        advice.append(_admin_mode_off(operation, env, forbidden=code == "Forbidden"))
    return advice


def _admin_mode_off(operation: Operation, env: str, *, forbidden: bool) -> str:
    text = (
        f"Turn administration mode off for {env}: Power Platform admin center > Environments > "
        f"{env} > Edit > Administration mode Off and Background operations On (or: pac admin "
        f"set-runtime-state --environment {operation.environment_id} --runtime-state Enabled "
        "--background-operations Enabled). Until then only System Administrators and System "
        "Customizers can sign in."
    )
    if forbidden:
        text += (
            " A permission error in the first 10-15 minutes after a restore is expected for "
            "accounts that are not tenant admins; if it persists, see the registration step."
        )
    return text


def _advice_for_code(operation: Operation, env: str, code: str) -> list[str]:
    if code in ("EnvironmentBusy", "OperationNotStartable"):
        return [
            f"Another lifecycle operation (backup, restore, copy or type change) is running on "
            f"{env}. Wait until it finishes (Power Platform admin center > Environments > {env} "
            "> History), then request again."
        ]
    if code == "ValidationFailed" or _status(operation, "validate") is StepStatus.FAILED:
        return [_VALIDATION]
    if code == "NotFound":
        return [
            "The environment or the backup was not found. Check the environment id, and "
            "whether the backup has expired (7 days in Sandbox environments, up to 28 days in "
            "Production)."
        ]
    if code == "OutcomeUnknown":
        return [
            f"The app sent a change to the platform but lost the answer, so it may or may not "
            f"have happened. Check {env} in the Power Platform admin center (its backups and "
            "History) before requesting again, so nothing is done twice."
        ]
    text = _BY_CODE.get(code)
    return [text] if text else []


def _timed_out(operation: Operation) -> bool:
    return (
        operation.kind is OperationKind.RESTORE
        and operation.status is OperationStatus.NEEDS_ATTENTION
        and _status(operation, "restore") is StepStatus.RUNNING
    )


def _timeout(env: str) -> str:
    return (
        f"The restore of {env} has run longer than RESTORE_TIMEOUT_HOURS allows. Look at it in "
        f"the Power Platform admin center (Environments > {env} > History): if it is still "
        "running, let it finish; if it failed there, switch the environment back to Production "
        "and turn administration mode off."
    )


def _after_restore(operation: Operation, env: str) -> tuple[str, ...]:
    """Every cloud flow the restore left off that someone may want on, with the reason and
    what to do (contract section 11); the general reminder when no flows were recorded."""
    if not operation.flows:
        return (
            f"Before handing {env} back to its users: flows in solutions come back turned off "
            "and connection references need new connections; turn on and reconnect what is "
            "needed.",
        )
    unread = (f"Not every cloud flow of {env} could be read (there are more than one read "
              "takes), so a flow left off may not be named here: check in Power Automate which "
              "flows should be on.")
    step = next((s for s in operation.steps if s.name == "reactivate_flows"), None)
    return (*((unread,) if step and UNREAD_FLOWS in (step.detail or "") else ()),
            *_flows_left_off(operation, env))


def _flows_left_off(operation: Operation, env: str) -> tuple[str, ...]:
    """Each flow on the record with a reason: one the restore left off that may be wanted on."""
    return tuple(
        f"Cloud flow '{shorten(str(flow.get('name') or flow.get('id')), _NAME_CHARS)}' in {env} "
        f"is {flow.get('after')}: {flow['reason']}"
        for flow in operation.flows if flow.get("reason")
    )


def _status(operation: Operation, step: str) -> StepStatus | None:
    for s in operation.steps:
        if s.name == step:
            return s.status
    return None


def _env(name: str | None, environment_id: str) -> str:
    return shorten(display_name(name, environment_id), _NAME_CHARS)


_REJECTED = (
    "Nothing was changed: the request was refused before any step ran. Correct what the error "
    "names and send the request again."
)
_VALIDATION = (
    "The request did not pass validation. Usual causes: the target is not a Sandbox (or not "
    "allowed in RESTORE_ALLOW_PRODUCTION), the backup is in another region, one environment is "
    "managed and the other is not, less than 1 GB of capacity is free, or the backup has "
    "expired. Correct it and request again."
)
_FORBIDDEN = (
    "The app's identity is not allowed to manage environments. A Power Platform administrator "
    "must register its application (client) id as a management application: pac admin "
    "application register --application-id <PP_CLIENT_ID> (or, in PowerShell, "
    "New-PowerAppManagementApp -ApplicationId <PP_CLIENT_ID>). Then request again."
)
_AUTHENTICATION = (
    "The app could not get a token for the Power Platform APIs. Check PP_AUTH, PP_TENANT_ID and "
    "PP_CLIENT_ID, and whether the client secret or certificate has expired."
)
_BY_CODE = {
    "Throttled": (
        "The Power Platform API kept answering 429 Too Many Requests beyond the app's retries. "
        "Request again in a few minutes; if backup rounds hit this often, spread them out "
        "(BACKUP_SCHEDULE) or narrow BACKUP_SCOPE."
    ),
    "Forbidden": _FORBIDDEN,
    "AuthenticationFailed": _AUTHENTICATION,
    "Transient": (
        "The Power Platform API failed temporarily (server errors or timeouts) beyond the "
        "app's retries. Request again; if it keeps failing, check Power Platform service health "
        "in the Microsoft 365 admin center."
    ),
    "ConfigError": (
        "An app setting is missing or wrong: fix the settings named in the error and restart "
        "the function app."
    ),
    INTAKE_FAILED: (
        "The app could not take this request from its queue: its own storage failed on every "
        "delivery, the poison queue's included, so nothing was done. Check the app's storage "
        "account (AzureWebJobsStorage) and the app's log, then send the request again, with a "
        "new requestId if it had one."
    ),
}
# Causes that also explain a failed cleanup step, so they are worth showing next to it.
_ROOT_CAUSES = frozenset({"Forbidden", "AuthenticationFailed"})
