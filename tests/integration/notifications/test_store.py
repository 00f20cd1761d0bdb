"""The notification tables on Azurite: round members at scale, claims, leases, schedules."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from notifications.store import DeliveryRow, DeliveryState, NotificationStore
from shared.operations import OperationStatus
from shared.storage.connection import table_service
from tests.integration.notifications.conftest import T0

pytestmark = pytest.mark.azurite

ROUND = "20261121T010000Z"


@pytest.fixture
def store(storage: str) -> NotificationStore:
    return NotificationStore(table_service(storage), prefix="ppb")


def env(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def finish(store: NotificationStore, i: int) -> None:
    store.finish_member(ROUND, env(i), status=OperationStatus.SUCCEEDED,
                        operation_id=f"backup-20261121T010000000Z-{i:06x}", ended_at=T0,
                        message=None)


def test_a_thousand_member_round(store: NotificationStore) -> None:
    members = [(env(i), f"Env {i}") for i in range(1000)]
    assert store.open_round(ROUND, started_at=T0, deadline=T0 + timedelta(hours=6),
                            members=members)
    assert not store.open_round(ROUND, started_at=T0, deadline=T0, members=members)
    for i in range(999):
        finish(store, i)
    assert store.has_unfinished_members(ROUND)
    finish(store, 999)
    assert not store.has_unfinished_members(ROUND)
    found = store.members(ROUND)
    assert len(found) == 1000
    assert {m.environment_name for m in found} == {f"Env {i}" for i in range(1000)}
    assert store.open_rounds() == [(ROUND, T0 + timedelta(hours=6))]


def test_an_interrupted_plan_is_completed_without_overwriting_results(
    store: NotificationStore,
) -> None:
    # A first firing wrote some members (one of which already has its result) and died.
    store.finish_member(ROUND, env(3), status=OperationStatus.FAILED,
                        operation_id="backup-20261121T010000000Z-000003", ended_at=T0,
                        message="busy")
    assert store.open_round(ROUND, started_at=T0, deadline=T0,
                            members=[(env(i), None) for i in range(150)])
    members = {m.environment_id: m for m in store.members(ROUND)}
    assert len(members) == 150
    assert members[env(3)].status is OperationStatus.FAILED


def test_claims_and_summaries_happen_once(store: NotificationStore) -> None:
    assert not store.event_claimed("e-1")
    assert store.claim_event("e-1", "alert.still_sandbox", T0)
    assert not store.claim_event("e-1", "alert.still_sandbox", T0)
    assert store.event_claimed("e-1")
    assert store.claim_summary(ROUND, T0)
    assert not store.claim_summary(ROUND, T0 + timedelta(hours=1))
    assert store.summary_end(ROUND) == T0


def test_one_lease_per_delivery_row(store: NotificationStore) -> None:
    fresh = DeliveryRow("e-2", "teams", "backup.succeeded")
    mine = store.take_lease(fresh, T0 + timedelta(minutes=2))
    assert mine is not None
    assert store.take_lease(fresh, T0) is None  # the other worker also saw no row
    stale = store.delivery("e-2", "teams")
    assert stale is not None
    assert store.save(replace(mine, state=DeliveryState.DELIVERED, lease_until=None))
    assert store.take_lease(stale, T0) is None  # changed since it was read
    row = store.delivery("e-2", "teams")
    assert row is not None
    assert (row.state, row.lease_until) == (DeliveryState.DELIVERED, None)


def test_a_periodic_check_is_due_once_per_interval(store: NotificationStore) -> None:
    hour = timedelta(hours=1)
    assert store.due("check", hour, T0)
    assert not store.due("check", hour, T0 + timedelta(minutes=59))
    assert store.due("check", hour, T0 + hour)
    assert not store.due("check", hour, T0 + hour)
