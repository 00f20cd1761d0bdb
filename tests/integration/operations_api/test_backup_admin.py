"""Managing backups over HTTP (issue 13): list (manual and system, the ledger's facts merged),
annotate (history kept), delete (refusals with their reasons; a deletion on record). Azurite, the
simulator and the real function app in the local host."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

import backup_admin.service as service
from shared.operations import OperationStatus
from shared.queue_names import BACKUP_REQUESTS
from shared.storage.locks import locks_for
from tests.integration.restore.conftest import Stack, StackOptions

pytestmark = pytest.mark.azurite


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack(sim=replace(StackOptions().sim, system_backups=True))


def backup(stack: Stack, env: str, label: str, **fields: Any) -> dict[str, Any]:
    """A backup made by the app (POST /api/backups), once it has succeeded."""
    answer = stack.http.post("/api/backups", json={"environmentId": env, "label": label,
                                                   **fields})
    assert answer.status_code == 202, answer.text
    operation_id = answer.json()["operationId"]
    stack.wait_for(lambda: stack.operation(operation_id).operation.status.terminal,
                   watchdog=False)
    record = stack.record(operation_id)
    assert record["status"] == "Succeeded", record
    return record


def listing(stack: Stack, env: str) -> list[dict[str, Any]]:
    answer = stack.http.get(f"/api/environments/{env}/backups")
    assert answer.status_code == 200, answer.text
    assert answer.json()["environmentId"] == env
    return list(answer.json()["backups"])


def by_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["backupId"]: e for e in entries}


def delete(stack: Stack, env: str, backup_id: str) -> Any:
    return stack.http.delete(f"/api/environments/{env}/backups/{backup_id}",
                             headers={"X-MS-CLIENT-PRINCIPAL-NAME": "maria@contoso.com"})


def behind_app_service_authentication(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as in Azure with App Service Authentication on: the principal headers are its own."""
    monkeypatch.setenv("WEBSITE_SITE_NAME", "ppbackup-func-abc")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")


# --- the list -----------------------------------------------------------------------------------


def test_the_list_shows_system_and_manual_backups_with_the_ledgers_notes(stack: Stack) -> None:
    prod = stack.add_env("Contoso Prod")
    made = backup(stack, prod, "Before release 4.2", notes="Ticket CHG-1234",
                  requestedBy="release pipeline")
    by_hand = stack.add_backup(prod, "Made in the admin center")

    entries = listing(stack, prod)

    points = [e["backupPointDateTime"] for e in entries]
    assert points == sorted(points, reverse=True)  # newest first
    system = [e for e in entries if e["kind"] == "system"]
    assert len(system) >= 27  # one a day over Production's 28 days
    assert all(e["restorable"] and e["label"] is None and "operation" not in e for e in system)
    ours = by_id(entries)[made["backupId"]]
    assert ours["kind"] == "manual"
    assert ours["label"] == "Before release 4.2"
    assert ours["operation"] == {
        "operationId": made["operationId"], "label": "Before release 4.2",
        "notes": "Ticket CHG-1234", "requestedBy": "release pipeline",
    }
    assert ours["labelDiffers"] is False
    assert ours["backupExpiryDateTime"] == made["backupExpiryDateTime"]
    theirs = by_id(entries)[by_hand]
    assert theirs["kind"] == "manual" and "operation" not in theirs


def test_the_list_says_a_backup_is_restorable_from_when_a_restore_of_it_may_start(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(sim=replace(StackOptions().sim, restore_seconds=10 * 86400.0))
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    backup_id = stack.add_backup(uat, "Nightly 1")
    restore = stack.submit({"targetEnvironmentId": uat, "backupId": backup_id,
                            "safetyBackup": False})
    stack.wait_for(lambda: "restorableAt" in stack.operation(restore).internal["facts"],
                   watchdog=False)

    listed = by_id(listing(stack, uat))[backup_id]

    assert listed["restorableFrom"] == stack.operation(restore).internal["facts"]["restorableAt"]


def test_bad_environment_ids_and_query_parameters_are_400(stack: Stack) -> None:
    for path in ("/api/environments/not-a-guid/backups",
                 f"/api/environments/{'1' * 8}-0000-0000-0000-000000000000/backups?x=1"):
        answer = stack.http.get(path)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] in ("InvalidRequest", "InvalidQuery")


