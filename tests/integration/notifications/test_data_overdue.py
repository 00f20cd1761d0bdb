"""The data backup overdue alert on Azurite and the simulator: read from the backup store's
catalog, fired once per episode (a new point ends one), for environments in DATA_BACKUP_SCOPE."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from notifications.alerts import run_alert_checks
from ppbackup.receiver import Receiver
from ppbackup.simulator import Simulator
from ppbackup.simulator.seed import CONTOSO_PROD, FABRIKAM_PROD
from shared.data_store import FULL, TableCommit, data_store_from_settings, new_point_id
from tests.integration.notifications.conftest import (
    T0,
    Harness,
    build_harness,
    build_settings,
)

pytestmark = pytest.mark.azurite


@pytest.fixture
def h(storage: str, receiver: Receiver, sim: Simulator) -> Harness:
    settings = build_settings(storage, receiver, sim.url,
                              DATA_BACKUP_SCOPE=f"{CONTOSO_PROD},{FABRIKAM_PROD}",
                              DATA_BACKUP_SCHEDULE="0 0 2 * * *")
    return build_harness(storage, receiver, sim=sim, settings=settings)


def point(h: Harness, env: str, at: datetime) -> None:
    store = data_store_from_settings(h.ctx.settings)
    store.ensure_container()
    pid = new_point_id(at)
    store.write_rows(env, pid, "account", 0, [{"accountid": "a", "name": "x"}],
                     id_column="accountid")
    store.commit_point(env, pid, at, None, [TableCommit("account", FULL, "accountid", 1)])


def ticks(h: Harness, hours: int, every: int = 3) -> list[str]:
    emitted: list[str] = []
    for _ in range(hours // every):
        report = run_alert_checks(h.ctx)
        assert report.errors == []
        emitted += report.data_overdue
        h.clock.advance(hours=every)
    return emitted


def test_fires_once_per_episode_for_each_environment(h: Harness) -> None:
    point(h, CONTOSO_PROD, T0 - timedelta(days=1))  # Contoso: overdue from T0 + 1 day 6 hours
    # Fabrikam never had a point: counted from the first check that saw it (T0).
    assert ticks(h, 24) == []
    first = ticks(h, 24)
    assert len(first) == 1  # Contoso, once
    second = ticks(h, 48)
    assert len(second) == 1  # Fabrikam, once; Contoso stays quiet
    h.pump()
    alerts = [r.payload["alert"] for r in h.receiver.accepted("webhook")]
    assert [(a["type"], a["environmentId"], a["lastPointTime"] is None) for a in alerts] == [
        ("data_backup_overdue", CONTOSO_PROD, False), ("data_backup_overdue", FABRIKAM_PROD, True)]
    card = h.receiver.accepted("teams")[0].card
    assert card is not None and "Data backup overdue" in card["body"][0]["items"][0]["text"]

    # A new point ends Contoso's episode; missing rounds after it are a new one.
    point(h, CONTOSO_PROD, h.clock())
    assert ticks(h, 48) == []
    assert len(ticks(h, 24)) == 1


def test_out_of_scope_or_no_scope_never_alerts(storage: str, receiver: Receiver,
                                               sim: Simulator) -> None:
    h = build_harness(storage, receiver, sim=sim)  # DATA_BACKUP_SCOPE empty: no timer rounds
    assert ticks(h, 24 * 5, every=12) == []
