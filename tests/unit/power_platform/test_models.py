from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.power_platform import (
    Backup,
    Environment,
    LifecycleKind,
    OperationHandle,
    PlatformOperation,
    PlatformStatus,
    RestoreCandidate,
    parse_timestamp,
)
from shared.power_platform._time import format_timestamp, parse_optional_timestamp
from tests.unit.power_platform.conftest import ENV, bap_environment

# --- timestamps ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T09:00:00Z", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        ("2026-11-20T09:00:00z", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        ("2026-11-20T11:00:00+02:00", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        ("2026-11-20T04:30:00-0430", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        ("2026-11-20T10:00:00+01", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        # .NET round-trip format: 7 fraction digits; the 100 ns digit is dropped.
        (
            "2026-11-20T09:00:00.1234567Z",
            datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=UTC),
        ),
        ("2026-11-20T09:00:00.5+00:00", datetime(2026, 11, 20, 9, 0, 0, 500000, tzinfo=UTC)),
        # No zone: the platform means UTC.
        ("2026-11-20 09:00:00", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        ("2026-11-20T09:00", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_accepts_platform_forms(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-20T25:00:00Z"])
def test_parse_timestamp_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_timestamp(text)


def test_optional_timestamp_treats_dotnet_min_value_and_garbage_as_absent() -> None:
    assert parse_optional_timestamp("0001-01-01T00:00:00Z") is None
    assert parse_optional_timestamp("soon") is None
    assert parse_optional_timestamp(None) is None
    assert parse_optional_timestamp(5) is None


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
        ),
    )
)
def test_format_then_parse_round_trips(moment: datetime) -> None:
    text = format_timestamp(moment)
    assert text.endswith("+00:00")  # the restore API needs an explicit offset
    assert parse_timestamp(text) == moment


def test_format_timestamp_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2026, 1, 1))


# --- environments --------------------------------------------------------------------------------


def test_environment_from_bap_reads_every_field() -> None:
    env = Environment.from_bap(bap_environment())
    assert env.id == ENV
    assert env.display_name == "Contoso Prod"
    assert env.type == "Production"
    assert env.state == "Ready"
    assert env.runtime_state == "Enabled"
    assert env.admin_mode is False
    assert env.background_operations_enabled is True
    assert env.geo == "europe"
    assert env.azure_region == "westeurope"
    assert env.is_default is False
    assert env.is_managed is True
    assert env.allowed_operations == frozenset({"Backup", "Restore"})
    assert dict(env.disallowed_operations) == {
        "Promote": "Promote cannot be performed on Production."
    }
    assert not env.allows("Promote")
    assert env.allows("Restore")
    assert env.instance_url == "https://contoso.crm4.dynamics.com/"
    assert env.retention_period == "P28D"


def test_environment_in_admin_mode_without_dataverse_details() -> None:
    body = bap_environment(
        states={"runtime": {"id": "AdminMode"}},
        linkedEnvironmentMetadata={"backgroundOperationsState": "Disabled"},
        governanceConfiguration={"protectionLevel": "Basic"},
        lifecycleOperationsEnforcement=None,
        retentionPeriod=None,
        retentionDetails={"retentionPeriod": "P7D"},
    )
    env = Environment.from_bap(body)
    assert env.admin_mode is True
    assert env.runtime_state == "AdminMode"
    # No management state: fall back to provisioningState.
    assert env.state == "Succeeded"
    assert env.background_operations_enabled is False
    assert env.is_managed is False
    assert env.allowed_operations == frozenset()
    assert dict(env.disallowed_operations) == {}
    assert env.retention_period == "P7D"
    assert env.instance_url is None


def test_environment_id_falls_back_to_resource_path_and_is_immutable() -> None:
    body = bap_environment()
    del body["name"]
    env = Environment.from_bap(body)
    assert env.id == ENV
    with pytest.raises(TypeError):
        env.disallowed_operations["Restore"] = "no"  # type: ignore[index]


def test_environment_without_any_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="name"):
        Environment.from_bap({"properties": {}})


# --- backups and candidates ----------------------------------------------------------------------


def test_backup_from_pp() -> None:
    backup = Backup.from_pp(
        {
            "id": "b1",
            "label": "Pre-update",
            "backupPointDateTime": "2026-11-20T01:00:00.1234567Z",
            "backupExpiryDateTime": "2026-12-18T01:00:00Z",
            "createdBy": {"type": "ServicePrincipal"},
        }
    )
    assert backup == Backup(
        id="b1",
        label="Pre-update",
        point=datetime(2026, 11, 20, 1, 0, 0, 123456, tzinfo=UTC),
        expiry=datetime(2026, 12, 18, 1, tzinfo=UTC),
        created_by_type="ServicePrincipal",
    )


def test_backup_without_point_is_rejected() -> None:
    with pytest.raises(ValueError, match="backupPointDateTime"):
        Backup.from_pp({"id": "b1", "label": "x"})


def test_restore_candidate_from_pp() -> None:
    candidate = RestoreCandidate.from_pp(
        {"environmentId": ENV, "displayName": "Sandbox", "dataverseOrganizationUrl": "https://x/"}
    )
    assert candidate == RestoreCandidate(ENV, "Sandbox", "https://x/")


# --- operations ----------------------------------------------------------------------------------


