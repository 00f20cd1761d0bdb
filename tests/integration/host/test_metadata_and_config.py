"""Function metadata from the app, host.json parsing, and start-up validation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import azure.functions as func
import pytest

from ppbackup.host import HostConfigError, LocalHost, MessageEncoding, load_host_config
from ppbackup.host.metadata import QueueTrigger, describe_app
from ppbackup.host.queue_listener import decode_body, next_poll_delay
from tests.integration.host.helpers import queue, send

PROJECT_ROOT = Path(__file__).resolve().parents[3]
NO_STORAGE = "UseDevelopmentStorage=true"


def test_the_app_is_asked_once_and_several_hosts_can_share_it() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        pass

    first = describe_app(app)
    assert describe_app(app) is first  # a second get_functions() call would raise
    assert first[0].name == "work"
    assert first[0].trigger == QueueTrigger("msg", "work", "AzureWebJobsStorage")
    LocalHost(app, storage_connection=NO_STORAGE, http_port=None)
    LocalHost(app, storage_connection=NO_STORAGE, http_port=None)


def test_every_problem_is_reported_at_once() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(
        arg_name="msg", queue_name="%MISSING_QUEUE%", connection="AzureWebJobsStorage"
    )
    def unresolved(msg: func.QueueMessage) -> None:
        pass

    @app.queue_trigger(arg_name="msg", queue_name="Bad_Name", connection="AzureWebJobsStorage")
    def bad_name(msg: func.QueueMessage) -> None:
        pass

    @app.route(route="x/{id:nosuch}")
    def bad_route(req: func.HttpRequest) -> str:
        return ""

    with pytest.raises(HostConfigError) as raised:
        LocalHost(app, storage_connection=NO_STORAGE, http_port=None, environ={})
    problems = "\n".join(raised.value.problems)
    assert "MISSING_QUEUE" in problems
    assert "Bad_Name" in problems
    assert len(raised.value.problems) == 2  # routes are checked once the bindings resolve


def test_unsupported_bindings_and_unbound_parameters_fail_at_start_up() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
    @app.table_input(arg_name="rows", connection="AzureWebJobsStorage", table_name="t")
    def with_table(msg: func.QueueMessage, rows: str) -> None:
        pass

    @app.queue_trigger(arg_name="msg", queue_name="other", connection="AzureWebJobsStorage")
    def needs_more(msg: func.QueueMessage, extra: str) -> None:
        pass

    with pytest.raises(HostConfigError) as raised:
        LocalHost(app, storage_connection=NO_STORAGE, http_port=None)
    problems = "\n".join(raised.value.problems)
    assert "with_table: binding 'rows' of type 'table'" in problems
    assert "needs_more: parameter(s) extra have no binding" in problems


@pytest.mark.azurite
def test_a_disabled_function_does_not_run(
    storage: str, host_json: Callable[..., Path]
) -> None:
    calls: list[bytes] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        calls.append(msg.get_body())

    environ = {"AzureWebJobs.work.Disabled": "true"}
    with LocalHost(
        app, storage_connection=storage, host_json=host_json(), http_port=None, environ=environ
    ) as host:
        assert host.disabled == ("work",)
        assert host.queue_names == ()
        queue(storage, "work").create_queue()  # a disabled function does not create it
        send(storage, "work", "ignored")
        assert not host.wait_until_idle(["work"], timeout=0.5)
    assert calls == []


def test_bad_storage_connection_is_a_config_error() -> None:
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="t", schedule="0 0 * * * *")
    def tick(t: func.TimerRequest) -> None:
        pass

    with pytest.raises(HostConfigError, match="storage connection"):
        LocalHost(app, storage_connection="nonsense", http_port=None)


def test_host_json_defaults() -> None:
    config = load_host_config(None)
    queues = config.queues
    assert queues.message_encoding is MessageEncoding.BASE64
    assert (queues.max_dequeue_count, queues.visibility_timeout) == (5, 0.0)
    assert (queues.batch_size, queues.effective_new_batch_threshold) == (16, 8)
    assert queues.max_concurrency == 24
    assert queues.max_polling_interval == 2.0
    assert config.route_prefix == "api"


def test_project_host_json() -> None:
    queues = load_host_config(PROJECT_ROOT / "host.json").queues
    assert queues.message_encoding is MessageEncoding.NONE
    assert queues.max_dequeue_count == 5
    assert queues.visibility_timeout == 10.0
    assert queues.max_polling_interval == 2.0
    assert (queues.batch_size, queues.effective_new_batch_threshold) == (16, 8)


def test_host_json_values_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"extensions": {"queues": {
        "maxPollingInterval": 5000, "visibilityTimeout": "1.00:00:30", "newBatchThreshold": -1,
        "batchSize": 8,
    }}}))
    queues = load_host_config(path).queues
    assert queues.max_polling_interval == 5.0  # a bare number is milliseconds (Functions 1.x)
    assert queues.visibility_timeout == 86430.0
    assert queues.effective_new_batch_threshold == 4
    path.write_text(json.dumps({"extensions": {"queues": {
        "batchSize": 64, "messageEncoding": "utf8", "visibilityTimeout": "soon",
    }}}))
    with pytest.raises(HostConfigError) as raised:
        load_host_config(path)
    assert len(raised.value.problems) == 3


def test_polling_backoff_doubles_up_to_the_maximum() -> None:
    delays = [0.1]
    for _ in range(8):
        delays.append(next_poll_delay(delays[-1], maximum=2.0, jitter=1.0))
    assert delays[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert delays[-1] == 2.0
    assert next_poll_delay(0.1, maximum=60, jitter=0.8) == pytest.approx(0.16)


def test_decode_body() -> None:
    assert decode_body("aGVs\nbG8=", MessageEncoding.BASE64) == b"hello"
    assert decode_body("aGVsbG8=", MessageEncoding.NONE) == b"aGVsbG8="
    with pytest.raises(ValueError, match="base64"):
        decode_body("hello!", MessageEncoding.BASE64)
