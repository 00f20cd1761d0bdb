"""The notification functions as the host runs them: the queue trigger delivers the outbox."""

from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func
import pytest

from notifications.blueprint import bp
from ppbackup.host import LocalHost
from shared.queue_names import NOTIFICATIONS
from shared.runtime import use_context
from tests.integration.notifications.conftest import Harness
from tests.integration.notifications.helpers import finished_backup

pytestmark = pytest.mark.azurite

FAST_QUEUES = {"messageEncoding": "none", "maxDequeueCount": 3, "visibilityTimeout": "00:00:00",
               "maxPollingInterval": "00:00:00.200", "batchSize": 4, "newBatchThreshold": 2}


def test_the_host_runs_the_outbox(harness: Harness, tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps({"version": "2.0", "extensions": {"queues": FAST_QUEUES}}))
    app = func.FunctionApp()
    app.register_functions(bp)
    with use_context(harness.ctx), LocalHost(app, storage_connection=harness.storage,
                                             host_json=host_json, http_port=None) as host:
        assert {f.name for f in host.functions} == {"notification_delivery",
                                                    "notification_alerts"}
        finished_backup(harness)
        assert harness.receiver.wait_for(2, timeout=15)
        assert host.wait_until_idle([NOTIFICATIONS], timeout=15)
    assert {r.target for r in harness.receiver.accepted()} == {"teams", "webhook"}
