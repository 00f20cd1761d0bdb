"""`ppbackup ... --follow` and the CLI's tables, drawn with rich (no hand-written ANSI codes)."""

from __future__ import annotations

import io
import itertools
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from ppbackup.follow import Follower
from ppbackup.render import backups_table, history_table, show

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# Cursor movement that redraws a frame in place (rich's live view writes it, not our code).
CURSOR_UP = re.compile(r"\x1b\[\d*A")


def _record(status: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"operationId": "restore-x", "kind": "restore", "status": status,
            "environmentId": "e", "createdAt": "2026-11-20T09:00:00Z", "steps": steps}


def test_follow_appends_one_line_per_change_with_elapsed_time() -> None:
    records = iter([
        _record("Running", [{"name": "validate", "status": "Running",
                             "startedAt": "2026-11-20T09:00:00Z", "detail": "Checking."},
                            {"name": "restore", "status": "Pending"}]),
        _record("Running", [{"name": "validate", "status": "Running",
                             "startedAt": "2026-11-20T09:00:00Z", "detail": "Checking."},
                            {"name": "restore", "status": "Pending"}]),
        _record("Succeeded", [{"name": "validate", "status": "Succeeded",
                               "startedAt": "2026-11-20T09:00:00Z",
                               "endedAt": "2026-11-20T09:01:00Z", "detail": "Valid."},
                              {"name": "restore", "status": "Running",
                               "startedAt": "2026-11-20T09:01:00Z",
                               "detail": "Restoring (2 of 4 stages done)."}]),
    ])
    out = io.StringIO()
    ticks = iter(range(100))
    follower = Follower(lambda: next(records), out=out, live=False, sleep=lambda s: None,
                        clock=lambda: NOW + timedelta(minutes=next(ticks)))
    assert follower.run()["status"] == "Succeeded"
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("restore restore-x: Running")
    assert "validate Running" in lines[1]
    assert len([x for x in lines if "validate" in x]) == 2  # the unchanged poll printed nothing
    assert "validate Succeeded in 1m00s: Valid." in out.getvalue()
    assert "2 of 4 stages done" in lines[-1]
    assert all(line.startswith("[") for line in lines)


def test_follow_on_a_terminal_redraws_in_place_and_ticks_between_polls() -> None:
    """The live view redraws itself between polls, so a running step's time keeps counting."""
    validated = {"name": "validate", "status": "Succeeded", "startedAt": "2026-11-20T08:59:00Z",
                 "endedAt": "2026-11-20T09:00:00Z"}
    running = _record("Running", [validated, {"name": "restore", "status": "Running",
                                              "startedAt": "2026-11-20T09:00:00Z"}])
    done = _record("Succeeded", [validated, {"name": "restore", "status": "Succeeded",
                                             "startedAt": "2026-11-20T09:00:00Z",
                                             "endedAt": "2026-11-20T09:30:00Z"}])
    records = iter([running, done])
    out = io.StringIO()
    minutes = itertools.count()
    redrawn = threading.Event()

    def between_polls(_seconds: float) -> None:
        # Wait for the event (a frame drawn without a poll), not for a fixed time.
        while not redrawn.wait(0.05):
            if out.getvalue().count("Restore restore-x") >= 2:
                redrawn.set()
        assert redrawn.is_set()

    Follower(lambda: next(records), out=out, live=True, sleep=between_polls,
             clock=lambda: NOW + timedelta(minutes=next(minutes))).run()

    frames = out.getvalue().split("Restore restore-x")[1:]
    running_frames = [frame for frame in frames if ": Running" in frame]
    assert frames[0] == running_frames[0]
    # Drawn again before the next poll, with the running step's time moved on.
    elapsed = {re.search(r"(\S+) so far", frame).group(1)
               for frame in running_frames}
    assert len(elapsed) >= 2
    assert ": Succeeded" in frames[-1] and "30m00s" in frames[-1]
    assert "so far" not in frames[-1]
    assert all(CURSOR_UP.search(frame) for frame in frames[:-1])  # each next frame is in place


def test_tables_print_data_as_given_one_row_a_line() -> None:
    """Labels are data: rich markup in them is printed, not applied; rows are not folded."""
    record = {"operationId": "backup-1", "kind": "backup", "status": "Succeeded",
              "environmentId": "e", "label": "[bold]release[/bold] :smile:",
              "requestedBy": "a pipeline with a rather long name " * 2, "durationSeconds": 75}
    out = io.StringIO()
    show(history_table([record]), out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["OPERATION", "KIND", "STATUS"]
    [row] = [line for line in lines if "backup-1" in line]
    assert "[bold]release[/bold] :smile:" in row
    assert "1m15s" in row
    assert "…" in row  # a cell over the column's width is clipped, not wrapped


def test_empty_listings_say_so() -> None:
    out = io.StringIO()
    show(history_table([]), out)
    show(backups_table("env-1", []), out)
    assert out.getvalue().splitlines() == [
        "No operations recorded yet.", "The platform holds no backups of env-1."
    ]
