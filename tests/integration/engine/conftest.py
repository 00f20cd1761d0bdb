"""The engine driven directly, step message by step message, on Azurite and the simulator.

No host: a test calls the runner and the watchdog itself, so it decides exactly when each message
runs (the queue's at-least-once delivery, a crash between two writes, a watchdog tick in between)
and waits on nothing but its own calls.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ppbackup.simulator import Simulator, run_simulator
from shared.policy.backoff import Backoff
from shared.runtime import AppContext, use_context
from shared.settings import Settings

FAST_BACKOFF = Backoff(base_seconds=0.2, cap_seconds=1.0, max_attempts=10)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(port=0, populate=False) as simulator:
        yield simulator


@pytest.fixture
def ctx(storage: str, sim: Simulator) -> Iterator[AppContext]:
    settings = Settings.from_env({
        "AzureWebJobsStorage": storage, "PP_API_URL": sim.url, "PP_BAP_URL": sim.url,
        "PP_AUTH": "none",
    })
    context = AppContext.from_settings(settings, backoff=FAST_BACKOFF)
    with use_context(context):
        yield context
