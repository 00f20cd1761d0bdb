"""Pre-update backups end to end: Azurite, the simulator and the real function app, hosted."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import azure.functions as func
import httpx
import pytest
from azure.functions.timer import TimerRequest

from ppbackup.host import LocalHost
from ppbackup.simulator import Simulator
from shared.operations import Operation, OperationKind, OperationStatus
from shared.queue_names import BACKUP_REQUESTS, poison_queue
from shared.runtime import AppContext, use_context
from shared.storage.queues import QueueSender

pytestmark = pytest.mark.azurite


def backups_in_history(ctx: AppContext) -> list[Operation]:
    found: list[Operation] = []
    continuation: str | None = None
    while True:
        page = ctx.history.list(kind=OperationKind.BACKUP, limit=200, continuation=continuation)
        found.extend(page.items)
        continuation = page.continuation
        if continuation is None:
            return found


def fire_timer() -> None:
    import function_app  # noqa: F401  (registers the blueprints)
    from backup_triggers.blueprint import backup_timer

    backup_timer(TimerRequest(past_due=False))


def platform_backup_counts(sim: Simulator, env_ids: list[str]) -> Counter[str]:
    return Counter({env: len(sim.backups(env)) for env in env_ids})


def test_timer_round_over_50_environments_makes_50_backups(
    sim: Simulator, ctx: AppContext, host: LocalHost
) -> None:
    production = sim.seed_many(50, type="Production")
    sandboxes = sim.seed_many(5, type="Sandbox", prefix="Dev")

    fire_timer()
    assert host.wait_until_idle(timeout=120)

    operations = backups_in_history(ctx)
    assert len(operations) == 50
    assert {op.status for op in operations} == {OperationStatus.SUCCEEDED}
    assert {op.environment_id for op in operations} == set(production)
    assert platform_backup_counts(sim, production) == Counter({env: 1 for env in production})
    assert all(not sim.backups(env) for env in sandboxes)  # out of BACKUP_SCOPE
    sample = operations[0]
    assert sample.label and sample.label.startswith("Pre-update ")
    assert sample.backup_id and sample.backup_point and sample.backup_expiry
    assert sample.requested_by and sample.requested_by.startswith("timer")
    assert sample.request_id and sample.request_id.startswith("timer:")
    assert sample.duration_seconds is not None
    assert (
        sample.environment_name
        == sim.environment(sample.environment_id)["properties"]["displayName"]
    ), "the timer's listing names the environment in history"
    assert sample.step("backup").request_ids, "the platform's request ids are kept"


def test_timer_fired_twice_for_one_slot_makes_no_second_backup(
    sim: Simulator, ctx: AppContext, host: LocalHost
) -> None:
    production = sim.seed_many(12, type="Production")
    fire_timer()
    fire_timer()  # before the first round is processed
    assert host.wait_until_idle(timeout=120)
    fire_timer()  # and after
    assert host.wait_until_idle(timeout=120)

    assert len(backups_in_history(ctx)) == 12
    assert platform_backup_counts(sim, production) == Counter({env: 1 for env in production})


class DuplicatingSender:
    """A queue that delivers every message twice, as at-least-once delivery may."""

    def __init__(self, inner: QueueSender) -> None:
        self.inner = inner

    def send(self, queue: str, payload: Any, *, delay_seconds: float = 0, **options: Any) -> None:
        self.inner.send(queue, payload, delay_seconds=delay_seconds, **options)
        self.inner.send(queue, payload, delay_seconds=delay_seconds, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_every_message_delivered_twice_makes_no_duplicate(
    sim: Simulator, ctx: AppContext, storage: str, fast_host_json: Any
) -> None:
    import dataclasses

    import function_app

    production = sim.seed_many(15, type="Production")
    # Busy answers now and then, so delayed retry messages (also doubled) are in play too.
    sim.set_faults(backup_conflict_rate=0.3, seed=7)
    doubled = dataclasses.replace(ctx, queues=DuplicatingSender(ctx.queues))
    with (
        use_context(doubled),
        LocalHost(
            function_app.app,
            storage_connection=storage,
            host_json=fast_host_json,
            http_port=0,
            environ={"AzureWebJobs.restore_watchdog.Disabled": "true"},
        ) as running,
    ):
        fire_timer()
        # A pipeline's request, without a requestId, also delivered twice.
        doubled.queues.send(BACKUP_REQUESTS, {"environmentId": production[0], "label": "No key"})
        assert running.wait_until_idle(timeout=180)

    operations = backups_in_history(ctx)
    assert Counter(op.label for op in operations)["No key"] == 2  # two messages, two requests
    timer_ops = [op for op in operations if op.label != "No key"]
    assert len(timer_ops) == 15
    assert {op.status for op in operations} == {OperationStatus.SUCCEEDED}
    counts = platform_backup_counts(sim, production)
    assert counts[production[0]] == 3  # the timer's backup and the two keyless requests
    assert all(counts[env] == 1 for env in production[1:])


def test_the_same_message_delivered_twice_at_once_is_one_backup(
    sim: Simulator, ctx: AppContext
) -> None:
    """Two concurrent deliveries of one queue message (same id): one operation, one backup."""
    import function_app  # noqa: F401
    from backup_triggers.blueprint import backup_request

    env = sim.seed_many(1, type="Production")[0]
    body = json.dumps({"environmentId": env, "label": "Twice"}).encode()
    message = func.QueueMessage(id="message-1", body=body)
    threads = [threading.Thread(target=backup_request, args=(message,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    operations = backups_in_history(ctx)
    assert len(operations) == 1
    assert len(sim.backups(env)) == 1


def _held_admission(
    monkeypatch: pytest.MonkeyPatch, ctx: AppContext, body: str, message_id: str
) -> Callable[[], None]:
    """Deliver `body` as a first delivery whose invocation is paused just before its create
    call; returns what resumes it (or, never called, an invocation that died there)."""
    from backup_triggers import service

    held: list[tuple[Any, ...]] = []
    real = service.run_admitted
    monkeypatch.setattr(service, "run_admitted",
                        lambda c, stored, **kw: held.append((c, stored, kw)))
    service.handle_backup_message(ctx, body, message_id=message_id, dequeue_count=1)
    monkeypatch.setattr(service, "run_admitted", real)
    [(c, stored, kw)] = held
    return lambda: real(c, stored, **kw)


def test_a_redelivered_duplicate_leaves_the_admitting_invocation_alone(
    sim: Simulator, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another message with the same requestId, redelivered, while the message that admitted
    the request is about to call create: one platform backup, not two."""
    from backup_triggers import service

    env = sim.seed_many(1, type="Production")[0]
    body = json.dumps({"environmentId": env, "label": "Pre-update",
                       "requestId": f"timer:20261205T010000Z:{env}"})
    resume_a = _held_admission(monkeypatch, ctx, body, "message-a")
    service.handle_backup_message(ctx, body, message_id="message-b", dequeue_count=2)
    resume_a()
    [operation] = backups_in_history(ctx)
    assert operation.status is OperationStatus.SUCCEEDED
    assert len(sim.backups(env)) == 1


