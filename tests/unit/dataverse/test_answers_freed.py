"""A Dataverse answer is freed when its call returns, by reference counting alone.

A record restore's plan looks thousands of rows up a `$batch` at a time, a megabyte an answer;
an answer kept alive by a reference cycle waits for the collector's oldest generation, which
runs ever more rarely as a long step allocates rows, and the plan's memory grew with the table.
So the collector is off in these tests: what is not freed by then is held by a cycle.
"""

from __future__ import annotations

import gc
import uuid
import weakref
from collections.abc import Callable, Iterator

import httpx
import pytest

from shared.dataverse import DataverseClient, rows_by_ids, write_batch
from shared.dataverse.batch import BatchRequest
from tests.unit.dataverse.conftest import API, INSTANCE, BatchServer, Part, PartAnswer
from tests.unit.power_platform.conftest import FakeTokens

Answers = list[weakref.ref[httpx.Response]]


@pytest.fixture
def no_collector() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def client_over(
    route: Callable[[httpx.Request], httpx.Response], answers: Answers
) -> DataverseClient:
    """A client whose every answer is noted (weakly) as its httpx client receives it."""
    http = httpx.Client(
        transport=httpx.MockTransport(route),
        event_hooks={"response": [lambda response: answers.append(weakref.ref(response))]},
    )
    return DataverseClient(API, instance_url=INSTANCE, token_provider=FakeTokens(),
                           http_client=http)


def rows_answer(part: Part) -> PartAnswer:
    """Each id filter part answers one row per id it names (`accountid eq <id> or ...`)."""
    ids = [t.rsplit("%20", 1)[1] for t in part.url.split("%20or%20")]
    return 200, {}, {"value": [{"accountid": i, "name": "x" * 500} for i in ids]}


@pytest.mark.usefixtures("no_collector")
def test_the_batch_answers_of_an_id_lookup_are_freed_when_it_returns() -> None:
    answers: Answers = []
    client = client_over(BatchServer(rows_answer), answers)
    ids = [str(uuid.uuid4()) for _ in range(120)]
    found = rows_by_ids(client, "accounts", "accountid", ids, per_request=1)
    assert sorted(found) == sorted(ids)
    assert len(answers) == 1
    assert [a() for a in answers] == [None]


@pytest.mark.usefixtures("no_collector")
def test_the_answers_of_reads_and_writes_are_freed_too() -> None:
    answers: Answers = []

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("$batch"):
            return BatchServer(lambda part: (204, {}, None))(request)
        return httpx.Response(200, json={"value": [{"accountid": str(uuid.uuid4())}]})

    client = client_over(route, answers)
    page = client.read_page(client.first_page("accounts"))
    outcomes = write_batch(client, [BatchRequest("PATCH", f"accounts({uuid.uuid4()})",
                                                 {"name": "x"}, {"If-Match": "*"})])
    assert len(page.rows) == 1
    assert [o.status for o in outcomes] == [204]
    assert len(answers) == 2
    assert [a() for a in answers] == [None, None]
