"""`ppbackup`: the operator's command line (contract section 5).

Talks to the same storage as the function app. With `--json`, stdout carries only the JSON
document; anything meant for a person goes to stderr. Exit codes: 0 success, 1 the operation
failed or needs attention, 2 bad usage or a rejected request.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared import json_text
from shared.errors import (
    BackupNotFound,
    ConfigError,
    OperationNotFound,
    PowerPlatformError,
    RequestInvalid,
    RequestRefused,
)
from shared.inputs import DIRECTION_MARKS, INVISIBLE, REORDERING
from shared.operations import OperationStatus

if TYPE_CHECKING:
    from rich.console import RenderableType

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

FOLLOW_INTERVAL_SECONDS = 2.0
# How long --follow/--wait rides out a storage account it cannot read before it stops (the
# operation carries on in the function app).
FOLLOW_OUTAGE_SECONDS = 300.0
# What a storage error's text may carry that is not to be printed.
_SECRET_IN_TEXT = re.compile(r"(?i)\b(sig|accountkey|sharedaccesssignature|code)=[^&;\s'\"]+")


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def exit_code_for(status: str) -> int:
    if status == OperationStatus.REJECTED:
        return EXIT_USAGE
    if status in (
        OperationStatus.FAILED,
        OperationStatus.NEEDS_ATTENTION,
        OperationStatus.CANCELLED,
    ):
        return EXIT_FAILED
    return EXIT_OK


# ---------------------------------------------------------------------------------------- context


def app_environment(storage: str | None) -> dict[str, str]:
    """Settings as `func start` sees them: local.settings.json's Values, the environment wins."""
    from ppbackup.local_settings import load_local_settings

    try:
        merged = dict(load_local_settings(Path("local.settings.json")))
    except ConfigError as error:
        raise CliError(str(error)) from error
    merged.update(os.environ)
    if storage:
        merged["AzureWebJobsStorage"] = storage
    return merged


def build_context(args: argparse.Namespace) -> Any:
    from shared.runtime import AppContext
    from shared.settings import Settings

    try:
        settings = Settings.from_env(app_environment(getattr(args, "storage", None)))
    except ConfigError as error:
        raise CliError(str(error)) from error
    return AppContext.from_settings(settings)


def emit(args: argparse.Namespace, document: Any, human: Callable[[], RenderableType]) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json_out(document, indent=2) + "\n")
    else:
        from ppbackup.render import show

        show(human())
    sys.stdout.flush()


# What JSON leaves raw in a string and a terminal would act on or lay out differently: C1
# controls (U+009B starts an escape sequence in some terminals), line and paragraph separators,
# and the characters that reorder text or show nothing. Escaped, the document reads the same to
# any JSON reader; ESC and the other C0 controls JSON escapes itself.
_TERMINAL_RAW = re.compile(f"[\x7f-\x9f\u2028\u2029{REORDERING}{DIRECTION_MARKS}{INVISIBLE}]")


