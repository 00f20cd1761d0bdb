"""`ppbackup data backup|points|record`: data backups from the command line (contract section 9).

`data backup` sends a request on the `data-backup-requests` queue, as `ppbackup backup` does for
the platform's backups, and with `--wait` shows the rows read per table as the operation record
reports them. `data points` and `data record` read the backup store (`DATA_BACKUP_STORAGE`) with
the same calls as `GET /api/data-backups` and `GET /api/records/...`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from ppbackup.cli import CliError, build_context, emit, exit_code_for

_T = TypeVar("_T")


def cmd_data_backup(args: argparse.Namespace) -> int:
    from data_backups.intake import submit_data_backup
    from data_backups.request import parse_data_backup_request
    from ppbackup.cli import _whoami, submitted
    from ppbackup.render import operation_detail

    body: dict[str, Any] = {"environmentId": args.environment_id, "full": args.full,
                            "requestedBy": args.requested_by or _whoami()}
    if args.table:
        body["tables"] = list(args.table)
    if args.label is not None:
        body["label"] = args.label
    if args.request_id:
        body["requestId"] = args.request_id
    request = parse_data_backup_request(body)
    ctx = build_context(args)
    record = submitted(ctx, submit_data_backup(ctx, request), args, follow=args.wait)
    emit(args, record, lambda: operation_detail(record))
    return exit_code_for(record["status"])


def cmd_data_points(args: argparse.Namespace) -> int:
    from data_backups import catalog
    from ppbackup.render import points_table

    ctx = build_context(args)
    points: list[dict[str, Any]] = []
    token: str | None = None
    while True:  # every page: a person asked for the environment's points
        page, token = _checked(partial(catalog.list_points, ctx, args.environment_id,
                                       table=args.table, after=token))
        points += page
        if token is None:
            break
    emit(args, points, lambda: points_table(args.environment_id, points, only=args.table))
    return 0


def cmd_data_record(args: argparse.Namespace) -> int:
    from data_backups import catalog
    from ppbackup.render import record_history

    ctx = build_context(args)
    document = _checked(lambda: catalog.record_history(
        ctx, args.environment_id, args.table, args.record_id))
    emit(args, document, lambda: record_history(document))
    return 0


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
        "data", help="data backups: table rows kept for years in your own storage",
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
    p.add_argument("--requested-by", help="who asks (default: your user name)")
    p.add_argument("--request-id", help="idempotency key: the same key twice is one backup")
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
