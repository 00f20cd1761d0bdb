"""`--state FILE`: save/load round trip, and `serve()` saving on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.seed import CONTOSO_PROD, CONTOSO_UAT

from .conftest import API_PP, Api


def test_round_trip_keeps_tenant_backups_operations_and_time(tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    with run_simulator(speed=0) as first, httpx.Client(base_url=first.url) as http:
        api = Api(http)
        first.set_content(CONTOSO_PROD, "prod v2")
        backup = api.create_backup(CONTOSO_PROD, "kept").json()
        first.advance(901)
        assert api.restore(CONTOSO_UAT, CONTOSO_PROD, backup["backupPointDateTime"]
                           ).status_code == 202
        first.advance(60)  # the restore is mid-way when saved
        saved_now = first.now()
        first.save_state(path)
        dumped = first.snapshot()["state"]

    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert {b["label"] for b in data["backups"]} == {"kept"}

    with run_simulator(speed=0, state_file=path) as second, httpx.Client(
        base_url=second.url
    ) as http:
        api = Api(http)
        assert second.now() >= saved_now
        assert second.snapshot()["state"]["environments"] == dumped["environments"]
        listed = api.list_backups(CONTOSO_PROD).json()["collection"]
        assert listed == [backup]
        restore = api.operations(CONTOSO_UAT).json()["collection"][0]
        assert (restore["name"], restore["status"]) == ("Restore", "InProgress")
        # The environment is still locked by the loaded operation ...
        assert api.create_backup(CONTOSO_UAT).status_code == 409
        # ... and the operation finishes with its effect after loading.
        second.advance(second.options.restore_seconds)
        assert api.operation(restore["operationId"]).json()["status"] == "Succeeded"
        assert second.content(CONTOSO_UAT) == "prod v2"
        # New ids do not collide with loaded ones (sequence resumed).
        assert api.create_backup(CONTOSO_PROD, "new").status_code == 201
        labels = [b["label"] for b in api.list_backups(CONTOSO_PROD).json()["collection"]]
        assert labels == ["new", "kept"]


def test_loading_into_a_later_time_expires_and_finishes(tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    with run_simulator(speed=0) as first:
        first.add_backup(CONTOSO_UAT, "short-lived")
        first.save_state(path)
    data = json.loads(path.read_text())
    assert len(data["backups"]) == 1

    later = Simulator(speed=0, state_file=path)
    later.advance(8 * 86400)
    assert later.backups(CONTOSO_UAT) == []


def test_serve_saves_state_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "state" / "tenant.json"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ppbackup.simulator import serve\n"
        "serve(0, Path(sys.argv[1]), 1.0)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        url = line.split("listening on ")[1].split()[0]
        response = httpx.post(
            f"{url}/environmentmanagement/environments/{CONTOSO_PROD}/backups",
            params={"api-version": API_PP}, json={"label": "survives restart"},
        )
        assert response.status_code == 201
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    data = json.loads(path.read_text())
    assert [b["label"] for b in data["backups"]] == ["survives restart"]
    with run_simulator(speed=0, state_file=path) as again:
        assert [b["label"] for b in again.backups(CONTOSO_PROD)] == ["survives restart"]