def test_an_unknown_environment_is_404(stack: Stack) -> None:
    answer = stack.http.get("/api/environments/00000000-0000-0000-0000-000000000001/backups")
    assert answer.status_code == 404
    assert answer.json()["error"]["message"]


# --- annotate -----------------------------------------------------------------------------------


def test_editing_notes_twice_keeps_both_changes_in_the_records_history(
    stack: Stack, monkeypatch: pytest.MonkeyPatch,
) -> None:
    behind_app_service_authentication(monkeypatch)
    prod = stack.add_env("Contoso Prod")
    made = backup(stack, prod, "Before release 4.2", notes="first words")
    url = f"/api/operations/{made['operationId']}"

    first = stack.http.patch(url, json={"notes": "Deployed 4.2 at 10:00"},
                             headers={"X-MS-CLIENT-PRINCIPAL-NAME": "maria@contoso.com"})
    assert first.status_code == 200, first.text
    second = stack.http.patch(url, json={"notes": "Rolled back at 11:00", "label": "4.2 (bad)"})
    assert second.status_code == 200, second.text
    again = stack.http.patch(url, json={"notes": "Rolled back at 11:00"})  # a retried request
    assert again.status_code == 200

    record = stack.record(made["operationId"])
    assert record["notes"] == "Rolled back at 11:00"
    assert record["label"] == "4.2 (bad)"
    edits = record["options"]["annotations"]
    assert [e["changes"] for e in edits] == [
        {"notes": {"from": "first words", "to": "Deployed 4.2 at 10:00"}},
        {"notes": {"from": "Deployed 4.2 at 10:00", "to": "Rolled back at 11:00"},
         "label": {"from": "Before release 4.2", "to": "4.2 (bad)"}},
    ]
    assert edits[0]["by"] == "maria@contoso.com"
    assert edits[1]["by"] == "an API caller (function key)"
    assert edits[0]["at"] <= edits[1]["at"]
    # The platform keeps the label it was made with; the list shows both.
    ours = by_id(listing(stack, prod))[made["backupId"]]
    assert ours["label"] == "Before release 4.2"
    assert ours["operation"]["label"] == "4.2 (bad)"
    assert ours["labelDiffers"] is True


@pytest.mark.parametrize("where", ["local", "Azure without App Service Authentication"])
def test_a_principal_name_the_client_sent_is_not_recorded_as_who_made_the_change(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, where: str,
) -> None:
    # Only App Service Authentication strips a client's own X-MS-CLIENT-PRINCIPAL-NAME; without
    # it in front, anyone with the function key could write someone else's name into history.
    if where != "local":
        monkeypatch.setenv("WEBSITE_SITE_NAME", "ppbackup-func-abc")
        monkeypatch.delenv("WEBSITE_AUTH_ENABLED", raising=False)
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    made = backup(stack, uat, "Before the data fix")

    edited = stack.http.patch(f"/api/operations/{made['operationId']}", json={"notes": "ok"},
                              headers={"X-MS-CLIENT-PRINCIPAL-NAME": "ceo@contoso.com"})
    deleted = delete(stack, uat, made["backupId"])

    assert edited.status_code == 200, edited.text
    assert deleted.status_code == 200, deleted.text
    edits = stack.record(made["operationId"])["options"]["annotations"]
    assert [e["by"] for e in edits] == ["an API caller (function key)"]
    assert deleted.json()["requestedBy"] == "an API caller (function key)"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"notes": "x", "requestedBy": "me"}, "requestedBy"), ({}, "body"), ({"label": ""}, "label"),
     ({"label": 7}, "label"), ({"notes": "a\x00b"}, "notes"), ({"label": "x" * 201}, "label")],
)
def test_a_bad_annotation_is_400_naming_the_field(
    stack: Stack, body: dict[str, Any], field: str
) -> None:
    prod = stack.add_env("Contoso Prod")
    made = backup(stack, prod, "B")
    answer = stack.http.patch(f"/api/operations/{made['operationId']}", json=body)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error"]["fields"]
    assert stack.record(made["operationId"]).get("options", {}).get("annotations") is None


