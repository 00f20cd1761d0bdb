"""The deployed app's logs: its own events, not one line per HTTP request of its libraries."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from shared import runtime

LIBRARIES = ("azure", "azure.core.pipeline.policies.http_logging_policy", "httpx")


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No context yet, library loggers as a new worker process has them (the Functions
    Python worker sets the root logger to DEBUG and host.json forwards Information)."""
    levels = {name: logging.getLogger(name).level for name in LIBRARIES}
    root = logging.getLogger().level
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.getLogger().setLevel(logging.DEBUG)
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setattr(runtime, "_context", None)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().setLevel(root)


@pytest.mark.usefixtures("fresh_process")
def test_the_first_context_quiets_the_libraries_request_logs() -> None:
    # In Azure, the storage SDKs' and httpx's INFO line for every request (thousands in one
    # data backup) went to Application Insights: billed by the gigabyte, and drowning the
    # app's own events. The local host quieted them; the deployed app did not.
    assert logging.getLogger("httpx").isEnabledFor(logging.INFO)

    runtime.get_context()

    for name in LIBRARIES:
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.INFO), name
        assert logger.isEnabledFor(logging.WARNING), name  # their warnings still count
    assert logging.getLogger("data_backups.execute").isEnabledFor(logging.INFO)
