"""`ppbackup restore` / `cancel` / `status --follow` against the running stack, in process."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace

import pytest

from ppbackup import cli
from tests.integration.restore.conftest import Stack, StackOptions, steps_by_name


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[Stack], None]:
    def point_at(stack: Stack) -> None:
        monkeypatch.setenv("AzureWebJobsStorage", stack.storage)
        monkeypatch.setenv("PP_API_URL", stack.sim.url)
        monkeypatch.setenv("PP_BAP_URL", stack.sim.url)
        monkeypatch.setenv("PP_AUTH", "none")
        monkeypatch.setattr(cli, "FOLLOW_INTERVAL_SECONDS", 0.2)

    return point_at


def test_restore_follow_shows_the_steps_and_exits_0(
    make_stack: Callable[..., Stack], cli_env: Callable[[Stack], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = make_stack()
    cli_env(stack)
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "Before release 4.2")

    code = cli.main([
        "restore", "--target", prod, "--backup-label", "Before release 4.2",
        "--confirm-production", "Contoso Prod", "--follow", "--json",
    ])

    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(out)  # stdout is the record and nothing else
    assert record["status"] == "Succeeded"
    assert stack.env_type(prod) == "Production"


def test_follow_prints_a_timeline_with_progress(
    make_stack: Callable[..., Stack], cli_env: Callable[[Stack], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Stepped: the restore stays running, its stages counted, until the follower has shown it
    # (on a running clock that lasts a few real seconds, which a busy machine can miss).
    stack = make_stack(stepped=True, sim=replace(StackOptions().sim, retry_after=None))
    cli_env(stack)
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    stack.add_backup(uat, "Nightly")
    operation_id = stack.submit({"targetEnvironmentId": uat, "backupLabel": "Nightly"})
    codes: list[int] = []
    follower = threading.Thread(
        target=lambda: codes.append(cli.main(["status", operation_id, "--follow"])), daemon=True)
    follower.start()
    out, err = "", ""

    def shown(text: str) -> bool:
        nonlocal out, err
        captured = capsys.readouterr()
        out, err = out + captured.out, err + captured.err
        return any(text in line and "restore Running" in line for line in err.splitlines())

    stack.run_until(lambda: "stages done" in (
        steps_by_name(stack.record(operation_id))["restore"].get("detail") or ""))
    stack.wait_for(lambda: shown("stages done"), timeout=60)
    stack.run_until_ended(operation_id)
    follower.join(timeout=60)
    shown("")

    assert codes == [0]
    lines = err.splitlines()
    assert any("verify Succeeded" in line for line in lines)
    assert all(line.startswith("[") and " +" in line for line in lines)  # time and elapsed
    assert "Succeeded" in out


def test_rejected_restore_exits_2_and_cancel_refusal_exits_2(
    make_stack: Callable[..., Stack], cli_env: Callable[[Stack], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = make_stack(allow_production="")
    cli_env(stack)
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")

    code = cli.main(["restore", "--target", prod, "--backup-label", "B", "--follow", "--json"])
    out, _ = capsys.readouterr()
    assert code == 2
    record = json.loads(out)
    assert record["status"] == "Rejected"
    assert record["error"]["code"] == "ProductionNotAllowed"

    code = cli.main(["cancel", record["operationId"]])
    _, err = capsys.readouterr()
    assert code == 2
    assert "already ended" in err

    with pytest.raises(SystemExit) as usage:  # argparse: one restore point only
        cli.main(["restore", "--target", prod, "--latest", "--at", "2026-01-01T00:00:00Z"])
    assert usage.value.code == 2


def test_dry_run_from_the_cli(
    make_stack: Callable[..., Stack], cli_env: Callable[[Stack], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = make_stack()
    cli_env(stack)
    uat = stack.add_env("Contoso UAT", type="Sandbox")

    code = cli.main(["restore", "--target", uat, "--latest", "--dry-run", "--follow"])

    out, _ = capsys.readouterr()
    assert code == 0
    assert "Dry run: would restore" in out
    assert stack.platform_ops(uat, "Restore") == []


def test_backup_wait_says_what_it_waits_for_on_stderr(
    make_stack: Callable[..., Stack], cli_env: Callable[[Stack], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = make_stack()
    cli_env(stack)
    prod = stack.add_env("Contoso Prod")

    code = cli.main(["backup", prod, "--label", "Before release 4.3", "--wait"])

    out, err = capsys.readouterr()
    assert code == 0, err
    # A wait the function app never answers must still name what it waits for.
    [backup] = [op for op in stack.ctx.history.list(limit=10).items if op.kind.value == "backup"]
    assert f"backup {backup.operation_id}: Succeeded" in err
    assert "Succeeded" in out
