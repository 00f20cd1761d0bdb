"""A record restore in the CLI's views: `--follow`'s rows planned and written per table, the
record's counts, and `ppbackup data diff`'s one line per row (contract section 10)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from data_restores.counts import empty_summary, tally
from ppbackup.follow import Follower
from ppbackup.render import (
    diff_summary,
    diff_table,
    operation_detail,
    restore_changes,
    show,
)

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _record(status: str, *, plan: dict[str, Any], applied: dict[str, Any],
            dry_run: bool = False) -> dict[str, Any]:
    return {"operationId": "data_restore-x", "kind": "data_restore", "status": status,
            "environmentId": "e", "createdAt": "2026-12-03T09:00:00Z",
            "tables": ["account", "contact"], "options": {"dryRun": True} if dry_run else {},
            "plan": plan, "applied": applied,
            "steps": [{"name": "validate", "status": "Succeeded"},
                      {"name": "plan", "status": "Succeeded"},
                      {"name": "apply", "status": "Running" if status == "Running" else status}]}


PLAN = tally([("account", "create")] * 3 + [("account", "update"), ("contact", "create")])


def test_follow_logs_rows_written_per_table_as_they_grow() -> None:
    records = iter([
        _record("Running", plan=PLAN, applied=empty_summary()),
        _record("Running", plan=PLAN, applied=tally([("account", "create")] * 2)),
        _record("Running", plan=PLAN, applied=tally([("account", "create")] * 2)),
        _record("Succeeded", plan=PLAN, applied=tally(
            [("account", "create")] * 2 + [("account", "conflict"), ("account", "update"),
                                           ("contact", "create")])),
    ])
    out = io.StringIO()
    ticks = iter(range(100))
    follower = Follower(lambda: next(records), out=out, live=False, sleep=lambda s: None,
                        clock=lambda: NOW + timedelta(seconds=next(ticks)))
    assert follower.run()["status"] == "Succeeded"
    lines = out.getvalue().splitlines()
    assert any(line.endswith("table account plan: 3 create, 1 update") for line in lines)
    assert any(line.endswith("table contact plan: 1 create") for line in lines)
    written = [line for line in lines if "table account written" in line]
    # One line per change (the unchanged poll printed nothing), the last with the conflict.
    assert [line.split("] ", 1)[1] for line in written] == [
        "table account written: 2 create",
        "table account written: 2 create, 1 update, 1 conflict",
    ]
    assert lines[-1].endswith("table contact written: 1 create")


def test_a_dry_run_shows_its_plan_and_says_nothing_was_written() -> None:
    out = io.StringIO()
    show(operation_detail(_record("Succeeded", plan=PLAN, applied=empty_summary(),
                                  dry_run=True), now=NOW), out)
    text = out.getvalue()
    assert "plan (dry run: nothing written):" in text
    assert "written:" not in text
    account = next(line.split() for line in text.splitlines() if line.split()[:1] == ["account"])
    assert account == ["account", "3", "1", "0", "0", "0", "0"]
    total = next(line.split() for line in text.splitlines() if line.split()[:1] == ["total"])
    assert total == ["total", "4", "1", "0", "0", "0", "0"]


def test_a_diff_line_per_action() -> None:
    update = {"table": "account", "id": "a1", "action": "update",
              "values": {"name": "Contoso", "revenue": 10},
              "before": {"name": "Fabrikam", "revenue": None, "_parentaccountid_value": None,
                         "statecode": 1, "statuscode": 2},
              "references": [["parentaccountid", "account", "p1"]], "state": [0, 1]}
    assert restore_changes(update) == (
        "name: 'Fabrikam' -> 'Contoso'; revenue: None -> 10; "
        "parentaccountid: None -> account p1; state: [1, 2] -> [0, 1]")
    create = {"table": "contact", "id": "c1", "action": "create", "values": {"lastname": "Ng"},
              "references": [["parentcustomerid", "account", "a1"]]}
    assert restore_changes(create) == "lastname='Ng'; parentcustomerid=account a1"
    lost = {"table": "note", "id": "n1", "action": "notRestorable",
            "reasons": ["column new_x no longer exists in annotation"]}
    assert restore_changes(lost) == (
        "not restorable: column new_x no longer exists in annotation")
    conflict = {**update, "outcome": {"table": "account", "action": "conflict",
                                      "message": "The row changed since the plan read it."}}
    assert restore_changes(conflict).endswith(
        "; conflict: The row changed since the plan read it.")
    out = io.StringIO()
    show(diff_table([update, create, lost, conflict]), out)
    text = out.getvalue()
    assert "update -> conflict" in text and "notRestorable" in text
    assert [line.split()[:3] for line in text.splitlines()[2:]] == [
        ["account", "a1", "update"], ["contact", "c1", "create"],
        ["note", "n1", "notRestorable"], ["account", "a1", "update"]]
    assert diff_summary("data_restore-x", 4) == "data_restore-x: 4 row(s)"


def test_an_empty_diff_says_why() -> None:
    assert "no planned rows yet" in diff_summary("data_restore-x", 0)
