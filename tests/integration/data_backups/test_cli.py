"""`ppbackup data backup|points|record` against a real data backup (Azurite, the simulator's
Dataverse, the engine driven step by step): the request goes on record like the queue's, `--wait`
shows rows per table as they are read, and the points and a record's history read back."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from ppbackup import cli
from ppbackup.simulator import Simulator
from shared.operations import OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import Clock, drive, live_rows

pytestmark = pytest.mark.azurite


@pytest.fixture(autouse=True)
def cli_env(storage: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AzureWebJobsStorage": storage, "PP_API_URL": sim.url,
                        "PP_BAP_URL": sim.url, "PP_AUTH": "none", "USER": "maria"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli, "FOLLOW_INTERVAL_SECONDS", 0.02)


def driving(ctx: AppContext, clock: Clock) -> tuple[threading.Thread, list[str]]:
    """A worker that runs the first data backup it finds, as the function app would."""
    done: list[str] = []

    def work() -> None:
        for _ in range(2000):
            page = ctx.history.list(limit=5)
            queued = [o for o in page.items if o.kind.value == "data_backup" and not
                      o.status.terminal]
            if queued:
                done.append(drive(ctx, clock, queued[0].operation_id).operation_id)
                return
            threading.Event().wait(0.01)  # the CLI has not written the request yet

    return threading.Thread(target=work, daemon=True), done


def test_backup_wait_then_points_and_record_history(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    worker, done = driving(ctx, clock)
    worker.start()
    assert cli.main(["data", "backup", env_id, "--table", "account", "--table", "contact",
                     "--label", "Before the price import", "--wait"]) == 0
    worker.join(timeout=60)
    out, err = capsys.readouterr()
    accounts = live_rows(sim, env_id, "accounts", "accountid")
    # The live view (a log where stderr is not a terminal): one line per table as it moves.
    assert f"table account Succeeded: {len(accounts)} rows" in err
    assert "Data backup" in out and "Succeeded" in out and "Before the price import" in out
    table_line = next(line for line in out.splitlines() if line.split()[:1] == ["account"])
    assert table_line.split()[:3] == ["account", "full", str(len(accounts))]

    record_id = sorted(accounts)[0]
    sim.dataverse_change(env_id, "account", "update", record_id, {"name": "Changed by import"})
    clock.reach(clock.now + timedelta(hours=1))
    worker, done = driving(ctx, clock)
    worker.start()
    assert cli.main(["data", "backup", env_id, "--table", "account", "--json", "--wait"]) == 0
    worker.join(timeout=60)
    second = json.loads(capsys.readouterr().out)
    assert second["status"] == "Succeeded" and second["operationId"] == done[0]
    [table] = second["tables"]
    assert (table["table"], table["mode"], table["changed"]) == ("account", "incremental", 1)

    assert cli.main(["data", "points", env_id, "--json"]) == 0
    points = json.loads(capsys.readouterr().out)
    assert [p["pointId"] for p in points] == [second["pointId"], points[-1]["pointId"]]
    assert points[-1]["label"] == "Before the price import"

    assert cli.main(["data", "record", env_id, "account", record_id]) == 0
    history = capsys.readouterr().out
    assert "2 versions, newest first" in history
    assert "-> 'Changed by import'" in history


def test_a_request_naming_nothing_valid_is_bad_usage(
    ctx: AppContext, env_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["data", "backup", env_id, "--table", "Not A Table", "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert "tables" in document["error"]["fields"]
    assert cli.main(["data", "backup", "not-a-guid"]) == 2


def test_who_asks_and_the_request_id_go_on_record_and_the_same_id_is_one_backup(
    ctx: AppContext, env_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ask = ["data", "backup", env_id, "--table", "account", "--full", "--requested-by",
           "ops@contoso.com", "--request-id", "nightly-1", "--json"]
    assert cli.main(ask) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["requestedBy"], first["requestId"]) == ("ops@contoso.com", "nightly-1")
    assert cli.main(ask) == 0
    assert json.loads(capsys.readouterr().out)["operationId"] == first["operationId"]
    assert cli.main(["data", "backup", env_id, "--table", "account", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["requestedBy"] == "maria via ppbackup CLI" and "requestId" not in second


def test_history_lists_data_backups(
    ctx: AppContext, clock: Clock, env_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["data", "backup", env_id, "--table", "account", "--json"]) == 0
    queued = json.loads(capsys.readouterr().out)
    assert queued["status"] == OperationStatus.QUEUED.value and queued["kind"] == "data_backup"
    assert cli.main(["history", "--kind", "data_backup", "--json"]) == 0
    assert [r["operationId"] for r in json.loads(capsys.readouterr().out)] == [
        queued["operationId"]]

