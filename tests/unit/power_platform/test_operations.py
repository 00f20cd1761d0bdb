"""Polling long-running operations and finding a bare-202 restore (wire page, §3.6, §4)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.errors import NotFound, PowerPlatformError
from shared.policy.clock_skew import CLOCK_SKEW
from shared.power_platform import LifecycleKind, OperationHandle, PlatformStatus
from tests.unit.power_platform.conftest import ENV, NOW, PP, Harness, pp_operation

Make = Callable[..., Harness]
STATUS_URL = (
    "https://europe.api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/"
    "lifecycleOperations/op-1?api-version=2023-06-01"
)
OPS_PATH = f"/environmentmanagement/environments/{ENV}/operations"


def lifecycle(state: str) -> dict[str, object]:
    return {
        "id": "op-1",
        "type": {"id": "ModifySku"},
        "state": {"id": state},
        "createdDateTime": "2026-11-21T12:00:00Z",
        "lastActionDateTime": "2026-11-21T12:03:00Z",
        "stages": [
            {"id": "Validate", "state": {"id": "Succeeded"}},
            {"id": "Run", "state": {"id": "Running"}},
        ],
    }


def handle(
    *,
    kind: LifecycleKind = LifecycleKind.CHANGE_TYPE,
    status_url: str | None = STATUS_URL,
    operation_id: str | None = None,
    accepted_at: datetime = NOW,
) -> OperationHandle:
    return OperationHandle(kind, ENV, status_url, operation_id, None, "req-0", accepted_at)


# --- status URL ----------------------------------------------------------------------------------


def test_status_url_is_followed_verbatim(make: Make) -> None:
    h = make(httpx.Response(200, json=lifecycle("Succeeded")))
    op = h.client.get_operation(handle())
    assert str(h.requests[0].url) == STATUS_URL
    # A regional BAP host gets the BAP audience.
    assert h.tokens.calls[0][0] == "https://service.powerapps.com/.default"
    assert op.succeeded
    assert op.terminal
    assert op.progress == (1, 2)


def test_202_while_running_reports_progress_and_retry_after(make: Make) -> None:
    h = make(httpx.Response(202, json=lifecycle("Running"), headers={"Retry-After": "20"}))
    op = h.client.get_operation(STATUS_URL)
    assert op.status is PlatformStatus.RUNNING
    assert op.state == "Running"
    assert op.retry_after == 20.0
    assert op.progress == (1, 2)
    assert not op.not_yet_visible


def test_202_without_body_is_still_running(make: Make) -> None:
    h = make(httpx.Response(202, headers={"Retry-After": "5"}))
    op = h.client.get_operation(handle(operation_id="op-1"))
    assert not op.terminal
    assert op.id == "op-1"
    assert op.retry_after == 5.0


def test_200_with_an_unknown_state_keeps_polling(make: Make) -> None:
    h = make(httpx.Response(200, json=lifecycle("Finalizing")))
    op = h.client.get_operation(handle())
    assert op.state == "Finalizing"
    assert not op.terminal


def test_409_on_the_status_url_means_not_done_yet(make: Make) -> None:
    h = make(
        httpx.Response(409, json={"error": {"code": "Conflict"}}, headers={"Retry-After": "3"})
    )
    op = h.client.get_operation(handle())
    assert not op.terminal
    assert op.retry_after == 3.0
    assert len(h.requests) == 1  # not retried inside the client


def test_early_404_means_not_visible_yet(make: Make) -> None:
    h = make(httpx.Response(404))
    h.time.advance(299)
    op = h.client.get_operation(handle())
    assert op.not_yet_visible
    assert not op.terminal


def test_late_404_is_a_failure(make: Make) -> None:
    h = make(httpx.Response(404, json={"error": {"code": "NotFound", "message": "gone"}}))
    h.time.advance(301)
    with pytest.raises(NotFound, match="gone"):
        h.client.get_operation(handle())


def test_404_without_a_known_start_is_a_failure(make: Make) -> None:
    h = make(httpx.Response(404))
    with pytest.raises(NotFound):
        h.client.get_operation(STATUS_URL)


def test_404_with_an_explicit_start_gets_the_grace(make: Make) -> None:
    h = make(httpx.Response(404))
    op = h.client.get_operation(STATUS_URL, started_at=NOW - timedelta(seconds=30))
    assert op.not_yet_visible


def test_failed_lifecycle_carries_the_error(make: Make) -> None:
    body = lifecycle("Failed")
    body["error"] = {"code": "SkuChangeFailed", "message": "no capacity"}
    h = make(httpx.Response(200, json=body))
    op = h.client.get_operation(handle())
    assert op.failed
    assert (op.error_code, op.error_message) == ("SkuChangeFailed", "no capacity")


# --- PP API operation ids ------------------------------------------------------------------------


def test_operation_id_is_polled_on_the_pp_api(make: Make) -> None:
    body = pp_operation("op-7", status="Succeeded", stages=("Succeeded",))
    h = make(httpx.Response(200, json=body))
    op = h.client.get_operation("op-7")
    assert str(h.requests[0].url) == (
        f"{PP}/environmentmanagement/operations/op-7?api-version=2024-10-01"
    )
    assert h.tokens.calls[0][0] == "https://api.powerplatform.com/.default"
    assert op.succeeded
    assert op.progress == (1, 1)


def test_handle_with_an_operation_id_polls_it(make: Make) -> None:
    h = make(httpx.Response(200, json=pp_operation("op-7", status="InProgress")))
    op = h.client.get_operation(
        handle(kind=LifecycleKind.RESTORE, status_url=None, operation_id="op-7")
    )
    assert h.requests[0].url.path == "/environmentmanagement/operations/op-7"
    assert op.status is PlatformStatus.RUNNING


def test_operation_ids_are_checked(make: Make) -> None:
    h = make()
    with pytest.raises(ValueError, match="operation id"):
        h.client.get_operation("op/../../x")
    assert h.requests == []


def test_a_handle_with_nothing_to_poll_is_refused(make: Make) -> None:
    h = make()
    with pytest.raises(ValueError, match="re-read the environment"):
        h.client.get_operation(handle(status_url=None))


def test_status_urls_on_foreign_hosts_never_get_a_token(make: Make) -> None:
    h = make()
    with pytest.raises(PowerPlatformError, match="no known Power Platform token audience"):
        h.client.get_operation("https://evil.example.com/steal")
    assert h.requests == []
    assert h.tokens.calls == []


# --- finding a restore ---------------------------------------------------------------------------


def ops_page(*ops: dict[str, object], token: str | None = None) -> httpx.Response:
    return httpx.Response(200, json={"collection": list(ops), "continuationToken": token})


def test_find_restore_picks_the_newest_restore_started_after_the_request(make: Make) -> None:
    h = make(
        ops_page(
            pp_operation("backup-new", name="Backup", start="2026-11-21T12:10:00Z"),
            pp_operation("restore-new", start="2026-11-21T12:00:30Z"),
            # Within the clock-skew allowance: still a candidate, but older.
            pp_operation("restore-skew", start="2026-11-21T11:59:10Z"),
            pp_operation("restore-old", start="2026-11-21T09:00:00Z"),
        )
    )
    op = h.client.find_restore_operation(ENV, not_before=NOW)
    assert op is not None
    assert op.id == "restore-new"
    assert h.requests[0].url.path == OPS_PATH


def test_find_restore_accepts_clock_skew_up_to_the_allowance(make: Make) -> None:
    edge = (NOW - CLOCK_SKEW).strftime("%Y-%m-%dT%H:%M:%SZ")
    h = make(ops_page(pp_operation("restore-skew", start=edge)))
    op = h.client.find_restore_operation(ENV, not_before=NOW)
    assert op is not None
    assert op.id == "restore-skew"


def test_find_restore_ignores_older_restores(make: Make) -> None:
    older = (NOW - CLOCK_SKEW - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    h = make(ops_page(pp_operation("restore-old", start=older)))
    assert h.client.find_restore_operation(ENV, not_before=NOW) is None


def test_find_restore_does_not_rely_on_list_order(make: Make) -> None:
    h = make(
        ops_page(
            pp_operation("restore-a", start="2026-11-21T12:00:10Z"),
            pp_operation("restore-b", start="2026-11-21T12:00:20Z"),
        )
    )
    op = h.client.find_restore_operation(ENV, not_before=NOW)
    assert op is not None
    assert op.id == "restore-b"


def test_find_restore_reads_every_page_whatever_their_order(make: Make) -> None:
    # The reference documents no order for the operation list (§3.3 "pick the newest"): a
    # list served oldest first has only old operations on its first pages, and the new
    # restore on the last one.
    h = make(
        ops_page(pp_operation("old", start="2026-11-20T12:00:00Z"), token="p2"),
        ops_page(pp_operation("older-restore", start="2026-11-20T13:00:00Z"), token="p3"),
        ops_page(pp_operation("backup", name="Backup", start="2026-11-21T12:05:00Z"), token="p4"),
        ops_page(pp_operation("restore", start="2026-11-21T12:00:01Z")),
    )
    op = h.client.find_restore_operation(ENV, not_before=NOW)
    assert op is not None
    assert op.id == "restore"
    assert len(h.requests) == 4
    assert h.requests[3].url.params["continuationToken"] == "p4"


def test_find_restore_needs_an_aware_time(make: Make) -> None:
    h = make()
    with pytest.raises(ValueError, match="timezone"):
        h.client.find_restore_operation(ENV, not_before=datetime(2026, 1, 1))


def test_get_operation_on_a_bare_restore_handle_finds_it(make: Make) -> None:
    h = make(
        ops_page(pp_operation("restore-1", status="InProgress", stages=("Succeeded", "InProgress")))
    )
    op = h.client.get_operation(handle(kind=LifecycleKind.RESTORE, status_url=None))
    assert op.id == "restore-1"
    assert op.progress == (1, 2)
    assert h.requests[0].url.path == OPS_PATH


def test_bare_restore_not_listed_yet_is_not_visible_then_not_found(make: Make) -> None:
    h = make(ops_page(), ops_page())
    bare = handle(kind=LifecycleKind.RESTORE, status_url=None)
    assert h.client.get_operation(bare).not_yet_visible
    h.time.advance(600)
    with pytest.raises(NotFound, match="No Restore operation"):
        h.client.get_operation(bare)


def test_list_operations(make: Make) -> None:
    h = make(
        ops_page(pp_operation("a", status="Succeeded"), token="t"),
        ops_page(pp_operation("b", name="Backup", status="Queued")),
    )
    ops = h.client.list_operations(ENV)
    assert [(o.id, o.name, o.status) for o in ops] == [
        ("a", "Restore", PlatformStatus.SUCCEEDED),
        ("b", "Backup", PlatformStatus.RUNNING),
    ]
    assert ops[0].started_at == datetime(2026, 11, 21, 12, 0, 5, tzinfo=UTC)
