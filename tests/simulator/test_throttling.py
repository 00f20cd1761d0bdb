"""Token-bucket throttling: 429 + whole-second Retry-After, refused requests take no token, and
the accepted rate stays within rate x time + burst under concurrent load (on a clock the test
moves, so the machine's load cannot change the count)."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

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


def test_accepted_rate_stays_within_the_bucket(
    sim: Simulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bucket runs on a clock the test moves: each step, more concurrent requests than
    # tokens arrive, and the step's answers are counted once all have come back. Neither a busy
    # machine nor the order the threads reach the server changes what the bucket may grant.
    rate, burst, workers, step, steps = 20.0, 8, 24, 0.25, 8  # 5 tokens per step
    clock = FakeMonotonic()
    monkeypatch.setattr(
        "ppbackup.simulator.app.TokenBucket", functools.partial(TokenBucket, monotonic=clock)
    )
    sim.set_throttle(rate, burst=burst)
    path = f"/environmentmanagement/environments/{tenant.prod}/backups"

    def ask(http: httpx.Client) -> httpx.Response:
        return http.get(path, params={"api-version": API_PP})

    granted: list[int] = []
    retry_afters: set[str] = set()
    with httpx.Client(base_url=sim.url, timeout=30) as http, ThreadPoolExecutor(workers) as pool:
        for _ in range(steps):
            answers = list(pool.map(lambda _: ask(http), range(workers)))
            assert {a.status_code for a in answers} <= {200, 429}
            granted.append(sum(1 for a in answers if a.status_code == 200))
            retry_afters |= {a.headers["Retry-After"] for a in answers if a.status_code == 429}
            clock.now += step

    # The burst first, then exactly what the rate refills: no token spent twice under
    # concurrency, none withheld.
    assert granted == [burst] + [int(rate * step)] * (steps - 1)
    # Any simulated second (4 steps) holds at most rate + burst granted requests.
    assert max(sum(granted[i : i + 4]) for i in range(steps - 3)) <= rate + burst
    assert retry_afters == {"1"}  # the next token is under a second away
    stats = sim.stats()
    assert stats["endpoints"]["pp.list_backups"]["statuses"]["200"] == sum(granted)
    assert stats["throttled"] == workers * steps - sum(granted)


def test_throttle_can_be_switched_over_http(sim: Simulator, api: Api, tenant: Tenant) -> None:
    response = api.http.post("/_sim/options", json={"throttle_rate": 1, "throttle_burst": 1})
    assert response.status_code == 200
    assert response.json()["throttle_rate"] == 1.0
    assert api.list_backups(tenant.prod).status_code == 200
    assert api.list_backups(tenant.prod).status_code == 429
    api.http.post("/_sim/options", json={"throttle_rate": None})
    assert api.list_backups(tenant.prod).status_code == 200
