"""An intake request the host poisoned before it was admitted is still taken, once.

When a `backup-requests` / `restore-requests` message fails five times before its admission (the
history table unreachable for a minute), the host moves its body to `<queue>-poison` (semantics
reference 1.3). The poison queue's own trigger runs the same intake: the request is admitted late
and carried out, or Rejected if invalid; a redelivery is no second operation; and if even that
keeps failing, the request is on record as Failed with what to do, and the log names the queue
(never the body). Azurite, the simulator and the local host.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from ppbackup.host import LocalHost
from ppbackup.simulator import Simulator
from shared.history_api import find_request
from shared.operations import OperationKind, OperationStatus
from shared.queue_names import BACKUP_REQUESTS, RESTORE_REQUESTS, poison_queue
from shared.runtime import AppContext

pytestmark = pytest.mark.azurite


def backups(ctx: AppContext, env: str) -> list[Any]:
    return [op for op in ctx.history.list(environment_id=env, limit=50).items
            if op.kind is OperationKind.BACKUP]


def poisoned_message(body: bytes, message_id: str = "p1", dequeue_count: int = 1) -> Any:
    """A poison queue's message as the host hands it to the function."""
    return QueueMessage(id=message_id, body=body,  # type: ignore[no-untyped-call]
                        dequeue_count=dequeue_count)


def test_a_request_poisoned_before_admission_is_admitted_late_and_carried_out(
    ctx: AppContext, sim: Simulator, host: LocalHost, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import backup_triggers.service as service

    env = sim.add_environment("Contoso Prod", type="Production")
    real, calls = service._admit, []

    def outage(*args: Any, **kwargs: Any) -> Any:
        # The history table unreachable for every delivery of the original message.
        calls.append(1)
        if len(calls) <= 5:
            raise RuntimeError("table storage unavailable")
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "_admit", outage)
    ctx.queues.send(BACKUP_REQUESTS, {"environmentId": env, "label": "Before release 4.2",
                                      "requestId": "pipeline-run-77"})
    assert host.wait_until_idle(timeout=120)

    assert host.queue_counters(BACKUP_REQUESTS).poisoned == 1
    poison = host.queue_counters(poison_queue(BACKUP_REQUESTS))
    assert (poison.invocations, poison.poisoned) == (1, 0)
    found = find_request(ctx, "backup:pipeline-run-77")
    assert found is not None, "the poisoned request is on no record"
    [operation] = backups(ctx, env)
    assert operation.operation_id == found.operation.operation_id
    assert operation.status is OperationStatus.SUCCEEDED, operation.error
    assert len(sim.backups(env)) == 1


def test_a_redelivered_poisoned_request_is_one_operation(
    ctx: AppContext, sim: Simulator,
) -> None:
    from backup_triggers.blueprint import backup_request_poison

    env = sim.add_environment("Contoso Prod", type="Production")
    body = json.dumps({"environmentId": env, "label": "Late", "requestId": "r-late"}).encode()
    backup_request_poison(poisoned_message(body, "p1"))
    backup_request_poison(poisoned_message(body, "p1", dequeue_count=2))  # a redelivery
    backup_request_poison(poisoned_message(body, "p2"))  # a second copy (moved back and again)
    [operation] = backups(ctx, env)
    assert operation.request_id == "r-late"
    assert operation.status is OperationStatus.SUCCEEDED, operation.error
    assert len(sim.backups(env)) == 1


def test_a_poisoned_restore_request_is_admitted_once_and_a_bad_one_rejected(
    ctx: AppContext, sim: Simulator,
) -> None:
    from restore_orchestrator.blueprint import restore_request_poison

    env = sim.add_environment("Contoso Test", type="Sandbox")
    body = json.dumps({"targetEnvironmentId": env, "latest": True, "dryRun": True,
                       "requestId": "restore-late"}).encode()
    restore_request_poison(poisoned_message(body, "p1"))
    restore_request_poison(poisoned_message(body, "p1", dequeue_count=2))
    found = find_request(ctx, "restore:restore-late")
    assert found is not None and found.operation.status is OperationStatus.QUEUED
    restores = ctx.history.list(kind=OperationKind.RESTORE, limit=50).items
    assert [op.operation_id for op in restores] == [found.operation.operation_id]

    bad = json.dumps({"targetEnvironmentId": env, "latest": True, "lable": "x",
                      "requestId": "restore-bad"}).encode()
    restore_request_poison(poisoned_message(bad, "p2"))
    rejected = find_request(ctx, "restore:restore-bad")
    assert rejected is not None and rejected.operation.status is OperationStatus.REJECTED
    assert "lable" in (rejected.operation.options.get("invalidFields") or {})


