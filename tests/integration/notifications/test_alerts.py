"""The alerts timer against the simulator and Azurite: each alert fires once, not every tick."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from notifications import alerts
from notifications.alert_rules import STILL_SANDBOX_AFTER
from notifications.alerts import recent_restores, run_alert_checks
from ppbackup.receiver import Receiver
from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.seed import CONTOSO_PROD, FABRIKAM_PROD
from shared.operations import (
    OperationKind,
    OperationStatus,
    StepStatus,
    finish,
    new_operation,
)
from status_page.overview import environments, open_alerts
from tests.integration.notifications.conftest import T0, Harness, build_harness, build_settings
from tests.integration.notifications.helpers import restore_record
from tests.integration.storage.conftest import Trips, counting_store

pytestmark = pytest.mark.azurite


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(speed=0, start=T0 - timedelta(days=30)) as found:
        found.clock.advance(30 * 24 * 3600)  # backups can be back-dated a month
        yield found


@pytest.fixture
def h(storage: str, receiver: Receiver, sim: Simulator) -> Harness:
    return build_harness(storage, receiver, sim=sim)


def _set_type(sim: Simulator, env: str, sku: str) -> None:
    with sim.state.lock:
        sim.state.environment(env).sku = sku


def _left_in_sandbox(h: Harness, sim: Simulator) -> None:
    """A restore that switched Contoso Prod to Sandbox, restored, and failed to switch back."""
    op = restore_record(h, validate=StepStatus.SUCCEEDED, safety_backup=StepStatus.SKIPPED,
                        switch_to_sandbox=StepStatus.SUCCEEDED, restore=StepStatus.SUCCEEDED,
                        switch_to_production=StepStatus.FAILED)
    h.ctx.history.create(finish(op, OperationStatus.NEEDS_ATTENTION, op.updated_at))
    restored = op.step("restore").ended_at
    assert restored is not None
    h.clock.now = restored  # the 15 minutes count from here
    _set_type(sim, CONTOSO_PROD, "Sandbox")


def test_still_sandbox_fires_once_then_once_a_day(h: Harness, sim: Simulator) -> None:
    _left_in_sandbox(h, sim)
    emitted: list[str] = []
    for _ in range(14):  # ticks every 5 minutes for 70 minutes
        emitted += run_alert_checks(h.ctx).still_sandbox
        h.clock.advance(minutes=5)
    assert len(emitted) == 1
    h.pump()
    [card] = h.receiver.accepted("teams")
    assert card.card is not None
    assert "Still a Sandbox" in card.card["body"][0]["items"][0]["text"]
    [hook] = h.receiver.accepted("webhook")
    assert hook.payload["event"] == "alert.still_sandbox"
    assert hook.payload["alert"]["environmentId"] == CONTOSO_PROD
    # A day later, still a Sandbox: one reminder, again not one per tick.
    h.clock.advance(hours=23)
    for _ in range(6):
        emitted += run_alert_checks(h.ctx).still_sandbox
        h.clock.advance(minutes=5)
    assert len(emitted) == 2
    # Switched back by a person: silence.
    _set_type(sim, CONTOSO_PROD, "Production")
    h.clock.advance(days=1)
    assert run_alert_checks(h.ctx).still_sandbox == []


def test_no_alert_before_the_grace_or_when_switched_back(h: Harness, sim: Simulator) -> None:
    _left_in_sandbox(h, sim)
    h.clock.advance(seconds=STILL_SANDBOX_AFTER.total_seconds() - 60)
    assert run_alert_checks(h.ctx).still_sandbox == []
    _set_type(sim, CONTOSO_PROD, "Production")
    h.clock.advance(hours=1)
    assert run_alert_checks(h.ctx).still_sandbox == []


def _stored_backup(h: Harness, sim: Simulator, env: str, point_days_ago: float) -> None:
    backup = sim.state.create_backup(env, "Pre-update nightly",
                                     point=h.clock() - timedelta(days=point_days_ago))
    op = new_operation(OperationKind.BACKUP, env, backup.point, status=OperationStatus.RUNNING,
                       label=backup.label)
    op = replace(op, backup_id=backup.id, backup_point=backup.point, backup_expiry=backup.expiry)
    h.ctx.history.create(finish(op, OperationStatus.SUCCEEDED, backup.point))


def test_backup_expiring_fires_once_across_hourly_checks(h: Harness, sim: Simulator) -> None:
    _stored_backup(h, sim, CONTOSO_PROD, point_days_ago=27.5)  # expires in 12 hours
    _stored_backup(h, sim, FABRIKAM_PROD, point_days_ago=2)  # fine
    reports = []
    for _ in range(12 * 11):  # every 5 minutes for 11 hours
        reports.append(run_alert_checks(h.ctx))
        h.clock.advance(minutes=5)
    assert sum(r.expiry_checked for r in reports) == 11  # hourly, not every tick
    assert sum(len(r.expiring) for r in reports) == 1
    h.pump()
    [hook] = h.receiver.accepted("webhook")
    assert hook.payload["event"] == "alert.backup_expiring"
    assert hook.payload["alert"]["environmentId"] == CONTOSO_PROD
    assert len(h.receiver.accepted("teams")) == 1


def test_a_newer_backup_on_the_platform_means_no_alert(h: Harness, sim: Simulator) -> None:
    _stored_backup(h, sim, CONTOSO_PROD, point_days_ago=27.5)
    sim.state.create_backup(CONTOSO_PROD, "Taken in the admin center")
    assert run_alert_checks(h.ctx).expiring == []


def test_the_platforms_daily_system_backups_do_not_silence_it(
    h: Harness, sim: Simulator
) -> None:
    sim.set_options(system_backups=True)
    _stored_backup(h, sim, CONTOSO_PROD, point_days_ago=27.5)
    assert any(b["createdBy"]["type"] == "System" for b in sim.backups(CONTOSO_PROD))
    assert len(run_alert_checks(h.ctx).expiring) == 1


def test_a_platform_outage_skips_only_that_check(h: Harness, sim: Simulator) -> None:
    _left_in_sandbox(h, sim)
    h.clock.advance(hours=1)
    sim.stop()  # nothing answers on the platform's port
    report = run_alert_checks(h.ctx)
    assert report.still_sandbox == []
    # The still-Sandbox check skips the unreadable environment; the expiry check fails whole.
    assert [e.split(":")[0] for e in report.errors] == ["backup_expiring"]


def _restored_elsewhere(h: Harness) -> None:
    """A newer restore that never touched the environment type: it decides nothing."""
    op = restore_record(h, validate=StepStatus.SUCCEEDED, restore=StepStatus.SUCCEEDED)
    h.ctx.history.create(finish(op, OperationStatus.SUCCEEDED, op.updated_at))


def test_restores_are_read_back_to_the_lookback_and_no_further(
    h: Harness, sim: Simulator, storage: str
) -> None:
    # Long-ago restores and a year of backups: history a recent-restores read must not pay for.
    year_ago = h.clock() - timedelta(days=365)
    h.ctx.history.import_operations(
        finish(new_operation(OperationKind.BACKUP, FABRIKAM_PROD, year_ago + timedelta(hours=3 * i),
                             status=OperationStatus.RUNNING),
               OperationStatus.SUCCEEDED, year_ago + timedelta(hours=3 * i, minutes=5))
        for i in range(2000)
    )
    for days in (30, 20, 15):
        old = new_operation(OperationKind.RESTORE, FABRIKAM_PROD,
                            h.clock() - timedelta(days=days), status=OperationStatus.RUNNING)
        h.ctx.history.create(finish(old, OperationStatus.FAILED, old.created_at))
    _left_in_sandbox(h, sim)
    trips = Trips()
    counted = replace(h.ctx, history=counting_store(storage, trips))

    restores = recent_restores(counted, h.clock())

    assert [r.kind for r in restores.operations] == [OperationKind.RESTORE]
    assert restores.operations[0].environment_id == CONTOSO_PROD
    assert restores.complete
    assert (trips.queries, trips.rows) == (1, 1)  # the service sent the one restore in range


def test_restores_read_cut_short_are_said_to_be_so(
    h: Harness, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _left_in_sandbox(h, sim)
    h.clock.advance(hours=1)
    _restored_elsewhere(h)
    # One page of one restore: the read stops at the newer restore, with the suspect unread.
    monkeypatch.setattr(alerts, "_MAX_RESTORE_PAGES", 1)
    monkeypatch.setattr(alerts, "_RESTORE_PAGE", 1)

    report = run_alert_checks(h.ctx)
    assert report.still_sandbox == []
    assert "still_sandbox: HistoryReadCutShort" in report.errors
    shown = open_alerts(h.ctx)
    assert [a["type"] for a in shown["alerts"]] == []
    assert shown["complete"] is False

    monkeypatch.setattr(alerts, "_MAX_RESTORE_PAGES", 2)  # room for both: the alert is due
    report = run_alert_checks(h.ctx)
    assert len(report.still_sandbox) == 1
    assert report.errors == []
    shown = open_alerts(h.ctx)
    assert [a["type"] for a in shown["alerts"]] == ["still_sandbox"]
    assert shown["complete"] is True


def test_an_environment_whose_backups_were_not_all_read_is_said_to_be_so(
    storage: str, receiver: Receiver, sim: Simulator
) -> None:
    settings = build_settings(storage, receiver, sim.url, BACKUP_SCOPE=CONTOSO_PROD)
    h = build_harness(storage, receiver, sim=sim, settings=settings)
    _stored_backup(h, sim, CONTOSO_PROD, point_days_ago=27.5)  # expires in half a day
    assert environments(h.ctx)["complete"] is True
    assert [a["type"] for a in open_alerts(h.ctx)["alerts"]] == ["backup_expiring"]

    # Newer backups still open (a stuck round, say): each is re-read and set aside, and the
    # read stops at its bound before it reaches the succeeded one.
    h.ctx.history.import_operations(
        new_operation(OperationKind.BACKUP, CONTOSO_PROD, h.clock() - timedelta(hours=i),
                      status=OperationStatus.QUEUED)
        for i in range(1, 41)
    )
    shown = environments(h.ctx)
    assert [row["newestBackup"] for row in shown["environments"]] == [None]
    assert shown["complete"] is False  # not "there is no backup"
    alerts_shown = open_alerts(h.ctx)
    assert alerts_shown["alerts"] == []
    assert alerts_shown["complete"] is False


def test_an_alert_whose_worker_died_before_queueing_it_is_sent_by_a_later_check(
    h: Harness, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Died(BaseException):
        """The worker process ends here: no `except Exception` runs."""

    def dies(*_: object, **__: object) -> None:
        raise Died

    _stored_backup(h, sim, CONTOSO_PROD, point_days_ago=27.5)  # expires in 12 hours
    with monkeypatch.context() as patch:
        patch.setattr(alerts, "send_notice", dies)
        with pytest.raises(Died):
            run_alert_checks(h.ctx)
    assert h.queues.notifications() == []
    h.clock.advance(hours=1)  # the next hourly expiry check
    emitted = [len(run_alert_checks(h.ctx).expiring) for _ in range(2)]
    h.clock.advance(hours=1)
    emitted.append(len(run_alert_checks(h.ctx).expiring))
    assert emitted == [1, 0, 0]
    h.pump()
    [hook] = h.receiver.accepted("webhook")
    assert hook.payload["event"] == "alert.backup_expiring"
    assert len(h.receiver.accepted("teams")) == 1
