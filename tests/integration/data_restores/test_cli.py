"""`ppbackup data restore` and `ppbackup data diff` on Azurite (contract sections 5 and 10): the
request goes on record like the queue's, bad input is exit 2 naming the fields, and the diff is
read from the operation's files in the backup store."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest

from data_backups.execute import store_for
from data_restores.state import DataRestoreState
from ppbackup import cli
from ppbackup.simulator import Simulator
from shared.data_store.restore_files import RestoreFiles
from shared.operations import OperationKind
from shared.queue_names import DATA_RESTORE_WORK
from shared.runtime import AppContext
from shared.settings import ProductionAllowList
from tests.integration.data_backups.conftest import FAST_BACKOFF, Clock, live_rows
from tests.integration.data_restores.test_plan_from_a_point import make_point
from tests.integration.data_restores.test_record_restore import drive

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


def driving(ctx: AppContext, clock: Clock) -> threading.Thread:
    """A worker that runs the first record restore it finds, as the function app would."""

    def work() -> None:
        for _ in range(3000):
            page = ctx.history.list(kind=OperationKind.DATA_RESTORE, limit=5)
            queued = [o for o in page.items if not o.status.terminal]
            if queued:
                drive(ctx, clock, queued[0].operation_id)
                return
            threading.Event().wait(0.01)  # the CLI has not written the request yet

    return threading.Thread(target=work, daemon=True)


def test_follow_a_dry_run_then_the_apply_and_read_the_diff(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """End to end on the engine: two accounts deleted after the point come back, the dry run
    writing nothing; --follow shows the rows planned, then written, per table."""
    monkeypatch.setattr(cli, "FOLLOW_INTERVAL_SECONDS", 0.02)
    point_id = make_point(ctx, clock, env_id, ["account"])
    lost = sorted(live_rows(sim, env_id, "accounts", "accountid"))[:2]
    for record_id in lost:
        sim.dataverse_change(env_id, "account", "delete", record_id)

    worker = driving(ctx, clock)
    worker.start()
    assert cli.main(restore(env_id, "--point", point_id, "--follow")) == 0
    worker.join(timeout=120)
    out, err = capsys.readouterr()
    unchanged = len(live_rows(sim, env_id, "accounts", "accountid"))
    assert f"table account plan: 2 create, {unchanged} unchanged" in err
    assert "table account written" not in err
    assert "plan (dry run: nothing written):" in out and "Succeeded" in out
    assert sim.dataverse_writes(env_id) == []
    [dry] = ctx.history.list(kind=OperationKind.DATA_RESTORE).items

    assert cli.main(["data", "diff", dry.operation_id, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted((r["table"], r["id"], r["action"]) for r in rows) == [
        ("account", i.lower(), "create") for i in lost]

    # Production: the worker's app has the target on its allow-list; the CLI confirms it.
    allowed = AppContext.from_settings(
        replace(ctx.settings,
                restore_allow_production=ProductionAllowList(frozenset({env_id}))),
        backoff=FAST_BACKOFF, clock=clock)
    worker = driving(allowed, clock)
    worker.start()
    assert cli.main(restore(env_id, "--point", point_id, "--apply", "--confirm-production",
                            env_id, "--follow")) == 0
    worker.join(timeout=120)
    out, err = capsys.readouterr()
    assert "table account written: 2 create" in err, err
    assert "written:" in out and "dry run" not in out
    done = next(o for o in ctx.history.list(kind=OperationKind.DATA_RESTORE).items
                if o.operation_id != dry.operation_id)
    assert done.status.value == "Succeeded" and done.applied is not None
    assert done.applied["total"]["create"] == 2
    assert set(lost) <= set(live_rows(sim, env_id, "accounts", "accountid"))
