"""Each client method against the wire page: URL, method, body, headers and answer handling."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.errors import NotFound, PowerPlatformError, ValidationFailed
from shared.power_platform import LifecycleKind
from tests.unit.power_platform.conftest import (
    BAP,
    ENV,
    NOW,
    PP,
    SOURCE,
    Harness,
    bap_environment,
)

Make = Callable[..., Harness]
BAP_ENVS = f"{BAP}/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments"
PP_ENV = f"{PP}/environmentmanagement/environments/{ENV}"
STATUS_URL = (
    "https://europe.api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/"
    "lifecycleOperations/op-1?api-version=2023-06-01"
)
BACKUP = {
    "id": "b1",
    "label": "nightly",
    "backupPointDateTime": "2026-11-21T11:59:00Z",
    "backupExpiryDateTime": "2026-12-19T11:59:00Z",
    "createdBy": {"type": "User"},
}


def body_of(request: httpx.Request) -> object:
    return json.loads(request.content)


# --- headers -------------------------------------------------------------------------------------


def test_every_request_carries_token_request_id_user_agent_and_json(make: Make) -> None:
    h = make(httpx.Response(200, json={"value": []}), httpx.Response(200, json={"collection": []}))
    h.client.list_environments()
    h.client.list_backups(ENV)
    ids = []
    for request in h.requests:
        assert request.headers["Authorization"] == "Bearer token-0"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"].startswith("ppbackup/")
        ids.append(uuid.UUID(request.headers["x-ms-client-request-id"]))
    assert ids[0] != ids[1]
    # BAP and PP API tokens have different audiences.
    assert [scope for scope, _ in h.tokens.calls] == [
        "https://service.powerapps.com/.default",
        "https://api.powerplatform.com/.default",
    ]


def test_loopback_simulator_gets_no_token(make: Make) -> None:
    h = make(
        httpx.Response(200, json={"value": []}),
        api="http://127.0.0.1:7071",
        bap="http://localhost:7072",
    )
    h.client.list_environments()
    assert "Authorization" not in h.requests[0].headers
    assert h.tokens.calls == []
    assert str(h.requests[0].url).startswith("http://localhost:7072/providers/")


# --- environments --------------------------------------------------------------------------------


def test_list_environments_follows_next_link_verbatim(make: Make) -> None:
    second = "https://emea.api.bap.microsoft.com/page2?skiptoken=abc&api-version=2023-06-01"
    h = make(
        httpx.Response(200, json={"value": [bap_environment()], "nextLink": second}),
        httpx.Response(200, json={"value": [bap_environment(SOURCE)]}),
    )
    envs = h.client.list_environments()
    assert [e.id for e in envs] == [ENV, SOURCE]
    assert str(h.requests[0].url) == f"{BAP_ENVS}?api-version=2023-06-01"
    assert str(h.requests[1].url) == second


def test_paging_that_repeats_a_link_is_stopped(make: Make) -> None:
    link = f"{BAP_ENVS}?page=2"
    h = make(route=lambda _: httpx.Response(200, json={"value": [], "nextLink": link}))
    with pytest.raises(PowerPlatformError, match="paging"):
        h.client.list_environments()
    # First page, then the link once; the second time the link comes back it is not fetched.
    assert len(h.requests) == 2


def test_get_environment(make: Make) -> None:
    h = make(httpx.Response(200, json=bap_environment(environmentSku="Sandbox")))
    env = h.client.get_environment(ENV)
    assert env.type == "Sandbox"
    assert h.requests[0].method == "GET"
    assert str(h.requests[0].url) == f"{BAP_ENVS}/{ENV}?api-version=2023-06-01"


def test_get_environment_404_is_not_found(make: Make) -> None:
    h = make(httpx.Response(404, json={"error": {"code": "EnvironmentNotFound", "message": "no"}}))
    with pytest.raises(NotFound) as caught:
        h.client.get_environment(ENV)
    assert caught.value.error_code == "EnvironmentNotFound"


def test_unreadable_body_is_a_platform_error_with_the_request_id(make: Make) -> None:
    h = make(httpx.Response(200, text="<html>", headers={"x-ms-request-id": "r-1"}))
    with pytest.raises(PowerPlatformError, match="unexpected answer") as caught:
        h.client.get_environment(ENV)
    assert caught.value.request_id == "r-1"


# --- backups -------------------------------------------------------------------------------------


def test_create_backup(make: Make) -> None:
    h = make(httpx.Response(201, json=BACKUP))
    backup = h.client.create_backup(ENV, "nightly")
    assert backup.id == "b1"
    assert backup.point == datetime(2026, 11, 21, 11, 59, tzinfo=UTC)
    request = h.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{PP_ENV}/backups?api-version=2024-10-01"
    assert body_of(request) == {"label": "nightly"}


def test_create_backup_needs_a_label(make: Make) -> None:
    h = make()
    with pytest.raises(ValueError, match="label"):
        h.client.create_backup(ENV, "  ")
    assert h.requests == []


def test_list_backups_follows_continuation_tokens(make: Make) -> None:
    second = dict(BACKUP, id="b2")
    h = make(
        httpx.Response(200, json={"collection": [BACKUP], "continuationToken": "t+1/2"}),
        httpx.Response(200, json={"collection": [second], "continuationToken": None}),
    )
    assert [b.id for b in h.client.list_backups(ENV)] == ["b1", "b2"]
    assert h.requests[0].url.params.get("continuationToken") is None
    assert h.requests[1].url.params["continuationToken"] == "t+1/2"
    assert h.requests[1].url.params["api-version"] == "2024-10-01"
    assert h.requests[1].url.path == f"/environmentmanagement/environments/{ENV}/backups"


def test_delete_backup(make: Make) -> None:
    h = make(httpx.Response(204))
    h.client.delete_backup(ENV, "b1")
    assert h.requests[0].method == "DELETE"
    assert str(h.requests[0].url) == f"{PP_ENV}/backups/b1?api-version=2024-10-01"


def test_delete_backup_already_gone_is_fine(make: Make) -> None:
    h = make(httpx.Response(404, json={"errorDetail": {"code": "BackupNotFound"}}))
    h.client.delete_backup(ENV, "b1")
    assert len(h.requests) == 1


def test_a_retried_delete_whose_first_answer_was_lost_ends_on_404_as_done(make: Make) -> None:
    h = make(
        httpx.Response(503, headers={"Retry-After": "1"}),
        httpx.Response(404, json={"errorDetail": {"code": "BackupNotFound"}}),
    )
    h.client.delete_backup(ENV, "b1")
    assert [r.method for r in h.requests] == ["DELETE", "DELETE"]


def test_deleting_a_system_backup_is_refused_as_the_platform_answers(make: Make) -> None:
    h = make(httpx.Response(400, json={"errorDetail": {
        "code": "SystemBackupCannotBeDeleted", "message": "System backups cannot be deleted."}}))
    with pytest.raises(ValidationFailed) as raised:
        h.client.delete_backup(ENV, "s1")
    assert raised.value.error_code == "SystemBackupCannotBeDeleted"
    assert len(h.requests) == 1  # a refusal is an answer, not retried


def test_the_list_tells_system_backups_from_manual_ones(make: Make) -> None:
    system = {"id": "s1", "backupPointDateTime": "2026-11-21T02:10:00Z",
              "backupExpiryDateTime": "2026-12-19T02:10:00Z", "createdBy": {"type": "System"}}
    h = make(httpx.Response(200, json={"collection": [BACKUP, system]}))
    listed = h.client.list_backups(ENV)
    assert [(b.id, b.label, b.is_system) for b in listed] == [("b1", "nightly", False),
                                                              ("s1", "", True)]


def test_delete_backup_refuses_an_id_that_would_change_the_path(make: Make) -> None:
    h = make()
    with pytest.raises(ValueError, match="backup id"):
        h.client.delete_backup(ENV, "../../operations")
    assert h.requests == []


# --- restore -------------------------------------------------------------------------------------

POINT = datetime(2026, 11, 21, 13, 30, tzinfo=UTC) + timedelta(hours=-2)


def test_list_restore_candidates(make: Make) -> None:
    h = make(
        httpx.Response(
            200,
            json={
                "collection": [{"environmentId": ENV, "displayName": "Target"}],
                "continuationToken": "",
            },
        )
    )
    (candidate,) = h.client.list_restore_candidates(SOURCE)
    assert candidate.environment_id == ENV
    assert h.requests[0].url.path == (
        f"/environmentmanagement/environments/{SOURCE}/restoreCandidates"
    )


def test_validate_restore_sends_validate_only(make: Make) -> None:
    h = make(httpx.Response(200, json={"status": "ValidationPassed"}))
    h.client.validate_restore(ENV, SOURCE, POINT)
    request = h.requests[0]
    assert request.url.params["ValidateOnly"] == "true"
    assert request.url.path == f"/environmentmanagement/environments/{ENV}/restore"
    assert body_of(request) == {
        "sourceEnvironmentId": SOURCE,
        "restorePointDateTime": "2026-11-21T11:30:00+00:00",
        "restoreOptions": {"skipAuditData": True},
    }


def test_validate_restore_bare_202_is_a_pass(make: Make) -> None:
    # Reference §3.3: the restore endpoint answers a 202 with no documented body, and
    # ValidateOnly is only a query option of it.
    h = make(httpx.Response(202))
    h.client.validate_restore(ENV, SOURCE, POINT)
    assert h.requests[0].url.params["ValidateOnly"] == "true"


def test_validate_restore_refusal_carries_the_platforms_message(make: Make) -> None:
    h = make(
        httpx.Response(
            400,
            json={
                "errorDetail": {
                    "code": "RestoreTargetNotSandbox",
                    "message": "Only sandbox environments can be restored to.",
                }
            },
        )
    )
    with pytest.raises(ValidationFailed, match="Only sandbox") as caught:
        h.client.validate_restore(ENV, SOURCE, POINT)
    assert caught.value.error_code == "RestoreTargetNotSandbox"


def test_validate_restore_200_with_a_failed_status_is_a_refusal(make: Make) -> None:
    h = make(httpx.Response(200, json={"status": "ValidationFailed"}))
    with pytest.raises(ValidationFailed, match="ValidationFailed"):
        h.client.validate_restore(ENV, SOURCE, POINT)


def test_restore_point_must_carry_an_offset(make: Make) -> None:
    h = make()
    with pytest.raises(ValueError, match="timezone"):
        h.client.begin_restore(ENV, SOURCE, datetime(2026, 11, 21, 11, 30))
    assert h.requests == []


def test_begin_restore_bare_202(make: Make) -> None:
    h = make(httpx.Response(202, headers={"x-ms-service-request-id": "svc-1"}))
    handle = h.client.begin_restore(
        ENV, SOURCE, POINT, skip_audit_data=False, environment_name_override="Restored"
    )
    assert handle.kind is LifecycleKind.RESTORE
    assert handle.status_url is None
    assert handle.operation_id is None
    assert handle.request_id == "svc-1"
    assert handle.accepted_at == NOW
    assert handle.environment_id == ENV
    request = h.requests[0]
    assert "ValidateOnly" not in request.url.params
    assert body_of(request) == {
        "sourceEnvironmentId": SOURCE,
        "restorePointDateTime": "2026-11-21T11:30:00+00:00",
        "restoreOptions": {"skipAuditData": False, "environmentNameToOverride": "Restored"},
    }


def test_begin_restore_uses_an_operation_location_when_given(make: Make) -> None:
    location = f"{PP}/environmentmanagement/operations/op-7?api-version=2024-10-01"
    h = make(httpx.Response(202, headers={"Operation-Location": location, "Retry-After": "15"}))
    handle = h.client.begin_restore(ENV, SOURCE, POINT)
    assert handle.status_url == location
    assert handle.retry_after == 15.0


# --- change type and runtime state ---------------------------------------------------------------


@pytest.mark.parametrize("header", ["Location", "Operation-Location", "Azure-AsyncOperation"])
def test_begin_change_type_takes_the_status_url_from_any_header(make: Make, header: str) -> None:
    h = make(httpx.Response(202, headers={header: STATUS_URL, "Retry-After": "10"}))
    handle = h.client.begin_change_type(ENV, "Sandbox")
    assert handle.status_url == STATUS_URL
    assert handle.retry_after == 10.0
    assert handle.kind is LifecycleKind.CHANGE_TYPE
    request = h.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{BAP_ENVS}/{ENV}/modifySku?api-version=2021-04-01"
    assert body_of(request) == {"environmentSku": "Sandbox"}


def test_location_wins_over_operation_location(make: Make) -> None:
    h = make(
        httpx.Response(
            202, headers={"Location": STATUS_URL, "Operation-Location": "https://other.test/x"}
        )
    )
    assert h.client.begin_change_type(ENV, "Production").status_url == STATUS_URL


def test_relative_status_url_is_resolved_against_the_request(make: Make) -> None:
    h = make(httpx.Response(202, headers={"Location": "/lifecycleOperations/op-2?api-version=1"}))
    handle = h.client.begin_change_type(ENV, "Production")
    assert handle.status_url == f"{BAP}/lifecycleOperations/op-2?api-version=1"


def test_change_type_accepts_only_sandbox_and_production(make: Make) -> None:
    h = make()
    with pytest.raises(ValueError, match="Sandbox or Production"):
        h.client.begin_change_type(ENV, "Trial")
    assert h.requests == []


@pytest.mark.parametrize(
    ("admin_mode", "background", "expected"),
    [
        (False, None, {"properties": {"states": {"runtime": {"id": "Enabled"}}}}),
        (
            True,
            False,
            {
                "properties": {
                    "states": {"runtime": {"id": "AdminMode"}},
                    "linkedEnvironmentMetadata": {"backgroundOperationsState": "Disabled"},
                }
            },
        ),
        (
            False,
            True,
            {
                "properties": {
                    "states": {"runtime": {"id": "Enabled"}},
                    "linkedEnvironmentMetadata": {"backgroundOperationsState": "Enabled"},
                }
            },
        ),
    ],
)
def test_begin_set_runtime_state(
    make: Make, admin_mode: bool, background: bool | None, expected: object
) -> None:
    h = make(httpx.Response(202, headers={"Location": STATUS_URL}))
    handle = h.client.begin_set_runtime_state(
        ENV, admin_mode=admin_mode, background_operations=background
    )
    assert handle.kind is LifecycleKind.RUNTIME_STATE
    assert handle.status_url == STATUS_URL
    request = h.requests[0]
    assert request.method == "PATCH"
    assert str(request.url) == f"{BAP_ENVS}/{ENV}?api-version=2021-04-01"
    assert body_of(request) == expected


# --- environment id validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-a-guid",
        f"{ENV}/backups",
        f"{ENV}?x=1",
        f"{ENV}' or 1 eq 1",
        f"{{{ENV}}}",
        f"urn:uuid:{ENV}",
        ENV.replace("-", ""),
        f"default-{ENV}x",
    ],
)
def test_environment_ids_are_checked_before_any_request(make: Make, bad: str) -> None:
    h = make()
    calls: list[Callable[[], object]] = [
        lambda: h.client.get_environment(bad),
        lambda: h.client.list_backups(bad),
        lambda: h.client.create_backup(bad, "x"),
        lambda: h.client.begin_restore(ENV, bad, POINT),
        lambda: h.client.begin_restore(bad, SOURCE, POINT),
        lambda: h.client.begin_change_type(bad, "Sandbox"),
        lambda: h.client.begin_set_runtime_state(bad, admin_mode=False),
        lambda: h.client.list_operations(bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="environment id"):
            call()
    assert h.requests == []


def test_default_environment_ids_are_accepted(make: Make) -> None:
    h = make(httpx.Response(200, json=bap_environment(f"Default-{ENV}", isDefault=True)))
    env = h.client.get_environment(f"Default-{ENV}")
    assert env.is_default
    assert h.requests[0].url.path.endswith(f"/environments/Default-{ENV}")
