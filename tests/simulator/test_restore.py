"""PP API restore: the platform's refusals, ValidateOnly, the bare 202, tracking through the
operation list, progress, and what a finished restore does to the target."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ppbackup.simulator import Simulator

from .conftest import Api, Tenant, error_code

SETTLE = 900.0


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _settled_point(sim: Simulator, api: Api, env: str) -> str:
    """A backup of `env` that is old enough to restore from."""
    point = api.create_backup(env, "restore me").json()["backupPointDateTime"]
    sim.advance(SETTLE + 1)
    return str(point)


def _stable_view(env: dict[str, Any]) -> dict[str, Any]:
    """The environment minus fields that move with the clock alone."""
    properties = dict(env["properties"])
    del properties["retentionDetails"]
    return properties


def _restore_duration(sim: Simulator) -> float:
    return sim.options.queued_seconds + sim.options.restore_seconds


@pytest.mark.parametrize(
    ("target_attr", "code"),
    [
        ("prod", "RestoreTargetNotSandbox"),
        ("default", "LifecycleOperationNotAllowed"),
        ("dev_us", "RestoreGeoMismatch"),
        ("sandbox_us_managed", "RestoreGeoMismatch"),
        ("sandbox_eu_unmanaged", "ManagedEnvironmentMismatch"),
    ],
)
def test_restore_refused_by_platform_rules(
    sim: Simulator, api: Api, tenant: Tenant, target_attr: str, code: str
) -> None:
    point = _settled_point(sim, api, tenant.prod)
    target = getattr(tenant, target_attr)

    for validate_only in (True, False):
        response = api.restore(target, tenant.prod, point, validate_only=validate_only)
        assert response.status_code == 400, response.text
        assert error_code(response) == code
    assert sim.operations(target, kind="Restore") == []


def test_restore_unmanaged_into_unmanaged_same_geo_is_accepted(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    source = sim.add_environment("US Prod", type="Production", location="unitedstates")
    point = _settled_point(sim, api, source)
    assert api.restore(tenant.dev_us, source, point).status_code == 202


def test_a_manual_backup_is_restorable_after_fifteen_minutes_not_ten(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    # Reference §3.2 / contract §1: "restorable only after about 10-15 minutes". The simulator
    # takes the upper end, so a client that waits only ten minutes is refused here too.
    point = api.create_backup(tenant.prod).json()["backupPointDateTime"]
    sim.advance(14 * 60)
    assert error_code(api.restore(tenant.uat, tenant.prod, point)) == "RestorePointTooRecent"
    sim.advance(60)
    assert api.restore(tenant.uat, tenant.prod, point).status_code == 202


def test_too_fresh_restore_point_is_refused(sim: Simulator, api: Api, tenant: Tenant) -> None:
    point = api.create_backup(tenant.prod).json()["backupPointDateTime"]
    sim.advance(SETTLE - 5)
    response = api.restore(tenant.uat, tenant.prod, point)
    assert response.status_code == 400
    assert error_code(response) == "RestorePointTooRecent"
    assert "restorePointDateTime" in response.json()["errorDetail"]["fieldErrors"]
    sim.advance(10)
    assert api.restore(tenant.uat, tenant.prod, point).status_code == 202


def test_settle_time_is_configurable(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_options(backup_settle_seconds=30)
    point = api.create_backup(tenant.prod).json()["backupPointDateTime"]
    sim.advance(31)
    assert api.restore(tenant.uat, tenant.prod, point, validate_only=True).status_code == 202


def test_point_outside_source_retention_is_refused(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    # UAT (Sandbox) keeps 7 days: a restore of UAT onto itself from 8 days ago is refused.
    response = api.restore(tenant.uat, tenant.uat, _iso(sim.now() - timedelta(days=8)))
    assert response.status_code == 400
    assert error_code(response) == "RestorePointOutsideRetention"
    # Production keeps 28: 20 days back is fine, 29 is not.
    ok = api.restore(tenant.uat, tenant.prod, _iso(sim.now() - timedelta(days=20)),
                     validate_only=True)
    assert ok.status_code == 202
    old = api.restore(tenant.uat, tenant.prod, _iso(sim.now() - timedelta(days=29)))
    assert error_code(old) == "RestorePointOutsideRetention"


def test_expired_backup_point_is_refused(sim: Simulator, api: Api, tenant: Tenant) -> None:
    point = api.create_backup(tenant.uat).json()["backupPointDateTime"]
    sim.advance(7 * 86400 + 1)
    response = api.restore(tenant.uat, tenant.uat, point)
    assert response.status_code == 400
    assert error_code(response) == "RestorePointOutsideRetention"


@pytest.mark.parametrize("point", ["2025-04-30T12:34:56", "2025-04-30 12:34:56+00:00",
                                   "yesterday", ""])
def test_restore_point_must_be_rfc3339_with_offset(
    sim: Simulator, api: Api, tenant: Tenant, point: str
) -> None:
    response = api.restore(tenant.uat, tenant.prod, point)
    assert response.status_code == 400
    assert error_code(response) == "InvalidRestorePointDateTime"


def test_any_offset_is_accepted(sim: Simulator, api: Api, tenant: Tenant) -> None:
    moment = sim.now() - timedelta(hours=1)
    plus_two = moment.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert api.restore(tenant.uat, tenant.prod, plus_two, validate_only=True).status_code == 202


def test_missing_source_and_unknown_target(sim: Simulator, api: Api, tenant: Tenant) -> None:
    point = _iso(sim.now() - timedelta(hours=1))
    missing_source = api.restore(tenant.uat, "11111111-1111-1111-1111-111111111111", point)
    assert missing_source.status_code == 400
    assert error_code(missing_source) == "SourceEnvironmentNotFound"
    missing_target = api.restore("11111111-1111-1111-1111-111111111111", tenant.prod, point)
    assert missing_target.status_code == 404


def test_validate_only_changes_nothing(sim: Simulator, api: Api, tenant: Tenant) -> None:
    point = _settled_point(sim, api, tenant.prod)
    before = _stable_view(sim.environment(tenant.uat))

    response = api.restore(tenant.uat, tenant.prod, point, validate_only=True)

    # Reference §3.3: the restore endpoint's only documented success is a 202 with no schema;
    # ValidateOnly is a query option of that endpoint, so a passed validation is the same
    # bare 202 (no body a client could count on).
    assert response.status_code == 202
    assert response.content == b""
    assert api.operations(tenant.uat).json()["collection"] == []
    sim.advance(_restore_duration(sim) * 2)
    assert _stable_view(sim.environment(tenant.uat)) == before
    assert sim.content(tenant.uat) == "uat v1"
    # The environment is not locked either.
    assert api.create_backup(tenant.uat).status_code == 201


def test_restore_answers_bare_202_and_is_found_in_operation_list(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    api.create_backup(tenant.uat, "a backup first: a Backup operation in the list")
    point = _settled_point(sim, api, tenant.prod)
    sent_at = datetime.now(UTC)

    response = api.restore(tenant.uat, tenant.prod, point)

    assert response.status_code == 202
    assert response.content == b""
    for header in ("Location", "Operation-Location", "Azure-AsyncOperation", "Retry-After"):
        assert header not in response.headers
    ops = api.operations(tenant.uat).json()["collection"]
    # The reference documents no order for this list; the simulator serves it oldest first
    # (the harder case for a client that would stop at the first page of old operations).
    assert [o["name"] for o in ops] == ["Backup", "Restore"]
    restore = ops[-1]
    assert restore["status"] == "Queued"
    # The client's matching rule: startTime not before the send time (minus skew).
    assert datetime.fromisoformat(restore["startTime"]) >= sent_at - timedelta(minutes=1)
    polled = api.operation(restore["operationId"])
    assert polled.status_code == 200
    assert polled.json()["operationId"] == restore["operationId"]


def test_operation_list_is_oldest_first_over_pages_unless_told(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_options(page_size=2)
    labels = [f"b{i}" for i in range(5)]
    for label in labels:
        assert api.create_backup(tenant.uat, label).status_code == 201
        sim.advance(60)
    first = api.operations(tenant.uat).json()
    ids = [o["operationId"] for o in first["collection"]]
    token = first["continuationToken"]
    while token:
        page = api.operations(tenant.uat, continuationToken=token).json()
        ids += [o["operationId"] for o in page["collection"]]
        token = page["continuationToken"]
    starts = [api.operation(i).json()["startTime"] for i in ids]
    assert len(ids) == 5
    assert starts == sorted(starts)
    sim.set_options(operation_list_order="newest-first")
    newest = api.operations(tenant.uat).json()["collection"]
    assert [o["operationId"] for o in newest] == ids[::-1][:2]


def test_restore_can_send_operation_location(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_options(restore_operation_location=True)
    point = _settled_point(sim, api, tenant.prod)
    response = api.restore(tenant.uat, tenant.prod, point)
    assert response.status_code == 202
    url = response.headers["Operation-Location"]
    assert url.startswith(f"{sim.url}/environmentmanagement/operations/")
    assert "api-version=2024-10-01" in url
    assert response.headers["Retry-After"] == "1"
    assert api.poll(url).json()["name"] == "Restore"


def test_progress_is_reported_through_stages(sim: Simulator, api: Api, tenant: Tenant) -> None:
    point = _settled_point(sim, api, tenant.prod)
    api.restore(tenant.uat, tenant.prod, point)
    op_id = api.operations(tenant.uat).json()["collection"][-1]["operationId"]

    def done_stages() -> tuple[str, int]:
        body = api.operation(op_id).json()
        return body["status"], sum(s["status"] == "Succeeded" for s in body["stageStatuses"])

    assert done_stages() == ("Queued", 0)
    sim.advance(sim.options.queued_seconds + 1)
    assert done_stages() == ("InProgress", 0)
    sim.advance(sim.options.restore_seconds * 0.25)  # past Validate and Prepare (5 % + 15 %)
    assert done_stages() == ("InProgress", 2)
    running = api.operation(op_id)
    assert running.headers["Retry-After"] == "1"
    assert "endTime" not in running.json()
    sim.advance(sim.options.restore_seconds)
    final = api.operation(op_id)
    assert (final.json()["status"], len(final.json()["stageStatuses"])) == ("Succeeded", 4)
    assert done_stages() == ("Succeeded", 4)
    assert "Retry-After" not in final.headers
    assert "endTime" in final.json()


def test_finished_restore_replaces_content_and_leaves_admin_mode(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_content(tenant.prod, "prod v2")
    point = api.create_backup(tenant.prod).json()["backupPointDateTime"]
    sim.advance(60)
    sim.set_content(tenant.prod, "prod v3 (after the backup)")
    sim.advance(SETTLE)

    response = api.restore(
        tenant.uat, tenant.prod, point,
        restore_options={"skipAuditData": True, "environmentNameToOverride": "UAT restored"},
    )
    assert response.status_code == 202
    sim.advance(_restore_duration(sim) / 2)
    assert sim.content(tenant.uat) == "uat v1"  # not before the end
    sim.advance(_restore_duration(sim))

    assert sim.content(tenant.uat) == "prod v2"  # the source's data at the restore point
    assert sim.content(tenant.prod) == "prod v3 (after the backup)"
    env = api.get_environment(tenant.uat).json()["properties"]
    assert env["states"]["runtime"]["id"] == "AdminMode"
    assert env["linkedEnvironmentMetadata"]["backgroundOperationsState"] == "Disabled"
    assert env["states"]["management"]["id"] == "Ready"
    assert env["displayName"] == "UAT restored"


def test_restore_of_a_point_in_time_between_changes(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_content(tenant.uat, "uat v2")
    middle = sim.now()
    sim.advance(3600)
    sim.set_content(tenant.uat, "uat v3")
    sim.advance(3600)
    assert api.restore(tenant.uat, tenant.uat, _iso(middle + timedelta(minutes=30))
                       ).status_code == 202
    sim.advance(_restore_duration(sim))
    assert sim.content(tenant.uat) == "uat v2"


def test_restore_candidates_follow_the_rules(sim: Simulator, api: Api, tenant: Tenant) -> None:
    response = api.restore_candidates(tenant.prod)
    assert response.status_code == 200
    assert [c["environmentId"] for c in response.json()["collection"]] == [tenant.uat]
    candidate = response.json()["collection"][0]
    assert candidate["displayName"] == "UAT"
    assert candidate["dataverseOrganizationUrl"].startswith("https://")
    assert response.json()["continuationToken"] is None


def test_a_sandbox_is_not_its_own_restore_candidate_unless_told(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    # Reference §3.3: restoreCandidates lists the valid targets for a source; whether the source
    # itself is among them is not documented. The simulator leaves it out (the harder case for
    # a client), yet a restore onto itself is valid (§3.3 "A restore onto itself ...").
    listed = api.restore_candidates(tenant.uat).json()["collection"]
    assert tenant.uat not in [c["environmentId"] for c in listed]
    point = _settled_point(sim, api, tenant.uat)
    assert api.restore(tenant.uat, tenant.uat, point, validate_only=True).status_code == 202
    sim.set_options(restore_candidates_include_source=True)
    listed = api.restore_candidates(tenant.uat).json()["collection"]
    assert tenant.uat in [c["environmentId"] for c in listed]


def test_skip_audit_data_must_be_boolean(sim: Simulator, api: Api, tenant: Tenant) -> None:
    response = api.restore(tenant.uat, tenant.prod, _iso(sim.now() - timedelta(hours=1)),
                           restore_options={"skipAuditData": "yes"})
    assert response.status_code == 400


def test_pp_error_envelope_can_alternate(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_options(pp_error_style="alternate")
    shapes = []
    for _ in range(4):
        body = api.restore(tenant.prod, tenant.prod, "not a time").json()
        shapes.append("errorDetail" if "errorDetail" in body else "error")
    assert shapes == ["errorDetail", "error", "errorDetail", "error"]
    sim.set_options(pp_error_style="error")
    assert api.restore(tenant.prod, tenant.prod, "x").json() == {
        "error": {"code": "InvalidRestorePointDateTime"}
    }