def test_a_poisoned_request_that_keeps_failing_is_on_record_with_what_to_do(
    ctx: AppContext, sim: Simulator, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import backup_triggers.service as service
    from backup_triggers.blueprint import backup_request_poison

    env = sim.add_environment("Contoso Prod", type="Production")

    def outage(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("table storage unavailable")

    monkeypatch.setattr(service, "_admit", outage)
    secret = "do-not-log-this-label"
    body = json.dumps({"environmentId": env, "label": secret,
                       "requestId": "pipeline-run-78"}).encode()
    caplog.set_level(logging.INFO)
    with pytest.raises(RuntimeError):
        backup_request_poison(poisoned_message(body, "p1", dequeue_count=4))
    assert find_request(ctx, "backup:pipeline-run-78") is None  # not the last delivery yet
    with pytest.raises(RuntimeError):
        backup_request_poison(poisoned_message(body, "p1", dequeue_count=5))

    found = find_request(ctx, "backup:pipeline-run-78")
    assert found is not None, "a request given up on is on no record"
    record = found.operation
    assert (record.status, record.environment_id, record.label) == (
        OperationStatus.FAILED, env, secret)
    assert record.error is not None and record.error.code == "IntakeFailed"
    assert "poison" in record.error.message and "send it again" in record.error.message
    assert "table storage unavailable" in record.error.message

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR
              and getattr(r, "queue", None) == poison_queue(BACKUP_REQUESTS)]
    assert errors, "no error log names the poison queue"
    assert getattr(errors[0], "bodyLength", None) == len(body)
    assert getattr(errors[0], "bodySha256", None) == hashlib.sha256(body).hexdigest()
    for logged in caplog.records:
        assert secret not in logged.getMessage()
        assert secret not in json.dumps({k: str(v) for k, v in vars(logged).items()})


def test_the_intake_queues_poison_queues_are_taken(
    ctx: AppContext, sim: Simulator, host: LocalHost,
) -> None:
    """A message an operator (or the host) puts on a poison queue: Rejected if invalid."""
    bad = {"environmentId": "not-a-guid", "label": "x", "requestId": "bad-late"}
    ctx.queues.send(poison_queue(BACKUP_REQUESTS), bad)
    ctx.queues.send(poison_queue(RESTORE_REQUESTS), {"targetEnvironmentId": "nope",
                                                     "requestId": "bad-late"})
    assert host.wait_until_idle(timeout=60)
    for key in ("backup:bad-late", "restore:bad-late"):
        found = find_request(ctx, key)
        assert found is not None, key
        assert found.operation.status is OperationStatus.REJECTED


def test_a_request_that_fails_from_its_poison_queue_too_is_failed_on_record(
    ctx: AppContext, sim: Simulator, host: LocalHost, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import backup_triggers.service as service

    env = sim.add_environment("Contoso Prod", type="Production")

    def outage(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("table storage unavailable")

    monkeypatch.setattr(service, "_admit", outage)
    ctx.queues.send(BACKUP_REQUESTS, {"environmentId": env, "label": "Before release 4.3",
                                      "requestId": "pipeline-run-79"})
    assert host.wait_until_idle(timeout=120)

    assert host.queue_counters(BACKUP_REQUESTS).poisoned == 1
    assert host.queue_counters(poison_queue(BACKUP_REQUESTS)).poisoned == 1  # on to -poison-poison
    found = find_request(ctx, "backup:pipeline-run-79")
    assert found is not None, "a request given up on twice is on no record"
    assert found.operation.status is OperationStatus.FAILED
    assert found.operation.error is not None and found.operation.error.code == "IntakeFailed"
    assert "send it again with a new requestId" in found.operation.error.message
    assert [op.operation_id for op in backups(ctx, env)] == [found.operation.operation_id]
    assert sim.backups(env) == []