def test_annotating_an_unknown_operation_is_404_and_a_restore_409(stack: Stack) -> None:
    missing = stack.http.patch("/api/operations/backup-20261121T010000000Z-abcdef",
                               json={"notes": "x"})
    assert missing.status_code == 404
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    restore = stack.submit({"targetEnvironmentId": uat, "latest": True, "dryRun": True})
    refused = stack.http.patch(f"/api/operations/{restore}", json={"notes": "x"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "NotABackup"


# --- delete: refusals ---------------------------------------------------------------------------


def test_deleting_a_system_backup_is_refused_with_the_reason(stack: Stack) -> None:
    prod = stack.add_env("Contoso Prod")
    system = next(e for e in listing(stack, prod) if e["kind"] == "system")

    answer = delete(stack, prod, system["backupId"])

    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "SystemBackup"
    assert "system backup" in error["message"] and "only manual backups" in error["message"]
    assert system["backupId"] in by_id(listing(stack, prod))


def test_deleting_a_backup_a_queued_restore_names_is_refused(
    make_stack: Callable[..., Stack],
) -> None:
    # Restores that take ten simulated days: the first one holds the target for the whole test.
    stack = make_stack(sim=replace(StackOptions().sim, system_backups=True,
                                   restore_seconds=10 * 86400.0))
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    by_id_ = stack.add_backup(uat, "Nightly 1")
    by_label = stack.add_backup(uat, "Nightly 2")
    holder = stack.submit({"targetEnvironmentId": uat, "latest": True, "safetyBackup": False})
    stack.wait_for(lambda: locks_for(stack.ctx).holder(uat) == holder, watchdog=False)
    first = stack.submit({"targetEnvironmentId": uat, "backupId": by_id_})
    second = stack.submit({"targetEnvironmentId": uat, "backupLabel": "Nightly 2"})
    assert stack.record(first)["status"] == stack.record(second)["status"] == "Queued"

    for backup_id, restore, how in ((by_id_, first, "by its id"),
                                    (by_label, second, "by its label 'Nightly 2'")):
        answer = delete(stack, uat, backup_id)
        assert answer.status_code == 409, answer.text
        error = answer.json()["error"]
        assert error["code"] == "BackupInUse"
        assert restore in error["message"] and how in error["message"]
        assert "ppbackup cancel" in error["message"]
    assert set(by_id(listing(stack, uat))) >= {by_id_, by_label}

    # Once the restore is cancelled, nothing protects the backup any more.
    assert stack.http.post(f"/api/operations/{first}/cancel").status_code == 202
    assert delete(stack, uat, by_id_).status_code == 200


def test_deleting_the_newest_pre_update_backup_is_refused_until_a_newer_one_exists(
    stack: Stack,
) -> None:
    prod = stack.add_env("Contoso Prod")  # Production: in the default BACKUP_SCOPE
    older = backup(stack, prod, "Before release 4.1")

    answer = delete(stack, prod, older["backupId"])
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "NewestPreUpdateBackup"
    assert "newest pre-update backup of Contoso Prod" in error["message"]
    assert "BACKUP_SCOPE" in error["message"]
    assert older["backupId"] in by_id(listing(stack, prod))

    newer = backup(stack, prod, "Before release 4.2")
    assert delete(stack, prod, newer["backupId"]).status_code == 409
    assert delete(stack, prod, older["backupId"]).status_code == 200


def test_a_backup_id_in_other_case_names_the_same_backup_to_a_restore_and_to_the_guard(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(sim=replace(StackOptions().sim, restore_seconds=10 * 86400.0))
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    backup_id = stack.add_backup(uat, "Nightly 1")
    restore = stack.submit({"targetEnvironmentId": uat, "backupId": backup_id.upper(),
                            "safetyBackup": False})

    answer = delete(stack, uat, backup_id)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "BackupInUse"
    stack.wait_for(lambda: "backupId" in stack.operation(restore).internal["facts"]
                   or stack.operation(restore).operation.status.terminal, watchdog=False)
    assert stack.operation(restore).internal["facts"].get("backupId") == backup_id, (
        stack.record(restore))


def test_deleting_the_safety_backup_of_a_running_restore_is_refused(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(sim=replace(StackOptions().sim, system_backups=True,
                                   restore_seconds=10 * 86400.0))
    uat = stack.add_env("Contoso UAT", type="Sandbox")  # not in BACKUP_SCOPE
    stack.add_backup(uat, "Nightly 1")
    restore = stack.submit({"targetEnvironmentId": uat, "backupLabel": "Nightly 1",
                            "safetyBackup": True})
    stack.wait_phase(restore, "Restoring", timeout=90)
    safety = stack.operation(restore).internal["facts"]["safetyBackupId"]

    answer = delete(stack, uat, safety)

    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "BackupInUse"
    assert restore in error["message"] and "safety backup" in error["message"]
    assert safety in {b["id"] for b in stack.sim.backups(uat)}


def test_a_restore_that_needs_attention_keeps_its_backup_and_its_safety_backup(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(stepped=True, sim=replace(StackOptions().sim, retry_after=None))
    prod = stack.add_env("Contoso Prod")
    used = stack.add_backup(prod, "B")
    restore = stack.submit({"targetEnvironmentId": prod, "backupLabel": "B",
                            "confirmProduction": "Contoso Prod"})
    stack.run_until_phase(restore, "Restoring")
    stack.sim.set_faults(fail_next={"ModifySku": 100})  # the switch back to Production fails
    assert stack.run_until_ended(restore)["status"] == "NeedsAttention"
    safety = stack.operation(restore).internal["facts"]["safetyBackupId"]

    for backup_id in (used, safety):
        answer = delete(stack, prod, backup_id)
        assert answer.status_code == 409, answer.text
        error = answer.json()["error"]
        assert error["code"] == "BackupInUse"
        assert restore in error["message"] and "NeedsAttention" in error["message"]
        assert "run again" in error["message"]
    assert {used, safety} <= {b["id"] for b in stack.sim.backups(prod)}


def test_a_production_a_restore_has_made_a_sandbox_keeps_its_newest_pre_update_backup(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(sim=replace(StackOptions().sim, system_backups=True,
                                   restore_seconds=10 * 86400.0))
    prod = stack.add_env("Contoso Prod")  # Production: in the default BACKUP_SCOPE
    made = backup(stack, prod, "Before release 4.1")
    restore = stack.submit({"targetEnvironmentId": prod, "latest": True, "safetyBackup": False,
                            "confirmProduction": prod})
    stack.wait_phase(restore, "Restoring", timeout=90)
    assert stack.env_type(prod) == "Sandbox"  # the platform restores only into a Sandbox

    answer = delete(stack, prod, made["backupId"])

    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "NewestPreUpdateBackup"


def test_a_sandbox_a_restore_left_switched_from_production_keeps_its_newest_pre_update_backup(
    stack: Stack,
) -> None:
    prod = stack.add_env("Contoso Prod", type="Sandbox")
    made = backup(stack, prod, "Before release 4.1")
    assert delete(stack, prod, backup(stack, prod, "Scratch")["backupId"]).status_code == 200
    # What a restore whose switch back failed keeps (restore_orchestrator.locks).
    locks_for(stack.ctx).remember_original_type(prod, "restore-20261121T010000000Z-abcdef",
                                                "Production")

    answer = delete(stack, prod, made["backupId"])

    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "NewestPreUpdateBackup"


def test_rejected_backup_requests_do_not_hide_the_newest_pre_update_backup(
    stack: Stack, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two records stand for the 2,000 the read takes at most, so the test runs in seconds.
    monkeypatch.setattr(service, "_LEDGER_PAGE", 2)
    monkeypatch.setattr(service, "_LEDGER_PAGES", 1)
    prod = stack.add_env("Contoso Prod")
    made = backup(stack, prod, "Before release 4.1")
    for n in range(2):  # invalid requests for the environment: Rejected backup records
        stack.ctx.queues.send(BACKUP_REQUESTS, {"environmentId": prod, "label": "x", "lable": n})
    stack.wait_for(lambda: sum(
        op.status is OperationStatus.REJECTED
        for op in stack.ctx.history.list(environment_id=prod, limit=50).items) == 2,
        watchdog=False)

    answer = delete(stack, prod, made["backupId"])

    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "NewestPreUpdateBackup"


def test_a_ledger_too_long_to_read_refuses_what_it_cannot_clear(
    stack: Stack, monkeypatch: pytest.MonkeyPatch,
) -> None:
    prod = stack.add_env("Contoso Prod", type="Sandbox")  # not in BACKUP_SCOPE for now
    oldest = backup(stack, prod, "Before release 4.1")
    newer = [backup(stack, prod, f"Scratch {n}")["backupId"] for n in range(2)]
    for backup_id in newer:
        assert delete(stack, prod, backup_id).status_code == 200
    locks_for(stack.ctx).remember_original_type(prod, "restore-20261121T010000000Z-abcdef",
                                                "Production")
    monkeypatch.setattr(service, "_LEDGER_PAGE", 2)
    monkeypatch.setattr(service, "_LEDGER_PAGES", 1)

    # The read stops at the two deleted ones: nothing it saw shows a newer backup.
    answer = delete(stack, prod, oldest["backupId"])

    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "PreUpdateBackupUnchecked"
    assert "Contoso Prod" in error["message"] and "BACKUP_SCOPE" in error["message"]
    assert oldest["backupId"] in {b["id"] for b in stack.sim.backups(prod)}


# --- delete: done -------------------------------------------------------------------------------


def test_deleting_a_manual_backup_removes_it_and_leaves_an_operation_on_record(
    stack: Stack, monkeypatch: pytest.MonkeyPatch,
) -> None:
    behind_app_service_authentication(monkeypatch)
    uat = stack.add_env("Contoso UAT", type="Sandbox")  # not in BACKUP_SCOPE
    made = backup(stack, uat, "Before the data fix", notes="keep a week")

    answer = delete(stack, uat, made["backupId"])

    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert made["backupId"] not in {b["id"] for b in stack.sim.backups(uat)}
    assert made["backupId"] not in by_id(listing(stack, uat))
    on_record = stack.record(record["operationId"])
    assert on_record == record
    assert on_record["kind"] == "backup_delete"
    assert on_record["status"] == "Succeeded"
    assert on_record["environmentId"] == uat
    assert on_record["backupId"] == made["backupId"]
    assert on_record["label"] == "Before the data fix"
    assert on_record["backupPointDateTime"] == made["backupPointDateTime"]
    assert on_record["requestedBy"] == "maria@contoso.com"
    assert on_record["options"]["backupOperationId"] == made["operationId"]
    assert on_record["steps"][0]["name"] == "delete"
    assert on_record["steps"][0]["status"] == "Succeeded"
    assert on_record["steps"][0]["requestIds"]
    history = stack.http.get("/api/operations", params={"environmentId": uat,
                                                         "kind": "backup_delete"}).json()
    assert [op["operationId"] for op in history["operations"]] == [record["operationId"]]

    # The same request again (a retry after a lost answer) is the same deletion, not a 404.
    retried = delete(stack, uat, made["backupId"])
    assert retried.status_code == 200
    assert retried.json()["operationId"] == record["operationId"]


def test_deleting_again_finds_the_deletion_however_many_came_after_it(stack: Stack) -> None:
    uat = stack.add_env("Contoso UAT", type="Sandbox")  # not in BACKUP_SCOPE
    first = stack.add_backup(uat, "Scratch 0")
    done = delete(stack, uat, first)
    assert done.status_code == 200, done.text
    for n in range(1, 52):  # more deletions than one page of the history holds
        later = stack.add_backup(uat, f"Scratch {n}")
        service.delete_backup(stack.ctx, uat, later, requested_by="maria@contoso.com")

    again = delete(stack, uat, first.upper())

    assert again.status_code == 200, again.text
    assert again.json()["operationId"] == done.json()["operationId"]


def test_a_backup_that_is_not_there_is_404(stack: Stack) -> None:
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    answer = delete(stack, uat, "6f1c2d3e-0000-4000-8000-000000000000")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "BackupNotFound"
    for bad in ("..%2F..%2Foperations", "a%20b"):
        assert delete(stack, uat, bad).status_code in (400, 404)


def test_a_deletion_the_platform_did_not_answer_is_finished_by_the_watchdog(
    stack: Stack,
) -> None:
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    backup_id = stack.add_backup(uat, "Scratch")
    stack.sim.set_faults(error_rate=1.0, error_method="DELETE", error_path="/backups/")

    answer = delete(stack, uat, backup_id)

    assert answer.status_code == 202, answer.text
    operation_id = answer.json()["operationId"]
    assert stack.record(operation_id)["status"] == "Running"
    assert backup_id in {b["id"] for b in stack.sim.backups(uat)}
    stack.sim.set_faults(error_rate=0.0)
    stack.wait_for(lambda: stack.operation(operation_id).operation.status
                   is OperationStatus.SUCCEEDED, timeout=60)
    assert backup_id not in {b["id"] for b in stack.sim.backups(uat)}


def test_the_local_host_serves_patch_and_delete_beside_get(stack: Stack) -> None:
    """One route, two functions (GET and PATCH): the host picks by method and names both."""
    put = stack.http.put("/api/operations/backup-20261121T010000000Z-abcdef", json={})
    assert put.status_code == 405
    assert put.headers["allow"] == "GET, PATCH"
    post = stack.http.post(f"/api/environments/{'0' * 8}-0000-0000-0000-000000000000/backups/b1")
    assert post.status_code == 405
    assert post.headers["allow"] == "DELETE"


def test_a_deletion_retried_by_the_watchdog_ends_failed_once_a_restore_names_the_backup(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(sim=replace(StackOptions().sim, system_backups=True,
                                   restore_seconds=10 * 86400.0))
    uat = stack.add_env("Contoso UAT", type="Sandbox")
    wanted = stack.add_backup(uat, "Nightly 1")
    holder = stack.submit({"targetEnvironmentId": uat, "latest": True, "safetyBackup": False})
    stack.wait_for(lambda: locks_for(stack.ctx).holder(uat) == holder, watchdog=False)
    stack.sim.set_faults(error_rate=1.0, error_method="DELETE", error_path="/backups/")
    answer = delete(stack, uat, wanted)
    assert answer.status_code == 202, answer.text
    deletion = answer.json()["operationId"]

    # While the deletion waits for the platform, a restore from that backup is queued.
    restore = stack.submit({"targetEnvironmentId": uat, "backupId": wanted})
    assert stack.record(restore)["status"] == "Queued"
    stack.sim.set_faults(error_rate=0.0)
    stack.wait_for(lambda: stack.operation(deletion).operation.status.terminal, timeout=60)

    assert wanted in {b["id"] for b in stack.sim.backups(uat)}
    record = stack.record(deletion)
    assert record["status"] == "Failed"
    assert record["error"]["code"] == "BackupInUse"
    assert restore in record["error"]["message"]
