"""Manual backups over the PP API: create, list (paged), delete, expiry, retention cut."""

from __future__ import annotations

from datetime import datetime, timedelta

from ppbackup.simulator import Simulator

from .conftest import Api, Tenant, error_code, status_url

DAY = 86400.0


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_create_answers_201_with_the_backup(sim: Simulator, api: Api, tenant: Tenant) -> None:
    response = api.create_backup(tenant.prod, "Before release 4.2")

    assert response.status_code == 201
    body = response.json()
    assert body["label"] == "Before release 4.2"
    point = _ts(body["backupPointDateTime"])
    assert abs((point - sim.now()).total_seconds()) < 1
    # Production keeps backups 28 days, set at creation.
    assert _ts(body["backupExpiryDateTime"]) - point == timedelta(days=28)
    assert body["createdBy"]["tenantId"] == sim.state.tenant_id
    assert response.headers["x-ms-request-id"]


def test_sandbox_backups_expire_after_seven_days(api: Api, tenant: Tenant) -> None:
    body = api.create_backup(tenant.uat).json()
    expiry = _ts(body["backupExpiryDateTime"]) - _ts(body["backupPointDateTime"])
    assert expiry == timedelta(days=7)


def test_timestamps_carry_seven_fraction_digits_and_z(api: Api, tenant: Tenant) -> None:
    point = api.create_backup(tenant.uat).json()["backupPointDateTime"]
    assert point.endswith("Z")
    assert len(point.split(".")[1]) == len("1234567Z")


def test_list_is_newest_first_and_delete_removes(api: Api, tenant: Tenant, sim: Simulator) -> None:
    first = api.create_backup(tenant.prod, "one").json()
    sim.advance(60)
    second = api.create_backup(tenant.prod, "two").json()

    listed = api.list_backups(tenant.prod)
    assert listed.status_code == 200
    assert [b["id"] for b in listed.json()["collection"]] == [second["id"], first["id"]]
    assert listed.json()["continuationToken"] is None

    assert api.delete_backup(tenant.prod, first["id"]).status_code == 204
    assert [b["id"] for b in api.list_backups(tenant.prod).json()["collection"]] == [second["id"]]
    again = api.delete_backup(tenant.prod, first["id"])
    assert again.status_code == 404
    assert error_code(again) == "BackupNotFound"


def test_list_pages_with_continuation_token(api: Api, tenant: Tenant, sim: Simulator) -> None:
    sim.set_options(page_size=2)
    ids = [api.create_backup(tenant.prod, f"b{i}").json()["id"] for i in range(5)]

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        body = api.list_backups(tenant.prod, token).json()
        pages += 1
        seen += [b["id"] for b in body["collection"]]
        token = body["continuationToken"]
        if token is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


def test_backups_disappear_once_expired(api: Api, tenant: Tenant, sim: Simulator) -> None:
    backup_id = api.create_backup(tenant.uat).json()["id"]

    sim.advance(7 * DAY - 60)
    assert [b["id"] for b in api.list_backups(tenant.uat).json()["collection"]] == [backup_id]
    sim.advance(120)
    assert api.list_backups(tenant.uat).json()["collection"] == []
    assert api.delete_backup(tenant.uat, backup_id).status_code == 404


def test_default_environment_cannot_be_backed_up(api: Api, tenant: Tenant) -> None:
    response = api.create_backup(tenant.default)
    assert response.status_code == 400
    assert "errorDetail" in response.json()


def test_unknown_environment_is_404(api: Api, tenant: Tenant) -> None:
    response = api.create_backup("00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert error_code(response) == "EnvironmentNotFound"


def test_label_is_required(api: Api, tenant: Tenant) -> None:
    response = api.http.post(
        f"/environmentmanagement/environments/{tenant.prod}/backups",
        params={"api-version": "2024-10-01"}, json={"notes": "no label"},
    )
    assert response.status_code == 400
    assert "label" in response.json()["errorDetail"]["fieldErrors"]


def test_wrong_api_version_is_refused(api: Api, tenant: Tenant) -> None:
    response = api.http.post(
        f"/environmentmanagement/environments/{tenant.prod}/backups",
        params={"api-version": "2019-05-01"}, json={"label": "x"},
    )
    assert response.status_code == 400
    assert error_code(response) == "InvalidApiVersionParameter"
    assert api.list_backups(tenant.prod).json()["collection"] == []


def test_production_to_sandbox_cuts_retention_to_seven_days(
    api: Api, tenant: Tenant, sim: Simulator
) -> None:
    old = sim.add_backup(tenant.prod, "old", point=sim.now() - timedelta(days=10))
    recent = sim.add_backup(tenant.prod, "recent", point=sim.now() - timedelta(days=2))
    before = {b["id"]: b for b in api.list_backups(tenant.prod).json()["collection"]}
    assert set(before) == {old, recent}
    assert _ts(before[recent]["backupExpiryDateTime"]) - _ts(
        before[recent]["backupPointDateTime"]) == timedelta(days=28)

    switch = api.modify_sku(tenant.prod, "Sandbox")
    assert switch.status_code == 202
    sim.advance(sim.options.queued_seconds + sim.options.modify_sku_seconds)
    assert api.poll(status_url(switch)).json()["state"]["id"] == "Succeeded"

    after = {b["id"]: b for b in api.list_backups(tenant.prod).json()["collection"]}
    assert set(after) == {recent}  # the 10-day-old backup vanished at once
    cut = after[recent]
    assert _ts(cut["backupExpiryDateTime"]) - _ts(cut["backupPointDateTime"]) == timedelta(days=7)

    # Switching back does not give the lost retention back.
    back = api.modify_sku(tenant.prod, "Production")
    sim.advance(sim.options.queued_seconds + sim.options.modify_sku_seconds)
    assert api.poll(status_url(back)).json()["state"]["id"] == "Succeeded"
    again = api.list_backups(tenant.prod).json()["collection"]
    assert [b["id"] for b in again] == [recent]
    assert again[0]["backupExpiryDateTime"] == cut["backupExpiryDateTime"]
