"""BAP side: environments (list/paging/get), modifySku and the runtime-state PATCH as long-running
operations, one lifecycle operation per environment, the 403 window, status-URL behaviour."""

from __future__ import annotations

import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
import pytest

from ppbackup.simulator import Simulator, run_simulator

from .conftest import Api, Tenant, error_code, status_url


def _finish_sku(sim: Simulator) -> None:
    sim.advance(sim.options.queued_seconds + sim.options.modify_sku_seconds)


def test_environment_object_has_the_fields_the_app_reads(api: Api, tenant: Tenant) -> None:
    response = api.get_environment(tenant.prod)
    assert response.status_code == 200
    env = response.json()
    assert env["name"] == tenant.prod
    assert env["location"] == "europe"
    props = env["properties"]
    assert props["environmentSku"] == "Production"
    assert props["azureRegion"] == "westeurope"
    assert props["isDefault"] is False
    assert props["governanceConfiguration"]["protectionLevel"] == "Standard"
    assert props["states"] == {
        "management": {"id": "Ready"},
        "runtime": {"id": "Enabled", "runtimeReasonCode": "NotSpecified",
                    "requestedBy": {"displayName": "SYSTEM", "type": "NotSpecified"}},
    }
    assert props["linkedEnvironmentMetadata"]["backgroundOperationsState"] == "Enabled"
    assert props["retentionDetails"]["retentionPeriod"] == "P28D"
    disallowed = {d["type"]["id"] for d in
                  props["lifecycleOperationsEnforcement"]["disallowedOperations"]}
    assert disallowed == {"Restore"}  # a Production environment is no restore target


def test_default_environment_disallows_backup_and_restore(api: Api, tenant: Tenant) -> None:
    env = api.get_environment(tenant.default).json()
    assert env["name"].startswith("Default-")
    props = env["properties"]
    assert props["isDefault"] is True
    assert props["environmentSku"] == "Default"
    enforcement = props["lifecycleOperationsEnforcement"]
    disallowed = {d["type"]["id"]: d["reason"]["message"]
                  for d in enforcement["disallowedOperations"]}
    assert {"Backup", "Restore"} <= set(disallowed)
    assert "type Default" in disallowed["Restore"]
    assert api.get_environment(tenant.uat).json()["properties"][
        "governanceConfiguration"]["protectionLevel"] == "Standard"
    assert api.get_environment(tenant.dev_us).json()["properties"][
        "governanceConfiguration"]["protectionLevel"] == "Basic"


def test_unknown_environment_is_404_in_bap_envelope(api: Api) -> None:
    response = api.get_environment("11111111-1111-1111-1111-111111111111")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "EnvironmentNotFound"


def test_environment_list_pages_with_next_link(sim: Simulator, api: Api) -> None:
    sim.set_options(page_size=3)
    ids = sim.seed_many(7, type="Sandbox")
    seen: list[str] = []
    response = api.list_environments()
    pages = 1
    while True:
        body = response.json()
        seen += [e["name"] for e in body["value"]]
        if "nextLink" not in body:
            break
        assert body["nextLink"].startswith(sim.url)  # absolute, followed verbatim
        response = api.http.get(body["nextLink"])
        pages += 1
    assert pages == 3
    assert seen == ids


