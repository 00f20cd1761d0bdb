"""System backups: the platform's own, one a day over the retention window, listed beside the
manual ones (newest first); restorable like any point; never deletable."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from ppbackup.simulator import Simulator

from .conftest import Api, Tenant, error_code, status_url

DAY = 86400.0


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _listed(api: Api, env: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    token = None
    while True:
        body = api.list_backups(env, token).json()
        items += body["collection"]
        token = body["continuationToken"]
        if token is None:
            return items


def _system(items: list[dict[str, object]]) -> list[dict[str, object]]:
    return [b for b in items if b["createdBy"]["type"] == "System"]  # type: ignore[index]


def test_off_by_default_so_lists_hold_only_manual_backups(api: Api, tenant: Tenant) -> None:
    assert _listed(api, tenant.prod) == []


def test_one_a_day_over_the_retention_window(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_options(system_backups=True)
    now = sim.now()
    for env, days in ((tenant.prod, 28), (tenant.uat, 7)):
        system = _system(_listed(api, env))
        points = [_ts(str(b["backupPointDateTime"])) for b in system]
        assert days <= len(system) <= days + 1
        assert points == sorted(points, reverse=True)  # newest first
        assert all(now - timedelta(days=days) <= p <= now for p in points)
        assert all(timedelta(hours=23) < a - b <= timedelta(hours=25)
                   for a, b in pairwise(points))
        for backup in system:
            assert "label" not in backup
            expiry = _ts(str(backup["backupExpiryDateTime"]))
            assert expiry - _ts(str(backup["backupPointDateTime"])) == timedelta(days=days)
    assert _listed(api, tenant.default) == []


def test_ids_are_stable_and_the_window_moves(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_options(system_backups=True)
    before = [b["id"] for b in _system(_listed(api, tenant.uat))]
    assert [b["id"] for b in _system(_listed(api, tenant.uat))] == before
    sim.advance(DAY)
    after = [b["id"] for b in _system(_listed(api, tenant.uat))]
    assert after[1:] == before[:-1]  # a new one at the front, the oldest one expired


def test_manual_and_system_merge_newest_first_and_page(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_options(system_backups=True, page_size=5)
    middle = sim.add_backup(tenant.uat, "three days ago", point=sim.now() - timedelta(days=3))
    newest = api.create_backup(tenant.uat, "now").json()["id"]
    items = _listed(api, tenant.uat)
    points = [_ts(str(b["backupPointDateTime"])) for b in items]
    assert points == sorted(points, reverse=True)
    assert items[0]["id"] == newest
    assert middle in [b["id"] for b in items]
    assert len({b["id"] for b in items}) == len(items)  # paging neither repeats nor skips
    assert len(_system(items)) == len(items) - 2


def test_a_system_backup_cannot_be_deleted(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_options(system_backups=True)
    system_id = str(_system(_listed(api, tenant.prod))[0]["id"])
    manual_id = api.create_backup(tenant.prod, "mine").json()["id"]

    refused = api.delete_backup(tenant.prod, system_id)
    assert refused.status_code == 400
    assert error_code(refused) == "SystemBackupCannotBeDeleted"
    assert system_id in [b["id"] for b in _listed(api, tenant.prod)]

    assert api.delete_backup(tenant.prod, manual_id).status_code == 204
    assert manual_id not in [b["id"] for b in _listed(api, tenant.prod)]


def test_a_production_to_sandbox_switch_drops_old_system_backups(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_options(system_backups=True)
    assert len(_system(_listed(api, tenant.prod))) >= 28
    switch = api.modify_sku(tenant.prod, "Sandbox")
    sim.advance(sim.options.queued_seconds + sim.options.modify_sku_seconds)
    assert api.poll(status_url(switch)).json()["state"]["id"] == "Succeeded"
    cut = _system(_listed(api, tenant.prod))
    assert 7 <= len(cut) <= 8
    assert all(_ts(str(b["backupExpiryDateTime"])) - _ts(str(b["backupPointDateTime"]))
               == timedelta(days=7) for b in cut)

    # Switching back keeps 28 days for new ones, not for those the switch cut.
    back = api.modify_sku(tenant.prod, "Production")
    sim.advance(sim.options.queued_seconds + sim.options.modify_sku_seconds + 2 * DAY)
    assert api.poll(status_url(back)).json()["state"]["id"] == "Succeeded"
    after = {str(b["id"]): b for b in _system(_listed(api, tenant.prod))}
    for backup in cut:
        if str(backup["id"]) in after:
            assert after[str(backup["id"])]["backupExpiryDateTime"] == backup[
                "backupExpiryDateTime"]
    newest = _system(_listed(api, tenant.prod))[0]
    assert _ts(str(newest["backupExpiryDateTime"])) - _ts(
        str(newest["backupPointDateTime"])) == timedelta(days=28)
    assert all(_ts(str(b["backupExpiryDateTime"])) > sim.now() for b in after.values())


def test_a_system_backup_point_restores(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_options(system_backups=True)
    point = str(_system(_listed(api, tenant.prod))[2]["backupPointDateTime"])
    answer = api.restore(tenant.uat, tenant.prod, point, validate_only=True)
    assert answer.status_code == 202, answer.text
