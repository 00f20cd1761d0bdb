"""Property tests: any operation, round or alert renders to a valid card within the budget."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from notifications import (
    DEFAULT_MAX_BYTES,
    MIN_MAX_BYTES,
    BackupExpiringAlert,
    DataBackupOverdueAlert,
    NotificationEvent,
    StillSandboxAlert,
    build_teams_message,
    encode_teams_message,
    event_for,
    message_size,
)
from notifications._parts import ID_CHARS
from notifications.text import inert
from shared.operations import Operation
from tests.unit.notifications.builders import (
    instants,
    operation_ids,
    operations,
    optional_texts,
    round_summaries,
    texts,
)
from tests.unit.notifications.card_schema import check_message
from tests.unit.notifications.card_schema import texts as card_texts

budgets = st.sampled_from([DEFAULT_MAX_BYTES, MIN_MAX_BYTES, 12_000])
status_urls = st.none() | st.just("https://ppbackup.example/api/operations/" + "x" * 1_500)
# Card building for a thousand failures takes milliseconds, not the default 200 ms deadline's
# worth, but CI machines stall; the data strategies are large on purpose.
slow = settings(
    deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow,
                                                            HealthCheck.data_too_large],
)


def assert_fits_and_valid(event: NotificationEvent, budget: int, url: str | None) -> dict[str, Any]:
    message = build_teams_message(event, max_bytes=budget, status_url=url)
    assert check_message(message) == []
    assert message_size(message) <= budget
    assert len(encode_teams_message(message)) <= budget
    return message


@slow
@given(operations(), budgets, status_urls)
def test_any_operation_renders_a_valid_card_within_budget(
    op: Operation, budget: int, url: str | None
) -> None:
    event = event_for(op)
    assume(event is not None)
    assert event is not None
    message = assert_fits_and_valid(event, budget, url)
    # The operation id is on every card, whatever else had to be dropped.
    assert any(inert(op.operation_id, 100) in t for t in card_texts(message))


@slow
@given(round_summaries(), budgets)
def test_any_round_summary_renders_a_valid_card_within_budget(summary: Any, budget: int) -> None:
    message = assert_fits_and_valid(summary, budget, None)
    shown = card_texts(message)
    assert any(inert(summary.round_id, 100) in t for t in shown)
    assert any(str(len(summary.failures)) in t for t in shown)


@slow
@given(operations(), texts, optional_texts, instants, budgets)
def test_any_still_sandbox_alert_renders_within_budget(
    op: Operation, env_id: str, name: str | None, since: Any, budget: int
) -> None:
    message = assert_fits_and_valid(StillSandboxAlert(op, env_id, name, since), budget, None)
    assert any(inert(op.operation_id, 100) in t for t in card_texts(message))


@slow
@given(texts, optional_texts, optional_texts, st.none() | operation_ids, instants, budgets)
def test_any_backup_expiring_alert_renders_within_budget(
    env_id: str, name: str | None, label: str | None, backup_id: str | None, expires: Any,
    budget: int,
) -> None:
    assume(label or backup_id)
    assert_fits_and_valid(BackupExpiringAlert(env_id, name, label, backup_id, expires), budget,
                          None)


@slow
@given(texts, optional_texts, st.none() | instants, instants, budgets)
def test_any_data_backup_overdue_alert_renders_within_budget(
    env_id: str, name: str | None, last_point: Any, since: Any, budget: int
) -> None:
    alert = DataBackupOverdueAlert(env_id, name, last_point, since, since)
    message = assert_fits_and_valid(alert, budget, None)
    # The environment id is on every card, down to the minimal one (which shortens ids more).
    shown = (inert(env_id, ID_CHARS), inert(env_id, 100))
    assert any(s in t for t in card_texts(message) for s in shown)