def test_environment_list_filters_by_sku(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_options(page_size=1)
    names: list[str] = []
    response = api.list_environments(**{"$filter": "properties/environmentSku eq 'Production'"})
    while True:
        names += [e["name"] for e in response.json()["value"]]
        link = response.json().get("nextLink")
        if link is None:
            break
        response = api.http.get(link)
    assert names == [tenant.prod]


def test_modify_sku_is_a_long_running_operation(sim: Simulator, api: Api, tenant: Tenant) -> None:
    response = api.modify_sku(tenant.uat, "Production")
    assert response.status_code == 202
    assert response.content == b""
    url = status_url(response)
    assert url.startswith(f"{sim.url}/providers/Microsoft.BusinessAppPlatform/lifecycleOperations/")
    assert url.endswith("?api-version=2023-06-01")
    assert response.headers["Retry-After"] == "1"

    first = api.poll(url)
    assert first.status_code == 202
    assert first.json()["state"]["id"] == "NotStarted"
    assert first.json()["type"]["id"] == "ModifySku"
    assert first.headers["Retry-After"] == "1"
    assert api.get_environment(tenant.uat).json()["properties"]["states"]["management"][
        "id"] == "Running"

    sim.advance(sim.options.queued_seconds + 1)
    assert api.poll(url).json()["state"]["id"] == "Running"
    _finish_sku(sim)
    done = api.poll(url)
    assert done.status_code == 200
    body = done.json()
    assert body["state"]["id"] == "Succeeded"
    assert [s["id"] for s in body["stages"]] == ["Validate", "Prepare", "Run", "Finalize"]
    assert all(s["state"]["id"] == "Succeeded" for s in body["stages"])
    assert "Retry-After" not in done.headers
    props = api.get_environment(tenant.uat).json()["properties"]
    assert props["environmentSku"] == "Production"
    assert props["states"]["management"]["id"] == "Ready"


def test_status_header_alternates_between_location_and_operation_location(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    headers = []
    for sku in ("Production", "Sandbox", "Production", "Sandbox"):
        response = api.modify_sku(tenant.uat, sku)
        assert response.status_code == 202
        present = [h for h in ("Location", "Operation-Location") if h in response.headers]
        assert len(present) == 1
        headers.append(present[0])
        _finish_sku(sim)
    assert headers == ["Location", "Operation-Location", "Location", "Operation-Location"]


@pytest.mark.parametrize("mode", ["Location", "Operation-Location"])
def test_status_header_can_be_fixed(sim: Simulator, api: Api, tenant: Tenant, mode: str) -> None:
    sim.set_options(status_header=mode)
    for sku in ("Production", "Sandbox"):
        response = api.modify_sku(tenant.uat, sku)
        other = "Operation-Location" if mode == "Location" else "Location"
        assert mode in response.headers
        assert other not in response.headers
        _finish_sku(sim)


def test_retry_after_can_be_omitted_fixed_or_a_date(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_options(retry_after=None)
    response = api.modify_sku(tenant.uat, "Production")
    assert "Retry-After" not in response.headers
    assert "Retry-After" not in api.poll(status_url(response)).headers
    _finish_sku(sim)

    sim.set_options(retry_after=60)
    response = api.modify_sku(tenant.uat, "Sandbox")
    assert response.headers["Retry-After"] == "60"
    assert api.poll(status_url(response)).headers["Retry-After"] == "60"
    _finish_sku(sim)

    sim.set_options(retry_after=30, retry_after_format="http-date")
    response = api.modify_sku(tenant.uat, "Production")
    when = parsedate_to_datetime(response.headers["Retry-After"])
    wait = (when - parsedate_to_datetime(response.headers["Date"])).total_seconds()
    assert 28 <= wait <= 32


def test_status_url_can_point_at_another_host(sim: Simulator, api: Api, tenant: Tenant) -> None:
    other = sim.url.replace("127.0.0.1", "localhost")
    sim.set_options(status_base_url=other)
    url = status_url(api.modify_sku(tenant.uat, "Production"))
    assert urlsplit(url).hostname == "localhost"
    assert api.poll(url).status_code == 202


def test_one_lifecycle_operation_per_environment(sim: Simulator, api: Api, tenant: Tenant) -> None:
    point = api.create_backup(tenant.prod).json()["backupPointDateTime"]
    sim.advance(901)
    assert api.restore(tenant.uat, tenant.prod, point).status_code == 202

    refusals = [
        api.restore(tenant.uat, tenant.prod, point),
        api.modify_sku(tenant.uat, "Production"),
        api.set_runtime(tenant.uat, "Enabled"),
        api.create_backup(tenant.uat),
    ]
    for response in refusals:
        assert response.status_code == 409, response.request.url
        assert error_code(response) == "OperationNotStartable"
    # Other environments, and the restore's source, are not locked.
    assert api.create_backup(tenant.prod).status_code == 201
    assert api.modify_sku(tenant.sandbox_eu_unmanaged, "Production").status_code == 202

    sim.advance(sim.options.queued_seconds + sim.options.restore_seconds)
    assert api.create_backup(tenant.uat).status_code == 201
    assert api.set_runtime(tenant.uat, "Enabled").status_code == 202


def test_runtime_patch_turns_admin_mode_and_background_ops(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    response = api.set_runtime(tenant.uat, "AdminMode", "Disabled")
    assert response.status_code == 202
    url = status_url(response)
    sim.advance(sim.options.queued_seconds + sim.options.runtime_state_seconds)
    assert api.poll(url).json()["state"]["id"] == "Succeeded"
    props = api.get_environment(tenant.uat).json()["properties"]
    assert props["states"]["runtime"]["id"] == "AdminMode"
    assert props["linkedEnvironmentMetadata"]["backgroundOperationsState"] == "Disabled"

    api.set_runtime(tenant.uat, "Enabled")  # the second key is optional
    sim.advance(sim.options.queued_seconds + sim.options.runtime_state_seconds)
    props = api.get_environment(tenant.uat).json()["properties"]
    assert props["states"]["runtime"]["id"] == "Enabled"
    assert props["linkedEnvironmentMetadata"]["backgroundOperationsState"] == "Disabled"


@pytest.mark.parametrize(
    "body",
    [{}, {"properties": {}}, {"properties": {"states": {"runtime": {"id": "Disabled"}}}},
     {"properties": {"linkedEnvironmentMetadata": {"backgroundOperationsState": "On"}}}],
)
def test_runtime_patch_validates_body(api: Api, tenant: Tenant, body: dict[str, object]) -> None:
    response = api.http.patch(f"/providers/Microsoft.BusinessAppPlatform/scopes/admin/"
                              f"environments/{tenant.uat}", params={"api-version": "2021-04-01"},
                              json=body)
    assert response.status_code == 400
    assert "error" in response.json()


def test_modify_sku_refusals(sim: Simulator, api: Api, tenant: Tenant) -> None:
    assert error_code(api.modify_sku(tenant.default, "Sandbox")) == "LifecycleOperationNotAllowed"
    assert error_code(api.modify_sku(tenant.uat, "Trial")) == "InvalidEnvironmentSku"
    assert error_code(api.modify_sku(tenant.uat, "Sandbox")) == "EnvironmentSkuUnchanged"
    wrong_version = api.http.post(
        f"/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{tenant.uat}"
        "/modifySku", params={"api-version": "2023-06-01"}, json={"environmentSku": "Production"})
    assert wrong_version.status_code == 400


def test_runtime_patch_forbidden_for_a_window_after_restore(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_options(admin_mode_forbidden_seconds=900)
    point = api.create_backup(tenant.prod).json()["backupPointDateTime"]
    sim.advance(901)
    api.restore(tenant.uat, tenant.prod, point)
    sim.advance(sim.options.queued_seconds + sim.options.restore_seconds)

    forbidden = api.set_runtime(tenant.uat, "Enabled", "Enabled")
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "UserMissingRequiredPermission"
    assert sim.operations(tenant.uat, kind="UpdateRuntimeState") == []
    sim.advance(899)
    assert api.set_runtime(tenant.uat, "Enabled").status_code == 403
    sim.advance(2)
    assert api.set_runtime(tenant.uat, "Enabled").status_code == 202


def test_no_403_window_by_default(sim: Simulator, api: Api, tenant: Tenant) -> None:
    point = api.create_backup(tenant.prod).json()["backupPointDateTime"]
    sim.advance(901)
    api.restore(tenant.uat, tenant.prod, point)
    sim.advance(sim.options.queued_seconds + sim.options.restore_seconds)
    assert api.set_runtime(tenant.uat, "Enabled").status_code == 202


def test_settle_lag_keeps_environment_running_after_the_operation(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_options(settle_lag_seconds=120)
    url = status_url(api.modify_sku(tenant.uat, "Production"))
    _finish_sku(sim)
    assert api.poll(url).json()["state"]["id"] == "Succeeded"
    props = api.get_environment(tenant.uat).json()["properties"]
    assert props["states"]["management"]["id"] == "Running"
    assert props["environmentSku"] == "Sandbox"  # not visible yet
    assert api.modify_sku(tenant.uat, "Sandbox").status_code == 409
    sim.advance(121)
    props = api.get_environment(tenant.uat).json()["properties"]
    assert (props["states"]["management"]["id"], props["environmentSku"]) == ("Ready",
                                                                              "Production")


def test_unknown_lifecycle_operation_is_404(api: Api, sim: Simulator) -> None:
    response = api.http.get(
        "/providers/Microsoft.BusinessAppPlatform/lifecycleOperations/nope",
        params={"api-version": "2023-06-01"},
    )
    assert response.status_code == 404


def test_operations_run_on_simulated_time() -> None:
    """speed=3600 makes an operation of minutes take a fraction of a real second."""
    with run_simulator(speed=3600, populate=False) as fast, httpx.Client(timeout=10) as http:
        env = fast.add_environment("Fast", type="Sandbox")
        response = http.post(
            f"{fast.url}/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/"
            f"{env}/modifySku", params={"api-version": "2021-04-01"},
            json={"environmentSku": "Production"},
        )
        url = status_url(response)
        # Two simulated minutes at 3600x: done long before this real-time deadline.
        deadline = time.monotonic() + 5
        while (polled := http.get(url)).status_code == 202:
            assert time.monotonic() < deadline, "the operation did not run on simulated time"
            time.sleep(0.01)
        operation = polled.json()
        took = datetime.fromisoformat(operation["lastActionDateTime"]) - datetime.fromisoformat(
            operation["createdDateTime"])
        expected = fast.options.queued_seconds + fast.options.modify_sku_seconds
        assert took.total_seconds() == pytest.approx(expected, abs=1.0)  # simulated seconds
        assert fast.environment(env)["properties"]["environmentSku"] == "Production"