def bap_lifecycle(
    state: str, stages: list[str], error: dict[str, str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "op-1",
        "type": {"id": "ModifySku"},
        "state": {"id": state},
        "createdDateTime": "2026-11-21T12:00:00Z",
        "lastActionDateTime": "2026-11-21T12:05:00.0000000Z",
        "stages": [{"id": f"s{i}", "state": {"id": s}} for i, s in enumerate(stages)],
    }
    if error is not None:
        body["error"] = error
    return body


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("NotStarted", PlatformStatus.RUNNING),
        ("Running", PlatformStatus.RUNNING),
        ("SomethingNew", PlatformStatus.RUNNING),
        ("Succeeded", PlatformStatus.SUCCEEDED),
        ("Failed", PlatformStatus.FAILED),
    ],
)
def test_bap_lifecycle_states(state: str, status: PlatformStatus) -> None:
    op = PlatformOperation.from_body(bap_lifecycle(state, []))
    assert op.state == state
    assert op.status is status
    assert op.terminal is status.terminal
    assert op.id == "op-1"
    assert op.name == "ModifySku"
    assert op.started_at == datetime(2026, 11, 21, 12, tzinfo=UTC)
    # The end time is known only once the operation is over.
    assert (op.ended_at is not None) is status.terminal


def test_bap_lifecycle_progress_and_error() -> None:
    op = PlatformOperation.from_body(
        bap_lifecycle(
            "Failed",
            ["Succeeded", "Succeeded", "Failed", "NotStarted"],
            {"code": "SkuChangeFailed", "message": "capacity"},
        )
    )
    assert op.failed
    assert op.terminal
    assert not op.succeeded
    assert op.progress == (2, 4)
    assert (op.error_code, op.error_message) == ("SkuChangeFailed", "capacity")


def test_bap_202_body_never_counts_as_terminal() -> None:
    op = PlatformOperation.from_body(bap_lifecycle("Succeeded", []), still_running=True)
    assert op.status is PlatformStatus.RUNNING
    assert op.ended_at is None
    assert op.state == "Succeeded"


@pytest.mark.parametrize(
    ("status_word", "status"),
    [
        ("Queued", PlatformStatus.RUNNING),
        ("InProgress", PlatformStatus.RUNNING),
        ("BrandNewWord", PlatformStatus.RUNNING),
        ("Succeeded", PlatformStatus.SUCCEEDED),
        ("ValidationPassed", PlatformStatus.SUCCEEDED),
        ("Failed", PlatformStatus.FAILED),
        ("ValidationFailed", PlatformStatus.FAILED),
        ("NoOperation", PlatformStatus.NO_OPERATION),
    ],
)
def test_pp_operation_statuses(status_word: str, status: PlatformStatus) -> None:
    op = PlatformOperation.from_body(
        {
            "operationId": "op-9",
            "name": "Restore",
            "status": status_word,
            "startTime": "2026-11-21T12:00:00Z",
        }
    )
    assert op.status is status
    assert op.state == status_word
    assert op.terminal is (status is not PlatformStatus.RUNNING)
    assert op.id == "op-9"
    assert op.name == "Restore"


def test_no_operation_is_terminal_but_neither_success_nor_failure() -> None:
    assert PlatformStatus.NO_OPERATION.terminal
    assert not PlatformStatus.NO_OPERATION.succeeded
    assert not PlatformStatus.NO_OPERATION.failed


def test_pp_operation_progress_times_and_error_from_stage() -> None:
    op = PlatformOperation.from_body(
        {
            "operationId": "op-9",
            "name": "Restore",
            "status": "Failed",
            "startTime": "2026-11-21T12:00:00Z",
            "endTime": "2026-11-21T14:00:00+00:00",
            "stageStatuses": [
                {"name": "Validate", "status": "Succeeded"},
                {"name": "Copy", "status": "Skipped"},
                {
                    "name": "Restore",
                    "status": "Failed",
                    "errorDetail": {"code": "RestoreFailed", "message": "disk full"},
                },
                {"name": "Finalize", "status": "NotStarted"},
            ],
        }
    )
    assert op.progress == (2, 4)
    assert op.ended_at == datetime(2026, 11, 21, 14, tzinfo=UTC)
    assert (op.error_code, op.error_message) == ("RestoreFailed", "disk full")


def test_pp_operation_field_errors_become_the_message() -> None:
    op = PlatformOperation.from_body(
        {
            "operationId": "op-9",
            "status": "ValidationFailed",
            "errorDetail": {
                "code": "InvalidInput",
                "fieldErrors": {"restorePointDateTime": {"errorMessages": ["too old"]}},
            },
        }
    )
    assert op.error_code == "InvalidInput"
    assert op.error_message == "restorePointDateTime: too old"
    assert op.progress is None


def test_pending_answer() -> None:
    op = PlatformOperation.pending("x", retry_after=5.0, not_yet_visible=True)
    assert not op.terminal
    assert op.not_yet_visible
    assert op.retry_after == 5.0


# --- handles -------------------------------------------------------------------------------------


def test_handle_round_trips_through_a_dict() -> None:
    handle = OperationHandle(
        kind=LifecycleKind.CHANGE_TYPE,
        environment_id=ENV,
        status_url="https://europe.api.bap.microsoft.com/lifecycleOperations/1?api-version=1",
        operation_id=None,
        retry_after=10.0,
        request_id="req-1",
        accepted_at=datetime(2026, 11, 21, 12, tzinfo=UTC),
    )
    assert OperationHandle.from_dict(handle.to_dict()) == handle
    assert handle.pollable
    assert handle.with_operation_id("op").operation_id == "op"


def test_handle_pollability() -> None:
    bare = OperationHandle(
        LifecycleKind.CHANGE_TYPE, ENV, None, None, None, None, datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert not bare.pollable
    # A bare-202 restore is found through the operation list.
    assert OperationHandle(
        LifecycleKind.RESTORE, ENV, None, None, None, None, datetime(2026, 1, 1, tzinfo=UTC)
    ).pollable