def json_out(document: Any, *, indent: int | None = None) -> str:
    """`document` as the CLI's --json prints it: JSON whose strings hold nothing a terminal
    acts on (each such character as its \\u escape; these occur only inside strings)."""
    return _TERMINAL_RAW.sub(_escaped, json_text.dumps(document, indent=indent))


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    if code > 0xFFFF:  # as a UTF-16 surrogate pair, as JSON spells it
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def note(message: str) -> None:
    from ppbackup.render import shown

    sys.stderr.write(shown(message) + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------------------- commands


def cmd_backup(args: argparse.Namespace) -> int:
    from backup_triggers.service import submit_backup
    from ppbackup.render import operation_detail
    from shared.validation import parse_backup_request

    body: dict[str, Any] = {"environmentId": args.environment_id, "label": args.label}
    if args.notes:
        body["notes"] = args.notes
    body["requestedBy"] = args.requested_by or _whoami()
    if args.request_id:
        body["requestId"] = args.request_id
    request = parse_backup_request(body)
    ctx = build_context(args)
    operation = submit_backup(ctx, request)
    record = operation.to_record()
    if args.wait:
        record = _follow(ctx, operation.operation_id, args, show=not args.json)
    emit(args, record, lambda: operation_detail(record))
    return exit_code_for(record["status"])


def cmd_status(args: argparse.Namespace) -> int:
    from ppbackup.render import operation_detail
    from shared.history_api import get_record

    ctx = build_context(args)
    if args.follow:
        record = _follow(ctx, args.operation_id, args, show=not args.json)
    else:
        record = get_record(ctx, args.operation_id)
    emit(args, record, lambda: operation_detail(record))
    return exit_code_for(record["status"])


def cmd_history(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ppbackup.render import history_table
    from shared.history_api import list_records, parse_listing_query

    params = {"limit": str(args.limit)}
    if args.env:
        params["environmentId"] = args.env
    if args.kind:
        params["kind"] = args.kind
    if args.request_id is not None:
        params["requestId"] = args.request_id
    ctx = build_context(args)
    query = parse_listing_query(params)
    records: list[dict[str, Any]] = []
    # A page may stop short of `limit` with a token (the store bounds each read); a person
    # asked for the newest `limit`, so the CLI reads on, with what is left to find.
    while True:
        page = list_records(ctx, replace(query, limit=query.limit - len(records)))
        records += page["operations"]
        if page["continuationToken"] is None or len(records) >= query.limit:
            break
        query = replace(query, continuation=page["continuationToken"])
    emit(args, records, lambda: history_table(records))
    return EXIT_OK


def cmd_simulator(args: argparse.Namespace) -> int:
    from ppbackup.simulator import SimOptions, serve

    options = SimOptions(system_backups=True)
    if args.rows is not None:
        if args.rows < 0:
            raise CliError("--rows must be >= 0")
        options.dataverse_rows = args.rows
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port must be 0 to 65535; got {args.port}")
    try:
        serve(port=args.port, state_file=Path(args.state) if args.state else None,
              speed=args.speed, options=options)
    except OSError as error:  # the port taken, the state file unreadable
        raise CliError(f"the simulator could not start: {error.strerror or error}",
                       EXIT_FAILED) from error
    except ValueError as error:  # a state file that is not the simulator's JSON
        raise CliError(f"the simulator could not read its state file {args.state}: {error}",
                       EXIT_FAILED) from error
    return EXIT_OK


def cmd_host(args: argparse.Namespace) -> int:
    from ppbackup.app_host import serve_function_app
    from ppbackup.host import HostStartError

    environ = app_environment(getattr(args, "storage", None))
    try:
        serve_function_app(environ=environ, port=args.port)
    except ConfigError as error:
        raise CliError(str(error)) from error
    except HostStartError as error:
        raise CliError(str(error), EXIT_FAILED) from error
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from ppbackup.demo import run_demo

    return run_demo(keep_running=args.keep_running)


def _follow(ctx: Any, operation_id: str, args: argparse.Namespace, *, show: bool) -> dict[str, Any]:
    """Wait until the operation ends; with `show`, its steps live on stderr (ppbackup.follow)."""
    from io import StringIO

    from ppbackup.follow import Follower
    from shared.history_api import get_record

    follower = Follower(
        _riding_out_outages(lambda: get_record(ctx, operation_id), operation_id),
        out=None if show else StringIO(),
        interval=FOLLOW_INTERVAL_SECONDS,
    )
    try:
        return follower.run()
    except KeyboardInterrupt:
        note(
            f"ppbackup: stopped following; {operation_id} carries on. "
            f"Follow it again with: ppbackup status {operation_id} --follow"
        )
        raise


def cmd_restore(args: argparse.Namespace) -> int:
    from ppbackup.render import operation_detail
    from restore_orchestrator.intake import submit_restore
    from shared.validation import parse_restore_request

    body: dict[str, Any] = {"targetEnvironmentId": args.target}
    if args.source:
        body["sourceEnvironmentId"] = args.source
    if args.backup_id is not None:
        body["backupId"] = args.backup_id
    if args.backup_label is not None:
        body["backupLabel"] = args.backup_label
    if args.at is not None:
        body["restorePointDateTime"] = args.at
    if args.latest:
        body["latest"] = True
    if args.confirm_production is not None:
        body["confirmProduction"] = args.confirm_production
    body["skipAuditData"] = not args.keep_audit_data
    body["safetyBackup"] = not args.no_safety_backup
    body["dryRun"] = args.dry_run
    body["requestedBy"] = args.requested_by or _whoami()
    if args.reason:
        body["reason"] = args.reason
    if args.request_id:
        body["requestId"] = args.request_id
    request = parse_restore_request(body)
    ctx = build_context(args)
    record = submitted(ctx, submit_restore(ctx, request), args, follow=args.follow)
    emit(args, record, lambda: operation_detail(record))
    return exit_code_for(record["status"])


def submitted(ctx: Any, operation: Any, args: argparse.Namespace, *, follow: bool
              ) -> dict[str, Any]:
    """The record of an operation just admitted: followed to its end (live on stderr unless
    --json), or as it stands with a note on how to follow it."""
    if follow:
        return _follow(ctx, operation.operation_id, args, show=not args.json)
    if not args.json:
        note(
            f"Queued as {operation.operation_id}; the function app carries it out. "
            f"Follow it with: ppbackup status {operation.operation_id} --follow"
        )
    record: dict[str, Any] = operation.to_record()
    return record


def _riding_out_outages(
    fetch: Callable[[], dict[str, Any]], operation_id: str
) -> Callable[[], dict[str, Any]]:
    """`fetch`, but a storage error after the first read shows the last record again (said once
    on stderr) for up to FOLLOW_OUTAGE_SECONDS: an hours-long restore is not a failed pipeline
    step because its history table did not answer for a minute."""
    from azure.core.exceptions import AzureError

    last: dict[str, Any] | None = None
    failing_since: float | None = None

    def read() -> dict[str, Any]:
        nonlocal last, failing_since
        try:
            last = fetch()
        except AzureError as error:
            if last is None:
                raise
            now = time.monotonic()
            if failing_since is None:
                failing_since = now
                note(f"ppbackup: the storage account did not answer ({_storage_reason(error)}); "
                     "still following")
            elif now - failing_since > FOLLOW_OUTAGE_SECONDS:
                raise CliError(
                    f"the storage account has not answered for {FOLLOW_OUTAGE_SECONDS:.0f} s; "
                    f"{operation_id} carries on. Follow it again with: ppbackup status "
                    f"{operation_id} --follow", EXIT_FAILED) from error
            return last
        failing_since = None
        return last

    return read


def _storage_reason(error: BaseException) -> str:
    """A storage error in one line, with nothing secret in it."""
    from azure.core.exceptions import HttpResponseError

    # (error_code is set by the storage SDKs' errors, not declared on the base class.)
    code = getattr(error, "error_code", None)
    if isinstance(error, HttpResponseError) and (code or error.status_code):
        said = f"{error.status_code or ''} {code or ''}".strip()
    else:
        said = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return _SECRET_IN_TEXT.sub(r"\1=***", f"{type(error).__name__}: {said}"[:300])


def cmd_cancel(args: argparse.Namespace) -> int:
    from ppbackup.render import operation_detail
    from restore_orchestrator.cancelling import cancel_restore
    from shared.validation import parse_requested_by

    by = parse_requested_by(args.requested_by) or _whoami()
    ctx = build_context(args)
    outcome = cancel_restore(ctx, args.operation_id, requested_by=by)
    record = outcome.operation.to_record()
    note(("ppbackup: " if not outcome.accepted else "") + outcome.message)
    if args.json:
        emit(args, record, lambda: operation_detail(record))
    return EXIT_OK if outcome.accepted else EXIT_USAGE


def cmd_backups(args: argparse.Namespace) -> int:
    from backup_admin.service import list_backups
    from ppbackup.render import backups_table

    listing = list_backups(build_context(args), args.environment_id)
    emit(args, listing["backups"],
         lambda: backups_table(listing["environmentId"], listing["backups"]))
    return EXIT_OK


def cmd_delete_backup(args: argparse.Namespace) -> int:
    from backup_admin.service import delete_backup
    from ppbackup.render import operation_detail
    from shared.validation import parse_requested_by

    if not args.yes:
        _confirm(f"Delete backup {args.backup_id} of environment {args.environment_id}? "
                 "It cannot be undone. [y/N] ")
    operation = delete_backup(build_context(args), args.environment_id, args.backup_id,
                              requested_by=parse_requested_by(args.requested_by) or _whoami())
    record = operation.to_record()
    if operation.status is OperationStatus.RUNNING:
        note(f"ppbackup: the platform did not answer yet; the app keeps trying. Follow it with: "
             f"ppbackup status {operation.operation_id} --follow")
    emit(args, record, lambda: operation_detail(record))
    return exit_code_for(record["status"])


def _confirm(question: str) -> None:
    """Ask on a terminal; refuse (exit 2) where nobody can answer."""
    if not sys.stdin.isatty():
        raise CliError("refusing to delete without a confirmation: run it in a terminal, or "
                       "pass --yes")
    from ppbackup.render import shown

    sys.stderr.write(shown(question))
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError("not deleted", EXIT_FAILED)


def cmd_annotate(args: argparse.Namespace) -> int:
    from backup_admin.annotations import parse_annotation
    from backup_admin.service import annotate_backup
    from ppbackup.render import operation_detail
    from shared.validation import parse_requested_by

    body = {name: value for name, value in (("label", args.label), ("notes", args.notes))
            if value is not None}
    operation = annotate_backup(build_context(args), args.operation_id, parse_annotation(body),
                                by=parse_requested_by(args.requested_by) or _whoami())
    record = operation.to_record()
    emit(args, record, lambda: operation_detail(record))
    return EXIT_OK


def _whoami() -> str:
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "someone"
    return f"{user} via ppbackup CLI"


# ----------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ppbackup",
        description="Back up and restore Power Platform / Dataverse environments.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_storage(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--storage",
            metavar="CONNECTION",
            help="storage connection string (default: AzureWebJobsStorage or local.settings.json)",
        )
        return p

    p = with_storage(sub.add_parser("backup", help="create a labeled backup of one environment"))
    p.add_argument("environment_id", metavar="ENV_ID")
    p.add_argument("--label", required=True)
    p.add_argument("--notes")
    p.add_argument("--requested-by", help="who asks (default: your user name)")
    p.add_argument("--request-id", help="idempotency key: the same key twice is one backup")
    p.add_argument("--wait", action="store_true", help="wait until the backup has ended")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_backup)

    p = with_storage(sub.add_parser("status", help="show one operation"))
    p.add_argument("operation_id", metavar="OPERATION_ID")
    p.add_argument("--follow", action="store_true", help="watch the steps until it ends")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)

    p = with_storage(sub.add_parser("history", help="list operations, newest first"))
    p.add_argument("--env", metavar="ENV_ID")
    p.add_argument("--kind", choices=["backup", "restore", "backup_delete", "data_backup",
                                       "data_restore"])
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--request-id", help="the operation a requestId was admitted as (also a "
                   "rejected one)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_history)

    p = sub.add_parser("simulator", help="run the local Power Platform API simulator")
    p.add_argument("--port", type=int, default=7080)
    p.add_argument("--state", metavar="FILE", help="load and save the simulated tenant here")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (e.g. 3600: an hour a second)",
    )
    p.add_argument("--rows", type=int, default=None, metavar="N",
                   help="seeded rows per Dataverse data table of each environment (default "
                        "50; generated on demand, so a million cost no memory)")
    p.set_defaults(handler=cmd_simulator)

    p = with_storage(sub.add_parser("host", help="run the function app's triggers locally"))
    p.add_argument("--port", type=int, default=7071)
    p.set_defaults(handler=cmd_host)

    p = sub.add_parser("demo", help="Azurite + simulator + host + a backup round, end to end")
    p.add_argument(
        "--keep-running",
        action="store_true",
        help="leave everything up after the demo until Ctrl-C",
    )
    p.set_defaults(handler=cmd_demo)

    _add_restore_commands(sub, with_storage)
    _add_backup_admin_commands(sub, with_storage)
    from ppbackup.data_commands import add_data_commands  # it imports this module

    add_data_commands(sub, with_storage)
    return parser


