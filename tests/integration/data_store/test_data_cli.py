"""`ppbackup data points` and `ppbackup data record` on Azurite: the contract's JSON and tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ppbackup import cli
from shared.data_store import FULL, INCREMENTAL, DataStore, TableCommit, new_point_id
from tests.integration.data_store.conftest import ENV

pytestmark = pytest.mark.azurite

T0 = datetime(2026, 11, 1, 2, tzinfo=UTC)
RECORD = "0a0a0a0a-1111-4222-8333-444455556666"
OTHER = "0b0b0b0b-1111-4222-8333-444455556666"


def row(record: str, name: str, **more: object) -> dict[str, object]:
    return {"accountid": record, "name": name, "@odata.etag": f'W/"{name}"', **more}


@pytest.fixture
def points(store: DataStore, storage: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Three points: full (two accounts, one contact), the record renamed, the record deleted."""
    monkeypatch.setenv("AzureWebJobsStorage", storage)
    made = []
    p0 = new_point_id(T0)
    store.write_rows(ENV, p0, "account", 0, [row(RECORD, "Contoso", revenue=10),
                                             row(OTHER, "Fabrikam")], id_column="accountid")
    store.write_rows(ENV, p0, "contact", 0, [{"contactid": OTHER, "fullname": "Ana"}],
                     id_column="contactid")
    store.commit_point(ENV, p0, T0, "before the import", [
        TableCommit("account", FULL, "accountid", 1), TableCommit("contact", FULL, "contactid", 1)])
    made.append(p0)
    p1 = new_point_id(T0 + timedelta(days=1))
    store.write_rows(ENV, p1, "account", 0, [row(RECORD, "Contoso Ltd", revenue=12)],
                     id_column="accountid")
    store.commit_point(ENV, p1, T0 + timedelta(days=1), None, [
        TableCommit("account", INCREMENTAL, "accountid", 1, previous=p0, rows=2)])
    made.append(p1)
    p2 = new_point_id(T0 + timedelta(days=2))
    store.write_rows(ENV, p2, "account", 0, [], id_column="accountid")
    store.write_deleted(ENV, p2, "account", 0, [RECORD], id_column="accountid")
    store.commit_point(ENV, p2, T0 + timedelta(days=2), None, [
        TableCommit("account", INCREMENTAL, "accountid", 1, 1, previous=p1, rows=1)])
    made.append(p2)
    return made


def test_points_json_is_the_contracts_newest_first(
    points: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["data", "points", ENV, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["pointId"] for p in listed] == points[::-1]
    oldest = listed[-1]
    assert set(oldest) == {"pointId", "pointTime", "environmentId", "expiresAt", "label",
                           "tables"}
    assert oldest["label"] == "before the import"
    assert oldest["tables"] == [{"table": "account", "rows": 2, "mode": "full"},
                                {"table": "contact", "rows": 1, "mode": "full"}]
    assert listed[0]["tables"] == [{"table": "account", "rows": 1, "mode": "incremental"}]
    assert "label" not in listed[0]

    assert cli.main(["data", "points", ENV, "--table", "contact", "--json"]) == 0
    assert [p["pointId"] for p in json.loads(capsys.readouterr().out)] == [points[0]]


def test_points_table_for_a_person(points: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "points", ENV]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["POINT", "TIME", "LABEL"]
    first = next(line for line in lines if points[0] in line)
    for text in ("2026-11-01 02:00Z", "before the import", "account 2 full", "contact 1 full"):
        assert text in first
    assert "account 1 incremental" in next(line for line in lines if points[2] in line)


def test_record_history_json_and_what_changed(
    points: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["data", "record", ENV, "account", RECORD.upper(), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["environmentId"] == ENV and document["table"] == "account"
    assert document["recordId"] == RECORD.lower()  # one spelling, as the route answers it
    assert [(v["pointId"], v["state"]) for v in document["versions"]] == [
        (points[2], "deleted"), (points[1], "present"), (points[0], "present")]
    assert document["versions"][1]["row"] == row(RECORD, "Contoso Ltd", revenue=12)
    assert document["versions"][0]["row"] is None

    assert cli.main(["data", "record", ENV, "account", RECORD]) == 0
    out = capsys.readouterr().out
    assert "3 versions, newest first" in out
    renamed = next(line for line in out.splitlines() if points[1] in line)
    assert "name: 'Contoso' -> 'Contoso Ltd'" in renamed and "revenue: 10 -> 12" in renamed
    assert "etag" not in renamed
    assert "deleted" in next(line for line in out.splitlines() if points[2] in line)


def test_unknown_record_and_environment_without_points(
    points: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["data", "record", ENV, "account", OTHER.replace("0b", "0c"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"] == []
    empty = "6b1c2d3e-0000-4000-8000-00000000e0ff"
    assert cli.main(["data", "points", empty]) == 0
    assert f"No data backup point of {empty} yet." in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["data", "points", "not-an-environment"],
    ["data", "points", ENV, "--table", "$filter"],
    ["data", "points", ENV, "--table", "acc'ount"],
    ["data", "record", ENV, "Account; drop", RECORD],
    ["data", "record", "prod", "account", RECORD],
    # Checked as the route checks them: read as "no versions", a mistyped id would say the
    # record was never kept.
    ["data", "record", ENV, "account", "{" + RECORD + "}"],  # one spelling per id
    ["data", "record", ENV, "account", "not-a-guid"],
    ["data", "record", ENV, "account", "' or 1 eq 1"],
])
def test_malformed_names_are_bad_usage(
    points: list[str], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*argv, "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("ppbackup: ")
    assert "is not a Dataverse logical name" in err or "must be a GUID" in err


def test_names_as_people_type_them(points: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "record", ENV.upper(), " Account", RECORD.upper(), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["environmentId"], document["table"], document["recordId"]) == (
        ENV, "account", RECORD.lower())
    assert len(document["versions"]) == 3
    assert cli.main(["data", "points", ENV, "--table", "Contact", "--json"]) == 0
    assert [p["pointId"] for p in json.loads(capsys.readouterr().out)] == [points[0]]
