"""Every fault switch, from Python and over HTTP, and its seeded reproducibility."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.faults import FaultInjector

from .conftest import API_PP, Api, Tenant, error_code, status_url


def _timed(call: object) -> float:
    started = time.monotonic()
    assert callable(call)
    call()
    return time.monotonic() - started


def test_fixed_latency(sim: Simulator, api: Api, tenant: Tenant) -> None:
    # An answer cannot come before the injected latency (a lower bound: a busy machine only
    # makes it later); how long each answer is held is the injector's draw, checked below.
    sim.set_faults(latency_ms=200)
    assert _timed(lambda: api.list_backups(tenant.prod)) >= 0.19


@pytest.mark.parametrize(
    ("latency_ms", "low", "high"), [(0, 0.0, 0.0), (200, 0.2, 0.2), ((60, 120), 0.06, 0.12)]
)
def test_latency_draws_stay_in_their_range(
    latency_ms: float | tuple[float, float], low: float, high: float
) -> None:
    faults = FaultInjector(seed=3)
    faults.set(latency_ms=latency_ms)
    draws = [faults.latency_seconds() for _ in range(200)]
    assert all(low <= d <= high for d in draws)
    if low < high:
        assert len(set(draws)) > 1  # a range, not one value


def test_latency_range(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_faults(latency_ms=(60, 120))
    for _ in range(5):
        assert _timed(lambda: api.list_backups(tenant.prod)) >= 0.055


def test_server_errors_by_method_and_path(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_faults(error_rate=1.0, error_status=500, error_method="POST",
                   error_path=r"/backups$")
    refused = api.create_backup(tenant.prod)
    assert refused.status_code == 500
    assert "errorDetail" in refused.json()
    assert api.list_backups(tenant.prod).status_code == 200  # GET not matched
    assert api.modify_sku(tenant.uat, "Production").status_code == 202  # path not matched
    assert sim.backups(tenant.prod) == []  # the refused create did nothing
    assert sim.stats()["server_errors"] == 1


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [(401, "InvalidAuthenticationToken", "token"),
     (403, "Forbidden", "does not have permission to access the path"),
     (409, "SimulatedFault", "409")],
)
def test_injected_errors_look_like_the_platform(
    sim: Simulator, api: Api, tenant: Tenant, status: int, code: str, text: str
) -> None:
    sim.set_faults(error_next=1, error_status=status, error_path="lifecycleOperations|/scopes/")
    response = api.get_environment(tenant.prod)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert text in response.json()["error"]["message"]
    assert api.get_environment(tenant.prod).status_code == 200


def test_next_n_requests_fail(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_faults(error_next=2, error_status=503)
    statuses = [api.get_environment(tenant.prod).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_random_429(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_faults(throttle_rate=1.0, throttle_retry_after=7)
    response = api.create_backup(tenant.prod)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert sim.backups(tenant.prod) == []


def test_backup_conflicts(sim: Simulator, api: Api, tenant: Tenant) -> None:
    backup_id = api.create_backup(tenant.prod).json()["id"]
    sim.set_faults(backup_conflict_rate=1.0)
    created = api.create_backup(tenant.prod)
    assert created.status_code == 409
    assert error_code(created) == "OperationNotStartable"
    sim.set_faults(conflict_empty_body=True)
    deleted = api.delete_backup(tenant.prod, backup_id)
    assert deleted.status_code == 409
    assert deleted.content == b""
    assert [b["id"] for b in sim.backups(tenant.prod)] == [backup_id]
    # Other calls are not affected.
    assert api.list_backups(tenant.prod).status_code == 200


def test_dropped_response_closes_the_connection_after_acting(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_faults(drop_next=1, drop_method="POST", drop_path=r"/backups$")
    # Closed, not timed out: a timeout would be httpx.ReadTimeout.
    with pytest.raises(httpx.RemoteProtocolError):
        api.create_backup(tenant.prod, "lost answer")
    # The platform did create it.
    assert [b["label"] for b in sim.backups(tenant.prod)] == ["lost answer"]
    assert sim.stats()["dropped"] == 1
    # Only the next one was dropped.
    assert api.create_backup(tenant.prod).status_code == 201


def test_dropped_modify_sku_still_starts_the_operation(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_faults(drop_rate=1.0, drop_path="modifySku")
    with pytest.raises(httpx.RemoteProtocolError):
        api.modify_sku(tenant.uat, "Production")
    ops = sim.operations(tenant.uat, kind="ModifySku")
    assert len(ops) == 1
    assert ops[0]["params"]["environmentSku"] == "Production"
    sim.clear_faults()
    retry = api.modify_sku(tenant.uat, "Production")  # a blind re-send finds the env busy
    assert retry.status_code == 409
    assert error_code(retry) == "OperationNotStartable"


def test_next_restore_fails_and_leaves_target_alone(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_faults(fail_next={"Restore": 1})
    point = api.create_backup(tenant.prod).json()["backupPointDateTime"]
    sim.advance(901)
    assert api.restore(tenant.uat, tenant.prod, point).status_code == 202
    op_id = api.operations(tenant.uat).json()["collection"][0]["operationId"]
    sim.advance(sim.options.queued_seconds + sim.options.restore_seconds)

    body = api.operation(op_id).json()
    assert body["status"] == "Failed"
    assert body["errorDetail"]["code"] == "RestoreFailed"
    assert [s["status"] for s in body["stageStatuses"]] == [
        "Succeeded", "Succeeded", "Failed", "NotStarted"]
    assert sim.content(tenant.uat) == "uat v1"
    assert sim.environment(tenant.uat)["properties"]["states"]["runtime"]["id"] == "Enabled"

    # Only the next one: the retry succeeds.
    assert api.restore(tenant.uat, tenant.prod, point).status_code == 202
    sim.advance(sim.options.queued_seconds + sim.options.restore_seconds)
    assert sim.content(tenant.uat) == "prod v1"


def test_operations_always_fail_for_an_environment(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_faults(fail_environments=[tenant.uat])
    url = status_url(api.modify_sku(tenant.uat, "Production"))
    sim.advance(sim.options.queued_seconds + sim.options.modify_sku_seconds)
    failed = api.poll(url)
    assert failed.status_code == 200
    assert failed.json()["state"]["id"] == "Failed"
    assert failed.json()["error"]["code"] == "ModifySkuFailed"
    assert sim.environment(tenant.uat)["properties"]["environmentSku"] == "Sandbox"
    # A failed operation releases the environment.
    assert api.create_backup(tenant.uat).status_code == 201
    # Other environments are fine.
    other = status_url(api.modify_sku(tenant.sandbox_eu_unmanaged, "Production"))
    sim.advance(sim.options.queued_seconds + sim.options.modify_sku_seconds)
    assert api.poll(other).json()["state"]["id"] == "Succeeded"


def test_early_404_on_status_urls(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_faults(early_404_seconds=0.5, early_404_in_list=True)
    url = status_url(api.modify_sku(tenant.uat, "Production"))
    assert api.poll(url).status_code == 404
    op_id = sim.operations(tenant.uat)[0]["operationId"]
    assert api.operation(op_id).status_code == 404
    assert api.operations(tenant.uat).json()["collection"] == []
    # The early window is real time: wait for it to close instead of sleeping past it.
    deadline = time.monotonic() + 10
    while api.poll(url).status_code == 404:
        assert time.monotonic() < deadline, "the early 404 window never closed"
        time.sleep(0.05)
    assert api.poll(url).status_code == 202
    assert api.operation(op_id).status_code == 200
    assert len(api.operations(tenant.uat).json()["collection"]) == 1


def test_faults_switch_over_http(sim: Simulator, api: Api, tenant: Tenant) -> None:
    response = api.http.post("/_sim/faults", json={"error_rate": 1.0, "error_path": "backups"})
    assert response.status_code == 200
    assert response.json()["error_rate"] == 1.0
    assert api.list_backups(tenant.prod).status_code == 503
    assert api.http.get("/_sim/faults").json()["error_path"] == "backups"
    assert api.http.post("/_sim/faults", json={"clear": True}).json()["error_rate"] == 0.0
    assert api.list_backups(tenant.prod).status_code == 200
    bad = api.http.post("/_sim/faults", json={"error_rate": 2})
    assert bad.status_code == 400
    assert api.http.post("/_sim/faults", json={"no_such_switch": 1}).status_code == 400
    drop = api.http.post("/_sim/faults", json={"drop_next": 1})
    assert drop.json()["drop_next"] == 1
    with pytest.raises(httpx.RemoteProtocolError):
        api.get_environment(tenant.prod)


def _fault_pattern(seed: int) -> list[int]:
    with run_simulator(speed=0, populate=False, seed=seed) as simulator, httpx.Client(
        base_url=simulator.url, timeout=10
    ) as http:
        env = simulator.add_environment("E")
        simulator.set_faults(error_rate=0.3, throttle_rate=0.2)
        return [
            http.get(f"/environmentmanagement/environments/{env}/backups",
                     params={"api-version": API_PP}).status_code
            for _ in range(40)
        ]


def test_seeded_faults_are_reproducible() -> None:
    first = _fault_pattern(42)
    assert first == _fault_pattern(42)
    assert {200, 429, 503} <= set(first)
    assert first != _fault_pattern(7)


def test_many_concurrent_connections(sim: Simulator, tenant: Tenant) -> None:
    sim.set_faults(latency_ms=150)
    url = f"{sim.url}/environmentmanagement/environments/{tenant.prod}/backups"

    limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
    with httpx.Client(timeout=10, limits=limits) as http:

        def create(i: int) -> int:
            return http.post(url, params={"api-version": API_PP},
                             json={"label": f"b{i}"}).status_code

        with ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(create, range(200)))
    assert statuses == [201] * 200
    assert len(sim.backups(tenant.prod)) == 200
    stats = sim.stats()
    assert stats["max_concurrent"] >= 20  # served in parallel, not one by one
    assert stats["endpoints"]["pp.create_backup"]["statuses"] == {"201": 200}
    assert stats["in_flight"] == 0
