"""The fuzz suite's input report, and the app wired to Azurite and the simulator.

The terminal summary prints how many inputs each surface got; `PPBACKUP_FUZZ_REPORT=<file>` also
writes them as JSON. Budgets and Hypothesis settings are in `budget.py`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ppbackup.simulator import Simulator, run_simulator
from shared.runtime import AppContext, use_context
from shared.settings import Settings
from tests.fuzz.budget import INPUTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not INPUTS:
        return
    terminalreporter.section("fuzz inputs per surface")
    for surface, count in sorted(INPUTS.items()):
        terminalreporter.write_line(f"{surface:<48} {count:>7,}")
    terminalreporter.write_line(f"{'total':<48} {sum(INPUTS.values()):>7,}")
    report = os.environ.get("PPBACKUP_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps(dict(sorted(INPUTS.items())), indent=2) + "\n")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(port=0, populate=False) as simulator:
        yield simulator


@pytest.fixture
def app_env(storage: str, sim: Simulator) -> dict[str, str]:
    """The app's settings: Azurite, and the simulator as the Power Platform."""
    return {
        "AzureWebJobsStorage": storage,
        "PP_API_URL": sim.url,
        "PP_BAP_URL": sim.url,
        "PP_AUTH": "none",
    }


@pytest.fixture
def ctx(app_env: dict[str, str]) -> Iterator[AppContext]:
    context = AppContext.from_settings(Settings.from_env(app_env))
    with use_context(context):
        yield context
