"""`ppbackup backups`, `delete-backup` and `annotate` against the running stack, in process."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from ppbackup import cli
from tests.integration.operations_api.test_backup_admin import backup, listing
from tests.integration.restore.conftest import Stack, StackOptions

pytestmark = pytest.mark.azurite


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def stack(make_stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch) -> Stack:
    made = make_stack(sim=replace(StackOptions().sim, system_backups=True))
    monkeypatch.setenv("AzureWebJobsStorage", made.storage)
    monkeypatch.setenv("PP_API_URL", made.sim.url)
    monkeypatch.setenv("PP_BAP_URL", made.sim.url)
    monkeypatch.setenv("PP_AUTH", "none")
    monkeypatch.setenv("USER", "maria")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal unless a test gives one
    return made


def test_backups_lists_manual_and_system_with_the_ledgers_notes(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    made = backup(stack, uat, "Before the data fix", notes="CHG-77 rollback point",
                  requestedBy="release pipeline")

    assert cli.main(["backups", uat, "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {e["kind"] for e in entries} == {"manual", "system"}
    ours = next(e for e in entries if e["backupId"] == made["backupId"])
    assert ours["operation"]["notes"] == "CHG-77 rollback point"

    assert cli.main(["backups", uat]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["KIND", "LABEL", "BACKUP"]
    ours_line = next(line for line in table if made["backupId"][:30] in line)
    for text in ("manual", "Before the data fix", made["operationId"], "release pipeline",
                 "CHG-77 rollback point"):
        assert text in ours_line
    assert sum("(system)" in line for line in table) >= 7


def test_delete_backup_needs_a_confirmation_where_nobody_can_answer(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    backup_id = stack.add_backup(uat, "Scratch")

    assert cli.main(["delete-backup", uat, backup_id]) == 2
    assert "--yes" in capsys.readouterr().err
    assert backup_id in {b["id"] for b in stack.sim.backups(uat)}


def test_delete_backup_asks_on_a_terminal(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    kept = stack.add_backup(uat, "Keep me")
    gone = stack.add_backup(uat, "Scratch")

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    assert cli.main(["delete-backup", uat, kept]) == 1
    assert "Delete backup" in capsys.readouterr().err
    assert kept in {b["id"] for b in stack.sim.backups(uat)}

    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert cli.main(["delete-backup", uat, gone, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["kind"] == "backup_delete" and record["status"] == "Succeeded"
    assert record["requestedBy"] == "maria via ppbackup CLI"
    assert gone not in {b["id"] for b in stack.sim.backups(uat)}


def test_delete_backup_yes_deletes_and_a_refusal_exits_2_with_the_reason(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    backup_id = stack.add_backup(uat, "Scratch")
    system = next(e for e in listing(stack, uat) if e["kind"] == "system")

    assert cli.main(["delete-backup", uat, backup_id, "--yes"]) == 0
    assert "Backup delete backup_delete-" in capsys.readouterr().out
    assert backup_id not in {b["id"] for b in stack.sim.backups(uat)}

    assert cli.main(["delete-backup", uat, system["backupId"], "--yes"]) == 2
    assert "system backup" in capsys.readouterr().err
    assert cli.main(["delete-backup", uat, "no-such-backup", "--yes"]) == 2
    assert "has no backup" in capsys.readouterr().err


def test_annotate_edits_the_ledger_and_shows_the_edits(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    made = backup(stack, uat, "Before 4.2")

    assert cli.main(["annotate", made["operationId"], "--notes", "Deployed fine"]) == 0
    assert cli.main(["annotate", made["operationId"], "--label", "4.2 baseline", "--json"]) == 0
    out = capsys.readouterr().out
    record = json.loads(out[out.index("{\n"):])
    assert record["label"] == "4.2 baseline" and record["notes"] == "Deployed fine"
    assert [e["by"] for e in record["options"]["annotations"]] == ["maria via ppbackup CLI"] * 2

    assert cli.main(["status", made["operationId"]]) == 0
    assert "edits:" in capsys.readouterr().out

    assert cli.main(["annotate", made["operationId"]]) == 2  # nothing to change
    assert "label, notes or both" in capsys.readouterr().err
    restore = stack.submit({"targetEnvironmentId": uat, "latest": True, "dryRun": True})
    assert cli.main(["annotate", restore, "--notes", "x"]) == 2
    assert "not a backup" in capsys.readouterr().err