def test_a_redelivery_of_the_admitting_message_makes_the_backup(
    sim: Simulator, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invocation that admitted the request died before its call: the redelivery of that
    same message runs it (nobody else drives it)."""
    from backup_triggers import service

    env = sim.seed_many(1, type="Production")[0]
    body = json.dumps({"environmentId": env, "label": "Pre-update", "requestId": "r-1"})
    _held_admission(monkeypatch, ctx, body, "message-a")  # never resumed: it died
    service.handle_backup_message(ctx, body, message_id="message-a", dequeue_count=2)
    [operation] = backups_in_history(ctx)
    assert operation.status is OperationStatus.SUCCEEDED
    assert len(sim.backups(env)) == 1


def test_409_and_429_storms_end_with_every_backup_made(
    sim: Simulator, ctx: AppContext, host: LocalHost
) -> None:
    production = sim.seed_many(20, type="Production")
    sim.set_faults(backup_conflict_rate=0.6, throttle_rate=0.4, seed=11)
    fire_timer()
    assert host.wait_until_idle(timeout=240)

    operations = backups_in_history(ctx)
    assert len(operations) == 20
    assert {op.status for op in operations} == {OperationStatus.SUCCEEDED}
    assert platform_backup_counts(sim, production) == Counter({env: 1 for env in production})
    stats = sim.stats()
    assert stats["throttled"] > 0
    conflicts = sum(e["statuses"].get("409", 0) for e in stats["endpoints"].values())
    assert conflicts > 0
    retried = [op for op in operations if len(op.step("backup").request_ids) > 1]
    assert retried, "some backups met a 409 or 429 and were retried"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not json", "JSON"),
        (json.dumps({"environmentId": "prod", "label": "x"}).encode(), "environmentId"),
        (
            json.dumps(
                {"environmentId": "11111111-2222-3333-4444-555555555555", "lable": "typo"}
            ).encode(),
            "lable",
        ),
        (json.dumps(["not", "an", "object"]).encode(), "JSON object"),
    ],
)
def test_invalid_messages_are_rejected_and_never_poisoned(
    ctx: AppContext, host: LocalHost, storage: str, body: bytes, reason: str
) -> None:
    from shared.storage.connection import queue_service

    queue = queue_service(storage).get_queue_client(BACKUP_REQUESTS)
    queue.send_message(body.decode())
    assert host.wait_until_idle(timeout=60)

    operations = backups_in_history(ctx)
    assert len(operations) == 1
    rejected = operations[0]
    assert rejected.status is OperationStatus.REJECTED
    assert rejected.error is not None and reason in rejected.error.message
    assert host.queue_counters(BACKUP_REQUESTS).poisoned == 0
    # (The poison queue exists, its trigger created it; nothing reached it.)
    assert host.queue_counters(poison_queue(BACKUP_REQUESTS)).invocations == 0


def test_a_message_that_keeps_failing_is_poisoned_and_its_operation_says_why(
    sim: Simulator, ctx: AppContext, host: LocalHost, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.storage.connection import queue_service

    env = sim.seed_many(1, type="Production")[0]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the platform answered something this app cannot read")

    monkeypatch.setattr(ctx.platform, "create_backup", broken)
    ctx.queues.send(BACKUP_REQUESTS, {"environmentId": env, "label": "Doomed", "requestId": "r1"})
    assert host.wait_until_idle(timeout=120)

    assert host.queue_counters(BACKUP_REQUESTS).poisoned == 1
    # The poison queue's trigger takes the request again: admitted already, so no second backup,
    # and nothing left to expire there unread.
    poison = host.queue_counters(poison_queue(BACKUP_REQUESTS))
    assert (poison.invocations, poison.failures) == (1, 0)
    assert queue_service(storage).get_queue_client(
        poison_queue(BACKUP_REQUESTS)).peek_messages(max_messages=32) == []
    [operation] = backups_in_history(ctx)
    assert operation.status is OperationStatus.FAILED
    assert operation.error is not None
    assert operation.error.code == "GaveUp"
    assert "poison" in operation.error.message
    assert "cannot read" in operation.error.message
    assert sim.backups(env) == []


def test_http_and_queue_share_the_request_id(
    sim: Simulator, ctx: AppContext, host: LocalHost
) -> None:
    env = sim.seed_many(1, type="Production")[0]
    request = {"environmentId": env, "label": "Before 4.2", "requestId": "release-4.2"}
    answer = httpx.post(f"{host.http_url}/api/backups", json=request, timeout=30)
    assert answer.status_code == 202
    operation_id = answer.json()["operationId"]
    assert answer.json()["statusUrl"].endswith(f"/api/operations/{operation_id}")
    ctx.queues.send(BACKUP_REQUESTS, request)
    again = httpx.post(f"{host.http_url}/api/backups", json=request, timeout=30)
    assert again.json()["operationId"] == operation_id
    assert host.wait_until_idle(timeout=60)

    record = httpx.get(answer.json()["statusUrl"], timeout=30).json()
    assert record["status"] == "Succeeded"
    assert record["requestId"] == "release-4.2"
    assert len(backups_in_history(ctx)) == 1
    assert len(sim.backups(env)) == 1
    listing = httpx.get(
        f"{host.http_url}/api/operations", params={"environmentId": env}, timeout=30
    ).json()
    assert [r["operationId"] for r in listing["operations"]] == [operation_id]


def test_a_lost_answer_is_reconciled_not_repeated(
    sim: Simulator, ctx: AppContext, host: LocalHost
) -> None:
    """The platform makes the backup but the answer never arrives: still exactly one backup."""
    env = sim.seed_many(1, type="Production")[0]
    sim.set_faults(drop_next=1, drop_method="POST", drop_path="backups")
    ctx.queues.send(BACKUP_REQUESTS, {"environmentId": env, "label": "Lost answer"})
    assert host.wait_until_idle(timeout=120)

    [operation] = backups_in_history(ctx)
    assert operation.status is OperationStatus.SUCCEEDED
    assert len(sim.backups(env)) == 1
    assert operation.backup_id == sim.backups(env)[0]["id"]


def test_two_requests_with_one_label_never_share_a_backup(sim: Simulator, ctx: AppContext) -> None:
    """Both attempts lost their answer; the one backup the platform shows goes to one of them."""
    from backup_triggers.service import submit_backup
    from backup_triggers.state import BackupState
    from engine.runner import run_steps
    from shared.validation import BackupRequest

    env = sim.seed_many(1, type="Production")[0]
    first = submit_backup(ctx, BackupRequest(env, "Same label"))
    second = submit_backup(ctx, BackupRequest(env, "Same label"))
    started = ctx.clock()
    for operation in (first, second):
        stored = ctx.history.get(operation.operation_id)
        # Each checkpointed its intent and lost the answer to its create call.
        lost = BackupState(env, "Same label", seq=1, intent_at=started, tries=1)
        ctx.history.update(stored, stored.operation, internal=lost.to_json())
    sim.add_backup(env, "Same label")  # what one of the two lost attempts made

    run_steps(ctx, first.operation_id, 1)
    run_steps(ctx, second.operation_id, 1)
    adopted = ctx.history.get(first.operation_id).operation
    other = ctx.history.get(second.operation_id).operation

    assert adopted.status is OperationStatus.SUCCEEDED
    assert other.status is OperationStatus.SUCCEEDED
    assert adopted.backup_id != other.backup_id
    assert len(sim.backups(env)) == 2


def test_a_platform_that_never_answers_is_given_up_on(
    sim: Simulator, ctx: AppContext, host: LocalHost
) -> None:
    """Every create answers 503 (outcome unknown): bounded attempts, then Failed, never forever."""
    import dataclasses

    from shared.runtime import Backoff

    env = sim.seed_many(1, type="Production")[0]
    sim.set_faults(error_rate=1.0, error_method="POST", error_path="backups", error_status=503)
    bounded = dataclasses.replace(
        ctx, backoff=Backoff(base_seconds=0.2, cap_seconds=0.5, max_attempts=3)
    )
    with use_context(bounded):
        bounded.queues.send(BACKUP_REQUESTS, {"environmentId": env, "label": "Never answered"})
        assert host.wait_until_idle(timeout=120)

    [operation] = backups_in_history(ctx)
    assert operation.status is OperationStatus.FAILED
    assert operation.error is not None and operation.error.code == "GaveUp"
    assert "3 attempts" in operation.error.message
    # Three attempts, each sent once: a lost answer is reconciled, never resent blindly.
    assert sim.stats()["endpoints"]["pp.create_backup"]["count"] == 3
