"""Service protection limits (reference §7): requests per window, combined execution time and
concurrent requests per user, each a 429 with Retry-After and its documented code; the shared
fault switches (5xx, 429 storms, latency, dropped answers) reach the Dataverse routes too."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ppbackup.simulator import SimOptions, Simulator
from ppbackup.simulator.dataverse.limits import ServiceProtection, Throttled

from .conftest import Dataverse


def test_requests_per_window(sim: Simulator, dv: Dataverse) -> None:
    sim.set_options(dataverse_requests_per_window=3, dataverse_window_seconds=60)
    assert [dv.http.get("WhoAmI").status_code for _ in range(3)] == [200, 200, 200]
    refused = dv.http.get("WhoAmI")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "0x80072322"
    assert "Number of requests exceeded the limit of 3" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Limits are per user: another caller (another token) is not refused; the informational
    # headers tell each what is left.
    other = dv.http.get("WhoAmI", headers={"Authorization": "Bearer other-user"})
    assert other.status_code == 200
    assert other.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "2"
    assert float(other.headers["x-ms-ratelimit-time-remaining-xrm-requests"]) > 0
    assert "ARRAffinity=" in other.headers["set-cookie"]


def test_window_slides_and_retry_after_says_when() -> None:
    """Requests leave the window as it slides; Retry-After is the wait until the oldest does."""
    now = [1000.0]
    options = SimOptions(dataverse_requests_per_window=2, dataverse_window_seconds=10)
    limits = ServiceProtection(options, monotonic=lambda: now[0])
    for step in (0.0, 4.0):
        now[0] += step
        limits.enter("app")
        limits.leave("app", 0.01)
    now[0] += 1.0  # t = 1005: the first request (t = 1000) leaves the window at 1010
    with pytest.raises(Throttled) as refused:
        limits.enter("app")
    assert refused.value.code == "0x80072322" and refused.value.retry_after == 5
    now[0] += 5.0
    limits.enter("app")  # admitted exactly when Retry-After said


def test_execution_time_is_charged_per_row(sim: Simulator, dv: Dataverse) -> None:
    sim.set_options(dataverse_row_cost_ms=100, dataverse_execution_seconds_per_window=4,
                    dataverse_window_seconds=60)
    assert dv.http.get("accounts").status_code == 200  # 50 rows = 5 s: over the limit now
    refused = dv.http.get("accounts")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "0x80072321"
    assert "Combined execution time" in refused.json()["error"]["message"]


def test_concurrent_requests_are_capped_at_once() -> None:
    """The concurrency cap bites immediately, while requests are in flight (no clock needed)."""
    options = SimOptions(dataverse_concurrent_requests=2)
    limits = ServiceProtection(options, monotonic=lambda: 100.0)
    limits.enter("app")
    limits.enter("app")
    with pytest.raises(Throttled) as refused:
        limits.enter("app")
    assert refused.value.code == "0x80072326" and refused.value.retry_after == 1
    assert "concurrent requests exceeded the limit of 2" in refused.value.message
    limits.enter("someone else")
    limits.leave("app", 0.1)
    limits.enter("app")


def test_dop_hint_on_every_answer(sim: Simulator, dv: Dataverse) -> None:
    sim.set_options(dataverse_dop_hint=12)
    assert dv.http.get("accounts?$top=1").headers["x-ms-dop-hint"] == "12"
    assert dv.http.get("nosuchset").headers["x-ms-dop-hint"] == "12"


def test_injected_faults_use_the_dataverse_envelope(sim: Simulator, dv: Dataverse) -> None:
    sim.set_faults(error_next=1, error_status=503, error_path="/orgs/")
    failed = dv.http.get("accounts")
    assert failed.status_code == 503
    assert set(failed.json()) == {"error"}
    assert dv.http.get("accounts").status_code == 200
    sim.set_faults(throttle_rate=1.0, throttle_retry_after=2)
    storm = dv.http.get("accounts")
    assert storm.status_code == 429 and storm.headers["Retry-After"] == "2"
    assert storm.json()["error"]["code"] == "0x80072322"
    sim.clear_faults()
    stats = sim.stats()["endpoints"]
    assert stats["dv.rows"]["statuses"] == {"200": 1, "429": 1, "503": 1}


def test_dropped_answer_after_the_write_happened(sim: Simulator, dv: Dataverse) -> None:
    sim.set_faults(drop_next=1, drop_method="POST", drop_path="/orgs/.*/accounts")
    with pytest.raises(httpx.TransportError):
        dv.http.post("accounts", json={"name": "Outcome unknown"})
    assert [w["action"] for w in sim.dataverse_writes(dv.env)] == ["create"]
    names = {r["name"] for r in dv.http.get("accounts?$select=name").json()["value"]}
    assert "Outcome unknown" in names


def test_concurrent_writers_get_distinct_versions(dv: Dataverse) -> None:
    lock = threading.Lock()
    tags: list[str] = []

    def create(i: int) -> None:
        made = dv.http.post("accounts", json={"name": f"parallel {i}"},
                            headers={"Prefer": "return=representation"})
        assert made.status_code == 201
        with lock:
            tags.append(made.json()["@odata.etag"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(40)))
    assert len(set(tags)) == 40
