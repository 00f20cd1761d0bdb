"""`ppbackup data restore` and `ppbackup data diff` on Azurite (contract sections 5 and 10): the
request goes on record like the queue's, bad input is exit 2 naming the fields, and the diff is
read from the operation's files in the backup store."""

from __future__ import annotations

import json

import pytest

from data_backups.execute import store_for
from data_restores.state import DataRestoreState
from ppbackup import cli
from ppbackup.simulator import Simulator
from shared.data_store.restore_files import RestoreFiles
from shared.queue_names import DATA_RESTORE_WORK
from shared.runtime import AppContext

pytestmark = pytest.mark.azurite

POINT = "20261203T020000123Z-1a2b3c4d"
A1, A2 = "625a9c79-9e42-4576-8e97-000000000001", "625a9c79-9e42-4576-8e97-000000000002"


@pytest.fixture(autouse=True)
def cli_env(storage: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AzureWebJobsStorage": storage, "PP_API_URL": sim.url,
                        "PP_BAP_URL": sim.url, "PP_AUTH": "none", "USER": "maria"}.items():
        monkeypatch.setenv(name, value)


def restore(env_id: str, *extra: str) -> list[str]:
    return ["data", "restore", "--source", env_id, "--table", "account", *extra]


def test_restore_queues_a_dry_run_with_every_option(
    ctx: AppContext, env_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(restore(env_id, "--table", "contact", "--point", POINT,
                            "--ids", f"{A1.upper()},{A2}", "--ids", A1, "--mode", "all",
                            "--with-related", "--confirm-production", "Contoso Prod",
                            "--reason", "INC-881", "--json")) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["kind"], record["status"]) == ("data_restore", "Queued")
    assert (record["environmentId"], record["sourceEnvironmentId"]) == (env_id, env_id)
    assert (record["pointId"], record["tables"]) == (POINT, ["account", "contact"])
    assert record["requestedBy"] == "maria via ppbackup CLI" and record["reason"] == "INC-881"
    assert record["options"] == {"mode": "all", "dryRun": True, "withRelated": True,
                                 "recordIds": 2}
    state = DataRestoreState.from_json(ctx.history.get(record["operationId"]).internal)
    assert (state.record_ids, state.apply, state.confirm_production) == (
        (A1, A2), False, "Contoso Prod")
    [step] = ctx.queues.peek(DATA_RESTORE_WORK)
    assert step.payload == {"operationId": record["operationId"], "seq": 0}

    assert cli.main(["history", "--kind", "data_restore", "--json"]) == 0
    assert [r["operationId"] for r in json.loads(capsys.readouterr().out)] == [
        record["operationId"]]


def test_restore_with_apply_into_another_environment(
    ctx: AppContext, sim: Simulator, env_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = sim.add_environment("Copy", type="Sandbox", location="europe")
    assert cli.main(restore(env_id, "--at", "2026-12-01T09:30:00+01:00", "--target", sandbox,
                            "--apply", "--request-id", "copy-1")) == 0
    out, err = capsys.readouterr()
    assert "Data restore" in out and "Queued" in out and sandbox in out
    assert "ppbackup status data_restore-" in err
    [operation] = ctx.history.list(environment_id=sandbox).items
    state = DataRestoreState.from_json(ctx.history.get(operation.operation_id).internal)
    assert (state.source_environment_id, state.apply) == (env_id, True)
    # The same request id again is the same operation.
    assert cli.main(restore(env_id, "--at", "2026-12-01T09:30:00+01:00", "--target", sandbox,
                            "--apply", "--request-id", "copy-1", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["operationId"] == operation.operation_id


def test_bad_usage_is_exit_2_naming_every_field(
    ctx: AppContext, env_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(restore(env_id, "--point", "yesterday", "--ids", "x,y", "--mode", "some",
                            "--json")) == 2
    fields = json.loads(capsys.readouterr().out)["error"]["fields"]
    assert set(fields) == {"pointId", "recordIds", "mode"}
    with pytest.raises(SystemExit) as exited:  # neither --point nor --at: argparse refuses
        cli.main(restore(env_id))
    assert exited.value.code == 2
    assert cli.main(["data", "restore", "--source", "nope", "--table", "account", "--point",
                     POINT]) == 2
    assert "sourceEnvironmentId" in capsys.readouterr().err
    assert ctx.history.list().items == []


def test_diff_shows_the_plan_and_the_apply_outcomes(
    ctx: AppContext, env_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(restore(env_id, "--table", "contact", "--point", POINT, "--json")) == 0
    operation_id = json.loads(capsys.readouterr().out)["operationId"]
    assert cli.main(["data", "diff", operation_id]) == 0
    assert "no planned rows yet" in capsys.readouterr().out  # before the plan settled

    store = store_for(ctx)
    store.ensure_container()
    files = RestoreFiles(store, operation_id)
    files.put_diff("account", [
        {"table": "account", "id": A1, "action": "create", "values": {"name": "Contoso"}},
        {"table": "account", "id": A2, "action": "update", "values": {"name": "Fabrikam"},
         "before": {"name": "Fabrikam (imported)"}},
    ])
    files.put_diff("contact", [{"table": "contact", "id": A1[:-1] + "9", "action":
                                "notRestorable", "reasons": ["its account is gone"]}])
    files.put_outcomes(0, 0, {A2: {"table": "account", "action": "conflict",
                                   "message": "The row changed after the plan read it."}})

    assert cli.main(["data", "diff", operation_id]) == 0
    text = capsys.readouterr().out
    assert f"{operation_id}: 3 row(s)" in text
    assert "name='Contoso'" in text
    assert "update -> conflict" in text and "changed after the plan read it" in text
    assert "not restorable: its account is gone" in text

    assert cli.main(["data", "diff", operation_id, "--table", "account", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["action"]) for r in rows] == [(A1, "create"), (A2, "update")]
    assert rows[1]["outcome"]["action"] == "conflict" and "outcome" not in rows[0]
    assert rows[1]["before"] == {"name": "Fabrikam (imported)"}


def test_diff_of_an_unknown_or_other_operation_is_bad_usage(
    ctx: AppContext, env_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["data", "diff", "data_restore-20261203T020000123Z-abcdef"]) == 2
    assert "no operation" in capsys.readouterr().err.lower()
    assert cli.main(["data", "diff", "not an id"]) == 2
    assert cli.main(["data", "backup", env_id, "--table", "account", "--json"]) == 0
    backup = json.loads(capsys.readouterr().out)["operationId"]
    assert cli.main(["data", "diff", backup]) == 2
    assert "not a record restore" in capsys.readouterr().err
    assert cli.main(restore(env_id, "--point", POINT, "--json")) == 0
    operation_id = json.loads(capsys.readouterr().out)["operationId"]
    assert cli.main(["data", "diff", operation_id, "--table", "Not-A-Table"]) == 2
