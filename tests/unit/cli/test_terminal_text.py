"""What the CLI prints of data (names, labels, messages, rows) reads as stored and never drives
the operator's terminal: an environment's name or a step's error is written by whoever can
edit it, and rich passes escape sequences through."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppbackup.cli import json_out, note
from ppbackup.follow import Follower
from ppbackup.render import (
    console,
    data_tables,
    history_table,
    operation_detail,
    points_table,
    show,
    shown,
)
from shared.inputs import DIRECTION_MARKS, INVISIBLE, REORDERING

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
# A terminal title change (OSC), a screen clear, a colour, and the one-character CSI (C1).
HOSTILE = "Fabrikam\x1b]0;owned\x07 \x1b[2J\x1b[31mProd\x9b1m"
# Anything a terminal would act on: ESC, BEL, C1 controls.
ACTING = re.compile("[\x07\x1b\x80-\x9f]")
# rich's own style sequences (bold headers, colours): the only escapes allowed in its output.
RICH_STYLE = re.compile(r"\x1b\[[0-9;]*m")


def _printed(renderable: Any) -> str:
    out = io.StringIO()
    terminal = console(out, terminal=True)
    terminal.width = 400  # nothing clipped: every cell's text is there to look at
    terminal.print(renderable)
    return out.getvalue()


def _data_escapes(text: str) -> list[str]:
    return ACTING.findall(RICH_STYLE.sub("", text))


def test_shown_makes_each_line_readable_and_keeps_the_lines() -> None:
    assert shown("a\x1b[2Jb\nc\u202ed\u200be") == "a [2Jb\ncde"
    assert shown("\u05e9\u05dc\u05d5\u05dd \u200fABC") == "\u05e9\u05dc\u05d5\u05dd \u200fABC"
    assert shown("Release \u200f1 - 2") == "Release 1 - 2"
    assert shown(42) == "42"


def test_tables_print_names_and_labels_as_they_read_without_their_escapes() -> None:
    record = {"operationId": "backup-1", "kind": "backup", "status": "Succeeded",
              "environmentName": HOSTILE, "environmentId": "env-1",
              "label": "Before release \u202e2.4", "requestedBy": "ops\u200b@contoso.com"}
    text = _printed(history_table([record]))
    assert _data_escapes(text) == []
    assert "owned" in text and "Prod" in text  # the name is shown, not dropped
    assert "Before release 2.4" in text
    assert "ops@contoso.com" in text


def test_an_operation_s_detail_steps_and_tables_carry_no_escape_of_their_data() -> None:
    record = {
        "operationId": "data_backup-1", "kind": "data_backup", "status": "Failed",
        "environmentName": HOSTILE, "environmentId": "env-1", "label": "nightly\x9b2J",
        "notes": "line one\nline\x1b[8m two", "createdAt": "2026-12-05T08:59:00Z",
        "error": {"code": "Forbidden", "message": "the platform said \x1b]8;;http://x\x07no"},
        "steps": [{"name": "copy", "status": "Failed", "detail": "read \x1b[2Jfailed",
                   "startedAt": "2026-12-05T08:59:00Z", "endedAt": "2026-12-05T09:00:00Z"},
                  {"name": "commit", "status": "Pending"}],
        "tables": [{"table": "account", "mode": "full", "rows": 10, "status": "Failed",
                    "detail": "no read privilege\x1b[31m"}],
    }
    text = _printed(operation_detail(record, now=NOW))
    assert _data_escapes(text) == []
    assert "the platform said" in text and "no read privilege" in text
    assert "line one" in text and "two" in text
    assert _data_escapes(_printed(data_tables(record["tables"]))) == []


def test_points_and_messages_printed_as_strings_are_made_readable_too() -> None:
    points = [{"pointId": "p1", "pointTime": "2026-12-05T08:00:00Z", "label": "a\x1b[2Jb",
               "tables": [{"table": "account", "rows": 3, "mode": "full"}]}]
    assert _data_escapes(_printed(points_table("env-1", points))) == []
    out = io.StringIO()
    show(f"No data backup point of {HOSTILE} yet.", out)
    assert _data_escapes(out.getvalue()) == []


def test_errors_on_stderr_carry_no_escape(capsys: pytest.CaptureFixture[str]) -> None:
    note(f"ppbackup: environment {HOSTILE!s} was not found")
    err = capsys.readouterr().err
    assert _data_escapes(err) == [] and "was not found" in err


def test_follow_s_log_lines_carry_no_escape() -> None:
    records = iter([
        {"operationId": "restore-x", "kind": "restore", "status": "Failed",
         "environmentId": "e", "createdAt": "2026-12-05T09:00:00Z",
         "steps": [{"name": "restore", "status": "Failed", "detail": "gone\x1b[2J\x9b31m",
                    "startedAt": "2026-12-05T09:00:00Z"}]},
    ])
    out = io.StringIO()
    Follower(lambda: next(records), out=out, live=False, sleep=lambda s: None,
             clock=lambda: NOW).run()
    assert _data_escapes(out.getvalue()) == [] and "gone" in out.getvalue()


_RAW_IN_JSON = re.compile(f"[\x7f-\x9f\u2028\u2029{REORDERING}{DIRECTION_MARKS}{INVISIBLE}]")


@given(st.recursive(st.text() | st.integers() | st.none(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8))
def test_json_output_reads_back_the_same_and_holds_nothing_a_terminal_acts_on(
    document: Any,
) -> None:
    text = json_out(document, indent=2)
    assert json.loads(text) == document
    assert not _RAW_IN_JSON.search(text)
    assert not re.search("[\x00-\x1f]", text.replace("\n", ""))  # C0: JSON escapes them
