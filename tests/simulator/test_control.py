"""Control endpoints, the clock, request ids, loopback-only binding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest

from ppbackup.simulator import SimClock, Simulator, run_simulator
from ppbackup.simulator import clock as clock_module
from ppbackup.simulator.seed import CONTOSO_PROD, CONTOSO_UAT, FABRIKAM_DEV, FABRIKAM_PROD

from .conftest import Api, Tenant


def test_clock_runs_at_speed_and_advances(monkeypatch: pytest.MonkeyPatch) -> None:
    real = [1000.0]  # the real (monotonic) seconds the clock reads, moved by the test
    monkeypatch.setattr(clock_module, "time", SimpleNamespace(monotonic=lambda: real[0]))
    start = datetime(2030, 1, 1, tzinfo=UTC)
    clock = SimClock(start=start, speed=3600)
    real[0] += 0.05
    assert clock.now() == start + timedelta(seconds=0.05 * 3600)
    clock.set_speed(0)
    frozen = clock.now()
    real[0] += 20
    assert clock.now() == frozen
    assert clock.advance(90) == frozen + timedelta(seconds=90)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_clock_never_starts_behind_a_saved_time() -> None:
    clock = SimClock(speed=0)
    later = clock.now() + timedelta(days=3)
    clock.advance_to(later)
    assert clock.now() == later
    clock.advance_to(later - timedelta(days=10))
    assert clock.now() == later


def test_clock_endpoint(sim: Simulator, api: Api) -> None:
    before = sim.now()
    response = api.http.post("/_sim/clock", json={"advance": 3600})
    assert response.status_code == 200
    assert datetime.fromisoformat(response.json()["now"]) - before == timedelta(hours=1)
    assert api.http.post("/_sim/clock", json={"speed": 60}).json()["speed"] == 60
    assert sim.clock.speed == 60
    assert api.http.post("/_sim/clock", json={"advance": -5}).status_code == 400
    assert api.http.post("/_sim/clock", json={"rewind": 5}).status_code == 400


def test_add_environments_over_http(sim: Simulator, api: Api) -> None:
    response = api.http.post("/_sim/environments", json={
        "displayName": "Added", "type": "Production", "location": "europe", "managed": True,
    })
    assert response.status_code == 201
    env_id = response.json()["id"]
    props = api.get_environment(env_id).json()["properties"]
    assert (props["displayName"], props["environmentSku"]) == ("Added", "Production")
    assert props["governanceConfiguration"]["protectionLevel"] == "Standard"

    many = api.http.post("/_sim/environments", json={"count": 3, "type": "Sandbox"})
    assert many.status_code == 201
    assert len(many.json()["ids"]) == 3
    assert len(api.list_environments().json()["value"]) == 4

    assert api.http.post("/_sim/environments", json={"displayName": "X", "bogus": 1}
                         ).status_code == 400
    assert api.http.post("/_sim/environments", json={"displayName": "X", "type": "Nope"}
                         ).status_code == 400
    assert api.http.post("/_sim/environments", json={"displayName": "X", "managed": "yes"}
                         ).status_code == 400


def test_content_and_backdated_backup_over_http(sim: Simulator, api: Api, tenant: Tenant) -> None:
    changed = api.http.post(f"/_sim/environments/{tenant.prod}/content", json={"marker": "v2"})
    assert changed.json()["marker"] == "v2"
    assert changed.json()["version"] == 2
    assert sim.content(tenant.prod) == "v2"
    point = (sim.now() - timedelta(days=3)).isoformat()
    created = api.http.post(f"/_sim/environments/{tenant.prod}/backups",
                            json={"label": "old one", "point": point})
    assert created.status_code == 201
    assert datetime.fromisoformat(created.json()["backupPointDateTime"]) == datetime.fromisoformat(
        point)
    assert api.list_backups(tenant.prod).json()["collection"][0]["label"] == "old one"


def test_state_stats_operations_and_reset(sim: Simulator, api: Api, tenant: Tenant) -> None:
    api.create_backup(tenant.prod)
    api.modify_sku(tenant.uat, "Production")
    api.http.get("/nowhere")

    state = api.http.get("/_sim/state").json()
    assert state["url"] == sim.url
    assert {e["id"] for e in state["state"]["environments"]} >= {tenant.prod, tenant.uat}
    assert len(state["state"]["backups"]) == 1

    stats = api.http.get("/_sim/stats").json()
    assert stats["requests"] == 3  # control calls are not counted
    assert stats["endpoints"]["pp.create_backup"]["statuses"] == {"201": 1}
    assert stats["endpoints"]["unknown"]["statuses"] == {"404": 1}

    ops = api.http.get("/_sim/operations", params={"environmentId": tenant.uat}).json()["value"]
    assert [o["name"] for o in ops] == ["ModifySku"]
    assert ops[0]["state"] == "NotStarted"

    assert api.http.post("/_sim/stats/reset").json()["requests"] == 0
    reset = api.http.post("/_sim/reset", json={"populate": True})
    assert reset.status_code == 200
    names = {e["properties"]["displayName"] for e in api.list_environments().json()["value"]}
    assert names == {"Contoso Prod", "Contoso UAT", "Fabrikam Prod", "Fabrikam Dev",
                     "Contoso (default)"}
    assert sim.backups(CONTOSO_PROD) == []


def test_default_seed_is_a_restorable_demo_tenant() -> None:
    with run_simulator(speed=0, seed=1) as sim, httpx.Client(base_url=sim.url) as http:
        api = Api(http)
        envs = {e["name"]: e for e in api.list_environments().json()["value"]}
        assert envs[CONTOSO_PROD]["properties"]["environmentSku"] == "Production"
        assert envs[CONTOSO_PROD]["location"] == "europe"
        assert envs[FABRIKAM_DEV]["properties"]["governanceConfiguration"][
            "protectionLevel"] == "Basic"
        default = [e for e in envs.values() if e["properties"]["isDefault"]]
        assert [d["name"] for d in default] == [f"Default-{sim.state.tenant_id}"]
        cands = api.restore_candidates(CONTOSO_PROD).json()["collection"]
        assert [c["environmentId"] for c in cands] == [CONTOSO_UAT]
        cands = api.restore_candidates(FABRIKAM_PROD).json()["collection"]
        assert [c["environmentId"] for c in cands] == [FABRIKAM_DEV]


def test_every_response_has_a_request_id(sim: Simulator, api: Api, tenant: Tenant) -> None:
    responses = [
        api.get_environment(tenant.prod),
        api.get_environment("missing"),
        api.http.get("/nowhere"),
        api.http.put(f"/environmentmanagement/environments/{tenant.prod}/backups"),
        api.create_backup(tenant.default),
        api.http.get("/_sim/stats"),
    ]
    ids = [r.headers["x-ms-request-id"] for r in responses]
    assert len(set(ids)) == len(ids)
    assert responses[3].status_code == 405


def test_only_loopback_binds() -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):  # noqa: S104 - refused on purpose
        with pytest.raises(ValueError, match="loopback"):
            Simulator(host=host, populate=False)


def test_localhost_binds() -> None:
    with run_simulator(host="localhost", populate=False) as sim:
        assert sim.url.startswith("http://localhost:")
        assert httpx.get(f"{sim.url}/_sim/stats").status_code == 200


def test_ipv6_loopback_binds() -> None:
    try:
        simulator = Simulator(host="::1", populate=False).start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert simulator.url.startswith("http://[::1]:")
        assert httpx.get(f"{simulator.url}/_sim/stats").status_code == 200
    finally:
        simulator.stop()
