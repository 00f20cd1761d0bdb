"""Intake validators: what is accepted, and that every refusal names the field to fix."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import RequestInvalid
from shared.validation import (
    BACKUP_FIELDS,
    RESTORE_FIELDS,
    parse_backup_request,
    parse_restore_request,
)

ENV = "11111111-2222-3333-4444-555555555555"
OTHER = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def test_minimal_backup_request() -> None:
    request = parse_backup_request({"environmentId": ENV.upper(), "label": "  Before 4.2 "})
    assert request.environment_id == ENV
    assert request.label == "Before 4.2"
    assert request.notes is None and request.request_id is None


def test_backup_request_names_every_bad_field() -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_backup_request({"environmentId": "prod", "lable": "x", "notes": 3})
    fields = caught.value.fields
    assert set(fields) == {"environmentId", "lable", "label", "notes"}
    assert "unknown field" in fields["lable"]
    assert "GUID" in fields["environmentId"]
    assert "environmentId" in caught.value.message


@pytest.mark.parametrize("body", [[], "x", 3, None, True])
def test_backup_request_must_be_an_object(body: Any) -> None:
    with pytest.raises(RequestInvalid, match="JSON object"):
        parse_backup_request(body)


def test_label_length_and_control_characters_are_refused() -> None:
    with pytest.raises(RequestInvalid) as long_label:
        parse_backup_request({"environmentId": ENV, "label": "x" * 201})
    assert "200" in long_label.value.fields["label"]
    with pytest.raises(RequestInvalid) as control:
        parse_backup_request({"environmentId": ENV, "label": "a\x00b"})
    assert "control" in control.value.fields["label"]


@given(st.dictionaries(st.sampled_from(sorted(BACKUP_FIELDS)) | st.text(), json_values))
def test_backup_parser_accepts_or_explains(data: dict[str, Any]) -> None:
    try:
        request = parse_backup_request(data)
    except RequestInvalid as error:
        assert error.fields, "a refusal must name at least one field"
        assert all(isinstance(v, str) and v for v in error.fields.values())
        json.dumps(
            {"error": {"code": error.code, "message": error.message, "fields": error.fields}}
        )
    else:
        assert set(data) <= BACKUP_FIELDS
        assert uuid.UUID(request.environment_id)
        assert request.label and len(request.label) <= 200


def test_restore_defaults() -> None:
    request = parse_restore_request({"targetEnvironmentId": ENV, "latest": True})
    assert request.source_environment_id == ENV  # the source defaults to the target
    assert request.skip_audit_data and request.safety_backup and not request.dry_run
    assert request.source_kind == "latest"


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        ({"backupId": "b1"}, "backupId"),
        ({"backupLabel": "Before 4.2"}, "backupLabel"),
        ({"restorePointDateTime": "2026-11-20T09:00:00+01:00"}, "restorePointDateTime"),
        ({"latest": True, "backupLabel": None}, "latest"),
        ({"backupLabel": "x", "latest": False}, "backupLabel"),
    ],
)
def test_restore_exactly_one_source(extra: dict[str, Any], kind: str) -> None:
    request = parse_restore_request(
        {"targetEnvironmentId": ENV, "sourceEnvironmentId": OTHER, **extra}
    )
    assert request.source_kind == kind
    assert request.source_environment_id == OTHER


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"backupId": "b", "latest": True},
        {"backupLabel": "a", "restorePointDateTime": "2026-11-20T09:00:00Z"},
    ],
)
def test_restore_refuses_zero_or_several_sources(extra: dict[str, Any]) -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_restore_request({"targetEnvironmentId": ENV, **extra})
    assert "exactly one" in caught.value.fields["source"]


@pytest.mark.parametrize(
    "point", ["2026-11-20T09:00:00", "2026-11-20", "yesterday", "2026-11-20T09:00:00+0100", 12]
)
def test_restore_point_needs_an_offset(point: Any) -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_restore_request({"targetEnvironmentId": ENV, "restorePointDateTime": point})
    assert "offset" in caught.value.fields["restorePointDateTime"]


def test_restore_point_keeps_its_instant() -> None:
    request = parse_restore_request(
        {"targetEnvironmentId": ENV, "restorePointDateTime": "2026-11-20T09:00:00.123456789+01:00"}
    )
    # The same instant, in UTC (as every time the app keeps); sub-microsecond digits dropped.
    assert request.restore_point == datetime(2026, 11, 20, 8, 0, 0, 123456, tzinfo=UTC)


@given(st.dictionaries(st.sampled_from(sorted(RESTORE_FIELDS)) | st.text(), json_values))
def test_restore_parser_accepts_or_explains(data: dict[str, Any]) -> None:
    try:
        request = parse_restore_request(data)
    except RequestInvalid as error:
        assert error.fields
        assert all(isinstance(v, str) and v for v in error.fields.values())
    else:
        assert set(data) <= RESTORE_FIELDS
        given_sources = [
            request.backup_id,
            request.backup_label,
            request.restore_point,
            True if request.latest else None,
        ]
        assert sum(v is not None for v in given_sources) == 1
        assert isinstance(request.dry_run, bool)
