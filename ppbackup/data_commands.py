"""`ppbackup data backup|points|record|restore|diff`: data backups and record restores from the
command line (contract sections 9 and 10).

`data backup` sends a request on the `data-backup-requests` queue, as `ppbackup backup` does for
the platform's backups, and with `--wait` shows the rows read per table as the operation record
reports them. `data points` and `data record` read the backup store (`DATA_BACKUP_STORAGE`) with
the same calls as `GET /api/data-backups` and `GET /api/records/...`. `data restore` admits a
record restore as `POST /api/data-restores` does; `data diff` reads its plan from the store.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from functools import partial
from itertools import islice
from typing import Any, TypeVar

from ppbackup.cli import CliError, build_context, emit, exit_code_for, json_out

_T = TypeVar("_T")
_R = TypeVar("_R")

# Rows of `data diff` laid out per table on a terminal.
DIFF_PAGE = 1000


def cmd_data_backup(args: argparse.Namespace) -> int:
    from data_backups.intake import submit_data_backup
    from data_backups.request import parse_data_backup_request

    body = _request_body(args, {"environmentId": args.environment_id, "full": args.full}, {
        "tables": list(args.table) if args.table else None, "label": args.label,
    })
    return _submit(args, parse_data_backup_request(body), submit_data_backup, follow=args.wait)


def cmd_data_points(args: argparse.Namespace) -> int:
    from data_backups import catalog
    from ppbackup.render import points_table

    env = _checked(lambda: _guid(args.environment_id, "ENV_ID"))
    table = _checked(lambda: _table(args.table))
    ctx = build_context(args)
    points: list[dict[str, Any]] = []
    token: str | None = None
    while True:  # every page: a person asked for the environment's points
        page, token = _checked(partial(catalog.list_points, ctx, env, table=table, after=token))
        points += page
        if token is None:
            break
    emit(args, points, lambda: points_table(env, points, only=table))
    return 0


def cmd_data_record(args: argparse.Namespace) -> int:
    from data_backups import catalog
    from ppbackup.render import record_history

    # Checked as `GET /api/records/...` checks them: a mistyped id or table would otherwise read
    # as a record that was never backed up.
    env = _checked(lambda: _guid(args.environment_id, "ENV_ID"))
    table = _checked(lambda: _table(args.table))
    record = _checked(lambda: _guid(args.record_id, "RECORD_ID"))
    assert table is not None
    ctx = build_context(args)
    document = _checked(lambda: catalog.record_history(ctx, env, table, record))
    emit(args, document, lambda: record_history(document))
    return 0


def cmd_data_restore(args: argparse.Namespace) -> int:
    from data_restores.intake import submit_data_restore
    from data_restores.request import parse_data_restore_request

    body = _request_body(args, {
        "sourceEnvironmentId": args.source, "tables": list(args.table),
        "withRelated": args.with_related, "apply": args.apply,
    }, {
        "targetEnvironmentId": args.target, "pointId": args.point, "at": args.at,
        "mode": args.mode, "confirmProduction": args.confirm_production, "reason": args.reason,
        "recordIds": None if args.ids is None else [
            i for given in args.ids for i in given.split(",") if i.strip()],
    })
    return _submit(args, parse_data_restore_request(body), submit_data_restore,
                   follow=args.follow)


def _request_body(
    args: argparse.Namespace, fields: dict[str, Any], optional: dict[str, Any]
) -> dict[str, Any]:
    """A request as the queue and the HTTP route take it: `fields`, the `optional` ones given,
    who asks (default: the user running the CLI) and the idempotency key given."""
    from ppbackup.cli import _whoami

    given = {**optional, "requestId": args.request_id}
    return {**fields, "requestedBy": args.requested_by or _whoami(),
            **{name: value for name, value in given.items() if value is not None}}


def _submit(
    args: argparse.Namespace, request: _R, submit: Callable[[Any, _R], Any], *, follow: bool
) -> int:
    """Admit the request as the queue would; print the record (followed to its end with
    `follow`); the exit code says how it ended."""
    from ppbackup.cli import submitted
    from ppbackup.render import operation_detail

    ctx = build_context(args)
    record = submitted(ctx, submit(ctx, request), args, follow=follow)
    emit(args, record, lambda: operation_detail(record))
    return exit_code_for(record["status"])


def cmd_data_diff(args: argparse.Namespace) -> int:
    import sys

    from ppbackup.render import diff_summary, diff_table, show
    from shared.history_api import get_record

    ctx = build_context(args)
    record = get_record(ctx, args.operation_id)  # unknown: OperationNotFound, exit 2
    if record["kind"] != "data_restore":
        raise CliError(f"{args.operation_id} is a {record['kind']}, not a record restore: only "
                       "a record restore has a diff (ppbackup status shows any operation)")
    table = _checked(lambda: _table(args.table))
    rows = restore_diff(ctx, args.operation_id, table)
    if args.json:  # JSON lines: a plan can hold a million rows
        for row in rows:
            sys.stdout.write(json_out(row) + "\n")
        sys.stdout.flush()
        return 0
    count = 0
    # A page at a time: a plan can hold a million rows, and a table is laid out whole.
    while page := list(islice(rows, DIFF_PAGE)):
        show(diff_table(page))
        count += len(page)
    show(diff_summary(args.operation_id, count))
    return 0


def restore_diff(ctx: Any, operation_id: str, table: str | None) -> Iterator[dict[str, Any]]:
    """The settled plan's rows, each with what applying made of it where that was not plain
    success (`outcome`: conflict or failed, with the platform's message)."""
    from azure.core.exceptions import ResourceNotFoundError

    from data_backups.execute import store_for
    from shared.data_store.restore_files import RestoreFiles

    files = RestoreFiles(store_for(ctx), operation_id)
    try:
        outcomes: dict[str, Any] = {}
        for document in files.outcomes():
            outcomes.update(document)
        for row in files.diff_rows(table):
            outcome = outcomes.get(str(row.get("id")))
            yield {**row, "outcome": outcome} if outcome else row
    except ResourceNotFoundError:  # no data backup store yet: no plan was ever written
        return


def _table(table: str | None) -> str | None:
    from shared.data_store.layout import check_table

    return None if table is None else check_table(table.strip().lower())


def _guid(value: str, name: str) -> str:
    from shared.inputs import parse_guid

    try:
        return parse_guid(value)
    except ValueError as error:
        raise ValueError(f"{name} {error} (got {value[:60]!r})") from None


def _checked(read: Callable[[], _T]) -> _T:
    """A malformed environment id or table name is bad usage (exit 2), said plainly: the store
    checks every name before it builds a blob name from it."""
    try:
        return read()
    except ValueError as error:
        raise CliError(str(error)) from error


def add_data_commands(
    sub: Any, with_storage: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
) -> None:
    data = sub.add_parser(
        "data", help="data backups (table rows kept for years in your own storage) and record "
        "restores",
        description="Data backups copy the rows of Dataverse tables into the backup storage "
        "account (DATA_BACKUP_STORAGE), incrementally; each complete copy is a point.",
    )
    commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    p = with_storage(commands.add_parser(
        "backup", help="take a data backup point of one environment now",
        description="Queue a data backup of ENV_ID: every table DATA_BACKUP_TABLES names (or "
        "the --table ones), incremental where the previous point allows it.",
    ))
    p.add_argument("environment_id", metavar="ENV_ID")
    p.add_argument("--table", action="append", metavar="T",
                   help="a table's logical name (repeat for more; default: DATA_BACKUP_TABLES)")
    p.add_argument("--full", action="store_true", help="copy every row, not only the changes")
    p.add_argument("--label", metavar="TEXT")
    _request_options(p, "backup")
    p.add_argument("--wait", action="store_true",
                   help="show the rows read per table until the point is complete")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_data_backup)

    p = with_storage(commands.add_parser(
        "points", help="an environment's data backup points, newest first",
    ))
    p.add_argument("environment_id", metavar="ENV_ID")
    p.add_argument("--table", metavar="T", help="only points that hold this table")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_data_points)

    p = with_storage(commands.add_parser(
        "record", help="one record's versions across the points, newest first",
    ))
    p.add_argument("environment_id", metavar="ENV_ID")
    p.add_argument("table", metavar="TABLE", help="the table's logical name, e.g. account")
    p.add_argument("record_id", metavar="RECORD_ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_data_record)

    p = with_storage(commands.add_parser(
        "restore", help="bring rows back as they were at a data backup point",
        description="Queue a record restore: the rows of the --table tables at a point (--point "
        "or the newest point at or before --at), compared with the target now. Without --apply "
        "it is a dry run: the plan is recorded (ppbackup data diff shows it), nothing is "
        "written. Rows are never deleted; a row changed in the target after the plan is a "
        "conflict, not overwritten.",
    ))
    p.add_argument("--source", required=True, metavar="ENV_ID",
                   help="the environment whose data backup points hold the rows")
    p.add_argument("--table", required=True, action="append", metavar="T",
                   help="a table's logical name (repeat for more)")
    point = p.add_mutually_exclusive_group(required=True)
    point.add_argument("--point", metavar="ID", help="a point id (ppbackup data points lists them)")
    point.add_argument("--at", metavar="TIME",
                       help="the newest point at or before this RFC 3339 time, e.g. "
                       "2026-11-20T08:00:00Z")
    p.add_argument("--target", metavar="ENV_ID", help="restore into (default: the source)")
    p.add_argument("--ids", action="append", metavar="ID,...",
                   help="only these records (comma-separated GUIDs, up to 1,000)")
    p.add_argument("--mode", metavar="missing|changed|all",
                   help="missing (default): rows gone now; changed: rows that differ; all: both")
    p.add_argument("--with-related", action="store_true",
                   help="also the rows that referenced them at the point (contacts, notes, ...)")
    p.add_argument("--apply", action="store_true", help="write (default: a dry run)")
    p.add_argument("--confirm-production", metavar="TEXT",
                   help="the target's id or display name: required to apply into Production")
    p.add_argument("--reason", help="why, for the history")
    _request_options(p, "restore")
    p.add_argument("--follow", action="store_true",
                   help="show the rows planned and written per table until it ends")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_data_restore)

    p = with_storage(commands.add_parser(
        "diff", help="a record restore's plan, row by row",
        description="Every row of a record restore's plan: its action, and for an update each "
        "column's value now -> its value at the point; for a create its values; why a row is "
        "not restorable; and each conflict and failure of the apply with the platform's message.",
    ))
    p.add_argument("operation_id", metavar="OPERATION_ID")
    p.add_argument("--table", metavar="T", help="only this table's rows")
    p.add_argument("--json", action="store_true", help="one JSON document per row (JSON lines)")
    p.set_defaults(handler=cmd_data_diff)


def _request_options(p: argparse.ArgumentParser, what: str) -> None:
    """Who asks and the idempotency key: every command that queues a request takes them."""
    p.add_argument("--requested-by", help="who asks (default: your user name)")
    p.add_argument("--request-id", help=f"idempotency key: the same key twice is one {what}")
