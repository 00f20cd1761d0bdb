"""The record restore request (contract section 10): what each field accepts, its defaults, and
one refusal naming every bad field (the same parser serves the queue, HTTP and the CLI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_restores.request import MAX_RECORD_IDS, parse_data_restore_request
from shared.errors import RequestInvalid

SOURCE = "6b1c2d3e-0000-4000-8000-00000000e001"
TARGET = "6b1c2d3e-0000-4000-8000-00000000e002"
POINT = "20261203T020000123Z-1a2b3c4d"


def valid(**fields: Any) -> dict[str, Any]:
    return {"sourceEnvironmentId": SOURCE, "tables": ["account"], "pointId": POINT, **fields}


def refusal(body: object) -> dict[str, str]:
    with pytest.raises(RequestInvalid) as caught:
        parse_data_restore_request(body)
    assert caught.value.code == "InvalidRequest"
    return dict(caught.value.fields or {})


def test_defaults_a_dry_run_of_missing_rows_into_the_source() -> None:
    request = parse_data_restore_request(valid())
    assert request.target_environment_id == SOURCE
    assert (request.mode, request.with_related, request.apply) == ("missing", False, False)
    assert (request.record_ids, request.at, request.confirm_production) == (None, None, None)
    assert request.point_id == POINT and request.tables == ("account",)


def test_every_field_read() -> None:
    request = parse_data_restore_request({
        "sourceEnvironmentId": SOURCE.upper(), "targetEnvironmentId": f" {TARGET} ",
        "tables": [" Account", "contact", "account"], "at": "2026-12-01T09:30:00.5+01:00",
        "recordIds": [SOURCE.upper(), SOURCE, TARGET], "mode": "changed", "withRelated": True,
        "apply": True, "confirmProduction": " Contoso Prod ", "requestedBy": "maria",
        "reason": "the import\ndeleted them", "requestId": "inc-881",
    })
    assert (request.source_environment_id, request.target_environment_id) == (SOURCE, TARGET)
    assert request.tables == ("account", "contact")
    assert request.at == datetime(2026, 12, 1, 8, 30, 0, 500000, tzinfo=UTC)
    assert request.record_ids == (SOURCE, TARGET)  # lower-cased, each once, in order
    assert (request.mode, request.with_related, request.apply) == ("changed", True, True)
    assert request.confirm_production == "Contoso Prod"
    assert (request.requested_by, request.reason, request.request_id) == (
        "maria", "the import\ndeleted them", "inc-881")


@pytest.mark.parametrize(("fields", "named"), [
    ({"pointId": None}, "point"),
    ({"at": "2026-12-01T09:30:00Z"}, "point"),
    ({"pointId": "20261203T020000Z"}, "pointId"),
    ({"pointId": 20261203}, "pointId"),
    ({"pointId": None, "at": "2026-12-01 09:30"}, "at"),
    ({"pointId": None, "at": "2026-02-30T09:30:00Z"}, "at"),
    ({"tables": []}, "tables"),
    ({"tables": "account"}, "tables"),
    ({"tables": ["Not A Table"]}, "tables"),
    ({"tables": ["account"] * 501}, "tables"),
    ({"recordIds": []}, "recordIds"),
    ({"recordIds": ["{6b1c2d3e-0000-4000-8000-00000000e001}"]}, "recordIds"),
    ({"recordIds": [SOURCE] * (MAX_RECORD_IDS + 1)}, "recordIds"),
    ({"recordIds": SOURCE}, "recordIds"),
    ({"mode": "Missing"}, "mode"),
    ({"withRelated": "true"}, "withRelated"),
    ({"apply": 1}, "apply"),
    ({"targetEnvironmentId": "prod"}, "targetEnvironmentId"),
    ({"sourceEnvironmentId": None}, "sourceEnvironmentId"),
    ({"confirmProduction": "Contoso\nProd"}, "confirmProduction"),
    ({"requestId": "a/b"}, "requestId"),
    ({"dryRun": True}, "dryRun"),
])
def test_a_bad_field_is_named(fields: dict[str, Any], named: str) -> None:
    assert set(refusal(valid(**fields))) == {named}


def test_tables_are_required() -> None:
    body = valid()
    del body["tables"]
    assert refusal(body) == {"tables": "is required"}


def test_every_problem_at_once_with_the_point_rule() -> None:
    problems = refusal({"sourceEnvironmentId": "x", "tables": [1], "mode": "some",
                        "withRelated": "no", "extra": 1})
    assert set(problems) == {"sourceEnvironmentId", "tables", "mode", "withRelated", "extra",
                             "point"}
    assert "exactly one of pointId or at" in problems["point"]


@pytest.mark.parametrize("body", [[], "x", None, 3])
def test_not_an_object(body: object) -> None:
    with pytest.raises(RequestInvalid, match="must be a JSON object"):
        parse_data_restore_request(body)


guids = st.uuids().map(str)


@given(st.lists(guids | guids.map(str.upper), min_size=1, max_size=40))
def test_record_ids_are_canonical_and_unique(ids: list[str]) -> None:
    request = parse_data_restore_request(valid(recordIds=ids))
    assert request.record_ids == tuple(dict.fromkeys(i.lower() for i in ids))


GOOD = {"pointId": POINT, "at": "2026-12-01T09:30:00Z"}


@given(st.dictionaries(st.sampled_from(["pointId", "at"]),
                       st.sampled_from([POINT, "2026-12-01T09:30:00Z", None, "bad"])))
def test_exactly_one_good_point_or_a_refusal(point: dict[str, Any]) -> None:
    body = {"sourceEnvironmentId": SOURCE, "tables": ["account"], **point}
    named = {k: v for k, v in point.items() if v is not None}
    acceptable = len(named) == 1 and all(GOOD[k] == v for k, v in named.items())
    try:
        request = parse_data_restore_request(body)
    except RequestInvalid as error:
        assert not acceptable and error.fields
    else:
        assert acceptable
        assert (request.point_id is None) != (request.at is None)
