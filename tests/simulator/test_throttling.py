"""Token-bucket throttling: 429 + whole-second Retry-After, refused requests take no token, and
the accepted rate stays within rate x time + burst under concurrent load."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from ppbackup.simulator import Simulator
from ppbackup.simulator.throttle import TokenBucket

from .conftest import API_PP, Api, Tenant


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_grants_burst_then_reports_time_to_next_token() -> None:
    clock = FakeMonotonic()
    bucket = TokenBucket(rate=0.5, burst=3, monotonic=clock)
    assert [bucket.try_acquire() for _ in range(3)] == [None, None, None]
    assert bucket.try_acquire() == 2  # one token per 2 s
    clock.now += 1.5
    assert bucket.try_acquire() == 1  # 0.5 s left, rounded up to a whole second
    clock.now += 0.5
    assert bucket.try_acquire() is None


def test_refused_requests_do_not_consume_tokens() -> None:
    clock = FakeMonotonic()
    bucket = TokenBucket(rate=1.0, burst=1, monotonic=clock)
    assert bucket.try_acquire() is None
    for _ in range(50):  # a client hammering while refused
        assert bucket.try_acquire() == 1
    clock.now += 1.0
    assert bucket.try_acquire() is None


def test_throttling_is_off_by_default(sim: Simulator, api: Api, tenant: Tenant) -> None:
    statuses = {api.list_backups(tenant.prod).status_code for _ in range(60)}
    assert statuses == {200}
    assert sim.stats()["throttled"] == 0


def test_429_carries_whole_second_retry_after(sim: Simulator, api: Api, tenant: Tenant) -> None:
    sim.set_throttle(0.4, burst=2)
    assert api.create_backup(tenant.prod).status_code == 201
    assert api.list_backups(tenant.prod).status_code == 200
    refused = api.create_backup(tenant.prod)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3"  # 1 token / 0.4 per s = 2.5 s -> 3
    assert refused.json()["errorDetail"]["code"] == "TooManyRequests"
    assert refused.headers["x-ms-request-id"]
    bap = api.get_environment(tenant.prod)
    assert bap.status_code == 429
    assert bap.json()["error"]["code"] == "TooManyRequests"  # BAP envelope on BAP paths
    # The refused create did nothing.
    assert len(sim.backups(tenant.prod)) == 1
    # Control endpoints are never throttled.
    assert api.http.get("/_sim/stats").status_code == 200
    assert sim.stats()["throttled"] == 2


def test_accepted_rate_stays_within_the_bucket(sim: Simulator, tenant: Tenant) -> None:
    rate, burst, workers, duration = 20.0, 5, 24, 2.0
    sim.set_throttle(rate, burst=burst)
    accepted: list[float] = []
    retry_afters: set[str] = set()
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def worker() -> None:
        with httpx.Client(base_url=sim.url, timeout=10) as http:
            while time.monotonic() < stop_at:
                response = http.get(
                    f"/environmentmanagement/environments/{tenant.prod}/backups",
                    params={"api-version": API_PP},
                )
                with lock:
                    if response.status_code == 200:
                        accepted.append(time.monotonic())
                    else:
                        assert response.status_code == 429
                        retry_afters.add(response.headers["Retry-After"])

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    elapsed = time.monotonic() - started

    assert len(accepted) <= burst + math.ceil(rate * elapsed) + 1
    assert len(accepted) >= rate * duration * 0.5  # the bucket did let the rate through
    # Any 1-second window holds at most rate + burst accepted requests.
    accepted.sort()
    for i, t in enumerate(accepted):
        in_window = sum(1 for u in accepted[i:] if u - t < 1.0)
        assert in_window <= rate + burst + 1
    assert retry_afters == {"1"}
    stats = sim.stats()
    assert stats["throttled"] > 0
    assert stats["endpoints"]["pp.list_backups"]["statuses"]["200"] == len(accepted)


def test_throttle_can_be_switched_over_http(sim: Simulator, api: Api, tenant: Tenant) -> None:
    response = api.http.post("/_sim/options", json={"throttle_rate": 1, "throttle_burst": 1})
    assert response.status_code == 200
    assert response.json()["throttle_rate"] == 1.0
    assert api.list_backups(tenant.prod).status_code == 200
    assert api.list_backups(tenant.prod).status_code == 429
    api.http.post("/_sim/options", json={"throttle_rate": None})
    assert api.list_backups(tenant.prod).status_code == 200
