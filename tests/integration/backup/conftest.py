"""The real stack for backup tests: Azurite, the simulator, the app's context and the local host."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ppbackup.app_host import HOST_JSON
from ppbackup.host import LocalHost
from ppbackup.simulator import Simulator, run_simulator
from shared.runtime import AppContext, Backoff, use_context
from shared.settings import Settings

# Short waits so storms and retries play out in seconds; the logic is the production logic.
FAST_BACKOFF = Backoff(base_seconds=0.2, cap_seconds=1.0, max_attempts=60)


def app_settings(storage: str, sim: Simulator, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "AzureWebJobsStorage": storage,
            "PP_API_URL": sim.url,
            "PP_BAP_URL": sim.url,
            "PP_AUTH": "none",
            "BACKUP_SCOPE": "type:Production",
            **extra,
        }
    )


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(port=0, populate=False) as simulator:
        yield simulator


@pytest.fixture
def ctx(storage: str, sim: Simulator) -> Iterator[AppContext]:
    context = AppContext.from_settings(app_settings(storage, sim), backoff=FAST_BACKOFF)
    with use_context(context):
        yield context


@pytest.fixture
def fast_host_json(tmp_path: Path) -> Path:
    """host.json as deployed, but retrying a failed message at once (tests need not wait 10s)."""
    config: dict[str, Any] = json.loads(HOST_JSON.read_text())
    config["extensions"]["queues"]["visibilityTimeout"] = "00:00:00"
    config["extensions"]["queues"]["maxPollingInterval"] = "00:00:00.200"
    path = tmp_path / "host.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def host(ctx: AppContext, storage: str, fast_host_json: Path) -> Iterator[LocalHost]:
    import function_app

    # Timers are driven by the tests themselves (they call the decorated functions).
    disabled = {
        f"AzureWebJobs.{name}.Disabled": "true"
        for name in ("backup_timer", "restore_watchdog", "notification_alerts")
    }
    with LocalHost(
        function_app.app,
        storage_connection=storage,
        host_json=fast_host_json,
        http_port=0,
        environ=disabled,
    ) as running:
        yield running
