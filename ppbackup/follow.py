"""`--follow`: watch an operation's steps live until it ends (contract section 5).

On a terminal, the step timeline is a rich live view redrawn in place, with running steps'
elapsed time ticking every second between polls and the platform's progress (the restore step's
detail) as it comes. Anywhere else (a pipeline's log), one line per change is appended instead,
so the log reads as a timeline. Everything goes to stderr; stdout stays for the final document.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import RenderableType
from rich.live import Live

from ppbackup.render import (
    RESTORE_ACTIONS,
    console,
    duration,
    operation_detail,
    restore_summaries,
    shown,
)
from shared.operations import OperationStatus, parse_time

Record = dict[str, Any]


class Follower:
    def __init__(
        self,
        fetch: Callable[[], Record],
        *,
        out: TextIO | None = None,
        interval: float = 2.0,
        live: bool | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.fetch = fetch
        self.out = out or sys.stderr
        self.interval = interval
        self.live = self.out.isatty() if live is None else live
        self.clock = clock
        self.sleep = sleep
        self._seen: dict[str, tuple[str, str]] = {}
        self._status = ""

    def run(self) -> Record:
        return self._run_live() if self.live else self._run_log()

    # -- a terminal: a live view, redrawn in place -------------------------------------------

    def _run_live(self) -> Record:
        view = _Timeline(self.fetch(), self.clock)
        # Refreshed once a second on its own (the elapsed times tick) and at once after a poll.
        with Live(view, console=console(self.out, terminal=True), refresh_per_second=1,
                  redirect_stdout=False, redirect_stderr=False) as live:
            while not OperationStatus(view.record["status"]).terminal:
                self.sleep(self.interval)
                view.record = self.fetch()
                live.refresh()
        return view.record

    def _run_log(self) -> Record:
        while True:
            record = self.fetch()
            self._append_changes(record)
            if OperationStatus(record["status"]).terminal:
                return record
            self.sleep(self.interval)

    # -- a log: one line per change ----------------------------------------------------------

    def _append_changes(self, record: Record) -> None:
        now = self.clock()
        lines: list[str] = []
        if record["status"] != self._status:
            self._status = record["status"]
            lines.append(f"{record['kind']} {record['operationId']}: {record['status']}")
        for step in record.get("steps") or ():
            key = (str(step.get("status")), str(step.get("detail") or ""))
            if self._seen.get(step["name"]) == key or (
                step["name"] not in self._seen and key == ("Pending", "")
            ):
                continue
            self._seen[step["name"]] = key
            lines.append(step_change(step, now))
        if record.get("kind") == "data_restore":  # rows planned, then written, per table
            for title, summary in restore_summaries(record):
                for name, counts in (summary.get("tables") or {}).items():
                    seen, key = f"{title}:{name}", ("", str(sorted(counts.items())))
                    if self._seen.get(seen) != key:
                        self._seen[seen] = key
                        lines.append(restore_table_change(title, name, counts))
        else:
            for table in record.get("tables") or ():  # a data backup: rows read per table
                key = (str(table.get("status")), str(table.get("rows")))
                if self._seen.get(f"table:{table['table']}") != key:
                    self._seen[f"table:{table['table']}"] = key
                    lines.append(table_change(table))
        if lines:
            stamp = now.astimezone(UTC).strftime("%H:%M:%S")
            elapsed = _elapsed(record, now)
            for line in lines:
                self.out.write(f"[{stamp} +{elapsed}] {shown(line)}\n")
            self.out.flush()


def step_change(step: Mapping[str, Any], now: datetime) -> str:
    started = parse_time(step.get("startedAt"))
    ended = parse_time(step.get("endedAt"))
    took = ""
    if started and ended:
        took = f" in {duration((ended - started).total_seconds())}"
    elif started:
        took = f" for {duration((now - started).total_seconds())}"
    detail = f": {step['detail']}" if step.get("detail") else ""
    return f"{step['name']} {step.get('status', 'Pending')}{took}{detail}"


def table_change(table: Mapping[str, Any]) -> str:
    rows = table.get("rows")
    read = f": {rows:,} rows" if isinstance(rows, int) else ""
    detail = f" ({table['detail']})" if table.get("detail") else ""
    return f"table {table['table']} {table.get('status') or 'Pending'}{read}{detail}"


def restore_table_change(title: str, table: str, counts: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{counts[a]:,} {a}" for a in RESTORE_ACTIONS if counts.get(a))
    return f"table {table} {title.split(' ')[0]}: {shown or 'no rows'}"


def _elapsed(record: Mapping[str, Any], now: datetime) -> str:
    created = parse_time(record.get("createdAt"))
    return duration((now - created).total_seconds()) if created else "-"


class _Timeline:
    """What the live view draws: the latest record, timed by the clock at each refresh."""

    def __init__(self, record: Record, clock: Callable[[], datetime]) -> None:
        self.record = record
        self.clock = clock

    def __rich__(self) -> RenderableType:
        return operation_detail(self.record, now=self.clock())
