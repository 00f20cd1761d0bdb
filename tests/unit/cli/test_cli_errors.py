"""What the CLI says when storage is out of reach or its settings cannot be read: one sentence a
person can act on, an exit code a pipeline can test, never a traceback or a key."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError

from ppbackup import cli

KEY = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
# Nothing listens on port 1: every storage call is refused at once.
UNREACHABLE = (f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey={KEY};"
               "TableEndpoint=http://127.0.0.1:1/a;QueueEndpoint=http://127.0.0.1:1/a;"
               "BlobEndpoint=http://127.0.0.1:1/a")
RUNNING = {"operationId": "restore-20261205T143904927Z-5a3c9a", "kind": "restore",
           "status": "Running", "steps": []}


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no local.settings.json but the test's own
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    for name, value in {"PP_API_URL": "http://127.0.0.1:1", "PP_BAP_URL": "http://127.0.0.1:1",
                        "PP_AUTH": "none"}.items():
        monkeypatch.setenv(name, value)


def test_an_unreachable_storage_account_is_a_sentence_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["history", "--storage", UNREACHABLE]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("ppbackup: the storage account could not be used (")
    assert "Traceback" not in err and KEY not in err


def test_a_malformed_connection_string_is_named_without_its_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["history", "--storage", f"AccountKey={KEY};garbage"]) == 2
    err = capsys.readouterr().err
    assert "AzureWebJobsStorage is not a storage connection string" in err
    assert KEY not in err


def test_a_utf16_local_settings_file_is_a_settings_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # What Windows PowerShell 5.1 writes with `>`.
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"Values": {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}}),
        encoding="utf-16")
    assert cli.main(["history"]) == 2
    assert "is not UTF-8 text; save it as UTF-8" in capsys.readouterr().err


def reads(*answers: Any) -> Any:
    """A record read that gives these answers in turn (an exception is raised)."""
    queue = iter(answers)

    def read() -> dict[str, Any]:
        answer = next(queue)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    return read


def test_following_rides_out_a_storage_outage(capsys: pytest.CaptureFixture[str]) -> None:
    read = cli._riding_out_outages(reads(
        RUNNING, ServiceRequestError("Connection reset by peer"),
        ServiceRequestError("Connection reset by peer"), {**RUNNING, "status": "Succeeded"},
    ), RUNNING["operationId"])

    assert [read()["status"] for _ in range(4)] == ["Running", "Running", "Running", "Succeeded"]
    err = capsys.readouterr().err
    assert err.count("did not answer") == 1  # said once, not at every poll
    assert "Connection reset by peer" in err


def test_following_stops_after_a_long_outage_saying_the_operation_carries_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = itertools.count(0.0, cli.FOLLOW_OUTAGE_SECONDS / 2 + 1)
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(ticks))
    outage = ServiceRequestError("Connection refused")
    read = cli._riding_out_outages(reads(RUNNING, outage, outage, outage), RUNNING["operationId"])
    read()
    read()
    read()
    with pytest.raises(cli.CliError) as stopped:
        read()
    assert stopped.value.exit_code == cli.EXIT_FAILED
    assert f"{RUNNING['operationId']} carries on" in str(stopped.value)


def test_a_first_read_that_fails_is_not_hidden() -> None:
    read = cli._riding_out_outages(reads(ServiceRequestError("refused")), "x")
    with pytest.raises(ServiceRequestError):
        read()


def test_the_simulator_on_a_taken_or_impossible_port_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    assert cli.main(["simulator", "--port", "99999"]) == 2
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["simulator", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert "--port must be 0 to 65535" in err
    assert "the simulator could not start" in err and "Traceback" not in err


def test_an_invalid_history_query_says_what_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    # Checked before any storage is read.
    assert cli.main(["history", "--limit", "500", "--storage", UNREACHABLE]) == 2
    assert "limit: must be a whole number from 1 to 200" in capsys.readouterr().err


def test_an_unreachable_platform_is_one_sentence_without_the_library_warnings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    # As in a terminal: no handler on the root logger (pytest's own taken off for this test).
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    assert cli.main(["backups", "2427f2d8-f1b8-4252-907f-66ad0601177e"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ppbackup: the Power Platform could not be reached: ")
    assert "pp.retry" not in err and "pp.request" not in err
