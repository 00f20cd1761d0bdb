"""The simulator in a process of its own, for benchmarks that compare the app with a floor.

In the app's process the simulator would share the interpreter lock with the code under test,
so every millisecond the platform spends would be taken from the app: a benchmark of the app
against the platform must put them apart, as Dataverse is apart from a function app. Control is
through the simulator's own `/_sim/` endpoints (ppbackup/simulator/control.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, sys
from ppbackup.simulator import run_simulator
from ppbackup.simulator.options import SimOptions
with run_simulator(port=0, speed=0, populate=False, seed=11,
                   options=SimOptions(**json.loads(sys.argv[1]))) as sim:
    print(sim.url, flush=True)
    sys.stdin.read()
"""


class RemoteSimulator:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=300)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self._http.post(path, json=body)
        answer.raise_for_status()
        return answer.json()

    def add_environment(self, name: str, *, type: str = "Sandbox") -> str:
        return str(self._post("/_sim/environments", {
            "displayName": name, "type": type, "location": "europe"})["id"])

    def set_options(self, **changes: Any) -> None:
        self._post("/_sim/options", changes)

    def dataverse_url(self, env: str) -> str:
        return f"{self.url}/orgs/{env}"

    def change(self, env: str, table: str, action: str, record_id: str | None = None,
               values: dict[str, Any] | None = None) -> str:
        return str(self._post(f"/_sim/dataverse/{env}/rows", {
            "table": table, "action": action, "id": record_id, "values": values or {}})["id"])

    def stats(self) -> dict[str, Any]:
        answer = self._http.get("/_sim/stats")
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def close(self) -> None:
        self._http.close()


@contextmanager
def simulator_process(**options: Any) -> Iterator[RemoteSimulator]:
    """A simulator with these `SimOptions` in a child process, stopped at the end.

    It stands for Dataverse, not for the app: it runs with the C library's own malloc settings
    whatever the process starting it was given (the export bench runs the app's process with
    MALLOC_ARENA_MAX, and the floor's simulator must be the same as the app's)."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(options)], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"the simulator did not start: {url!r}")
        remote = RemoteSimulator(url)
        try:
            yield remote
        finally:
            remote.close()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
