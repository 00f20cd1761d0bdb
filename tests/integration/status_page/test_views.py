"""The JSON the page reads, through the keyed API routes of the local host."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from backup_triggers.service import run_backup_round
from shared.data_store import FULL, TableCommit, data_store_from_settings, new_point_id
from shared.operations import OperationKind, OperationStatus
from shared.runtime import use_context
from shared.settings import BackupScope
from tests.integration.restore.conftest import Stack, restore_body


def test_environments_alerts_running_and_next_steps(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso <Prod>")
    stack.add_env("Contoso UAT", type="Sandbox")
    assert stack.http.get("/api/environments").json()["environments"] == []

    run_backup_round(stack.ctx, fired_at=stack.ctx.clock())
    stack.wait_for(lambda: bool(stack.ctx.history.list(
        environment_id=prod, kind=OperationKind.BACKUP, status=OperationStatus.SUCCEEDED).items))

    rows = stack.http.get("/api/environments").json()["environments"]
    assert [(r["environmentId"], r["environmentName"], r["environmentType"]) for r in rows] == [
        (prod, "Contoso <Prod>", "Production")]  # the Sandbox is not in the default scope
    newest = rows[0]["newestBackup"]
    assert newest["expiry"] == "ok"
    assert newest["label"].startswith("Pre-update ")
    assert stack.http.get("/api/alerts").json()["alerts"] == []

    stack.sim.set_faults(fail_next={"Restore": 1})
    failed = stack.submit(restore_body(prod, latest=True, confirmProduction="Contoso <Prod>",
                                       safetyBackup=False))
    stack.wait_for(lambda: any(
        o["operationId"] == failed
        for o in stack.http.get("/api/active-operations").json()["operations"]))
    record = stack.wait_ended(failed)
    assert record["status"] == "Failed"
    assert all(o["operationId"] != failed
               for o in stack.http.get("/api/active-operations").json()["operations"])
    steps = stack.http.get(f"/api/operations/{failed}/next-steps").json()
    assert steps["operationId"] == failed
    assert any(f"ppbackup status {failed}" in step for step in steps["nextSteps"])
    missing = stack.http.get("/api/operations/restore-nope/next-steps")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"]

    stack.sim.advance(27.5 * 24 * 3600)  # a day before the newest backup expires
    assert stack.http.get("/api/environments").json()["environments"][0][
        "newestBackup"]["expiry"] == "expiring"
    alerts = stack.http.get("/api/alerts").json()["alerts"]
    assert [(a["type"], a["environmentId"]) for a in alerts] == [("backup_expiring", prod)]
    assert alerts[0]["nextSteps"]


def test_an_environment_left_a_sandbox_is_an_open_alert(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    stack.add_backup(prod, "B")
    operation_id = stack.submit(restore_body(prod, backupLabel="B",
                                             confirmProduction="Contoso Prod"))
    stack.wait_phase(operation_id, "Restoring")
    stack.sim.set_faults(fail_next={"ModifySku": 100})  # the switch back never succeeds
    assert stack.wait_ended(operation_id, timeout=120)["status"] == "NeedsAttention"
    stack.sim.advance(20 * 60)  # past the grace a slow switch back gets
    alerts = stack.http.get("/api/alerts").json()["alerts"]

    assert [(a["type"], a["environmentId"], a["operationId"]) for a in alerts] == [
        ("still_sandbox", prod, operation_id)]
    assert alerts[0]["confirmed"] is True
    assert alerts[0]["environmentName"] == "Contoso Prod"
    assert "Convert to production" in alerts[0]["nextSteps"][0]
    # A person switches it back (as the advice says): the alert is closed.
    stack.sim.clear_faults()
    stack.ctx.platform.begin_change_type(prod, "Production")
    stack.sim.advance(10 * 60)
    assert stack.env_type(prod) == "Production"
    assert stack.http.get("/api/alerts").json()["alerts"] == []


def test_newest_data_backup_point_and_the_overdue_alert(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    prod = stack.add_env("Contoso Prod")
    store = data_store_from_settings(stack.ctx.settings)
    store.ensure_container()
    older, newer = (stack.ctx.clock() - timedelta(days=days) for days in (4, 3))
    made = []
    for at in (older, newer):
        point_id = new_point_id(at)
        store.write_rows(prod, point_id, "account", 0, [{"accountid": "a", "name": "x"}],
                         id_column="accountid")
        store.commit_point(prod, point_id, at, None,
                           [TableCommit("account", FULL, "accountid", 1)])
        made.append(point_id)

    answer = stack.http.get("/api/ui/data/data-backups", params={"environmentId": prod}).json()
    assert [p["pointId"] for p in answer["points"]] == [made[1]]  # the page shows the newest
    assert answer["points"][0]["expiresAt"] > answer["points"][0]["pointTime"]
    bad = stack.http.get("/api/ui/data/data-backups", params={"environmentId": "nope"})
    assert bad.status_code == 400 and "environmentId" in bad.json()["error"]["fields"]

    assert stack.http.get("/api/alerts").json()["alerts"] == []  # DATA_BACKUP_SCOPE is empty
    scoped = replace(stack.ctx.settings,
                     data_backup_scope=BackupScope(environment_ids=frozenset({prod})))
    with use_context(replace(stack.ctx, settings=scoped)):  # the host reads the process's
        alerts = stack.http.get("/api/alerts").json()["alerts"]
        shown = stack.http.get("/api/environments").json()["environments"]
    assert [e["environmentId"] for e in shown] == [prod]  # in DATA_BACKUP_SCOPE: on the page
    assert [(a["type"], a["environmentId"]) for a in alerts] == [("data_backup_overdue", prod)]
    assert any(f"ppbackup data backup {prod}" in step for step in alerts[0]["nextSteps"])