def _add_backup_admin_commands(
    sub: Any, with_storage: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
) -> None:
    p = with_storage(sub.add_parser(
        "backups", help="the platform's backups of one environment (manual and system)",
        description="Every backup the platform holds for ENV_ID, newest first, with the label, "
        "notes and requester this app's history keeps for the ones it made.",
    ))
    p.add_argument("environment_id", metavar="ENV_ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_backups)

    p = with_storage(sub.add_parser(
        "delete-backup", help="delete a manual backup (never a system one)",
        description="Delete a manual backup. Refused for a system backup, one a queued, "
        "running or needs-attention restore uses (its source or its safety backup), and the "
        "newest pre-update backup of an environment in BACKUP_SCOPE. The deletion is recorded "
        "as an operation (kind backup_delete).",
    ))
    p.add_argument("environment_id", metavar="ENV_ID")
    p.add_argument("backup_id", metavar="BACKUP_ID")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--requested-by", help="who asks (default: your user name)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_delete_backup)

    p = with_storage(sub.add_parser(
        "annotate", help="edit the label and notes the history keeps for a backup",
        description="Change the label and/or notes of a backup operation in the history; the "
        "platform keeps the label the backup was made with. Every edit is kept with who made "
        "it and when.",
    ))
    p.add_argument("operation_id", metavar="OPERATION_ID")
    p.add_argument("--label")
    p.add_argument("--notes", help='the new notes ("" clears them)')
    p.add_argument("--requested-by", help="who edits (default: your user name)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_annotate)


def _add_restore_commands(
    sub: Any, with_storage: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
) -> None:
    p = with_storage(
        sub.add_parser(
            "restore",
            help="restore a backup or a point in time into an environment",
            description="Restore into TARGET: a Production target is switched to Sandbox for the "
            "restore and always switched back; administration mode is turned off at the end.",
        )
    )
    p.add_argument(
        "--target", required=True, metavar="ENV_ID", help="the environment restored into"
    )
    p.add_argument(
        "--source", metavar="ENV_ID", help="restore from this environment (default: the target)"
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--backup-id", metavar="ID", help="a manual backup, by id")
    which.add_argument("--backup-label", metavar="TEXT", help="the newest backup with this label")
    which.add_argument(
        "--at",
        metavar="ISO8601",
        help="a point in time with its UTC offset, e.g. 2026-11-20T08:00:00Z",
    )
    which.add_argument("--latest", action="store_true", help="the newest restorable point")
    p.add_argument(
        "--confirm-production",
        metavar="TEXT",
        help="the target's id or display name: required when it is Production",
    )
    p.add_argument(
        "--keep-audit-data",
        action="store_true",
        help="restore audit data too (slower; skipped by default)",
    )
    p.add_argument(
        "--no-safety-backup",
        action="store_true",
        help="do not back the target up before overwriting it",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and record the plan of steps; change nothing",
    )
    p.add_argument("--requested-by", help="who asks (default: your user name)")
    p.add_argument("--reason", help="why, for the history")
    p.add_argument("--request-id", help="idempotency key: the same key twice is one restore")
    p.add_argument("--follow", action="store_true", help="watch the steps until it ends")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_restore)

    p = with_storage(
        sub.add_parser("cancel", help="cancel a restore that has not started its platform restore")
    )
    p.add_argument("operation_id", metavar="OPERATION_ID")
    p.add_argument("--requested-by", help="who asks (default: your user name)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_cancel)


def main(argv: Sequence[str] | None = None) -> int:
    from azure.core.exceptions import AzureError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.handler not in (cmd_host, cmd_demo, cmd_simulator):  # those set their own logging
        _quiet_library_warnings()
    try:
        code: int = args.handler(args)
        return code
    except CliError as error:
        note(f"ppbackup: {error}")
        return error.exit_code
    except RequestInvalid as error:
        _print_invalid(args, error)
        return EXIT_USAGE
    except (OperationNotFound, BackupNotFound, RequestRefused) as error:
        note(f"ppbackup: {error.message}")
        return EXIT_USAGE
    except PowerPlatformError as error:
        # No status: no answer came (refused, timed out), which is not the platform's word.
        said = "answered" if error.status is not None else "could not be reached"
        note(f"ppbackup: the Power Platform {said}: {error.message}")
        return EXIT_FAILED
    except AzureError as error:
        note(f"ppbackup: the storage account could not be used ({_storage_reason(error)}). "
             "Check AzureWebJobsStorage (or --storage) and DATA_BACKUP_STORAGE, and that "
             "Azurite runs when working locally.")
        return EXIT_FAILED
    except KeyboardInterrupt:
        note("ppbackup: interrupted")
        return 130


def _quiet_library_warnings() -> None:
    """The app's modules log as a function app does (event names, their facts in `extra`); with
    no handler set, Python would print each warning's bare event name (`pp.retry`) on stderr
    beside the CLI's own sentences. What the CLI must say, it says itself: only errors reach
    stderr, as a line of their own."""
    import logging

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.ERROR)
        handler.setFormatter(logging.Formatter("ppbackup: log: %(name)s: %(message)s"))
        root.addHandler(handler)


def _print_invalid(args: argparse.Namespace, error: RequestInvalid) -> None:
    document: Mapping[str, Any] = {
        "error": {"code": error.code, "message": error.message, "fields": error.fields}
    }
    if getattr(args, "json", False):
        sys.stdout.write(json_out(document, indent=2) + "\n")
    note(f"ppbackup: {error.message}")


if __name__ == "__main__":
    raise SystemExit(main())
