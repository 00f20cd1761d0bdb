"""Cloud flows on the simulator's Web API: turning one on needs every connection reference it
uses to have a connection (reference §9.2), and the client says which one has not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.options import SimOptions
from shared.dataverse import ConnectionMissing, DataverseClient
from shared.dataverse import flows as flow_reads
from tests.integration.dataverse.test_client_on_simulator import connect, read_all


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(speed=0, populate=False, seed=7,
                       options=SimOptions(dataverse_rows=5)) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[DataverseClient]:
    env_id = sim.add_environment("Prod", type="Production", location="europe")
    with connect(sim, env_id) as dataverse:
        yield dataverse


def flows(client: DataverseClient) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in read_all(client, "workflows", 5000) if r["category"] == 5}


def unbound_reference(client: DataverseClient) -> dict[str, Any]:
    refs = read_all(client, "connectionreferences", 5000)
    return next(r for r in refs if not r["connectionid"])


def test_a_flow_using_a_reference_without_a_connection_does_not_turn_on(
    client: DataverseClient,
) -> None:
    ref = unbound_reference(client)
    digest = flows(client)["Weekly import digest"]
    assert ref["connectionreferencelogicalname"] in digest["clientdata"]

    with pytest.raises(ConnectionMissing) as raised:
        client.set_state("workflows", digest["workflowid"], 1, 2)

    assert raised.value.connection_reference == ref["connectionreferencelogicalname"]
    assert raised.value.status == 400
    assert "has no connection" in raised.value.message
    assert flows(client)["Weekly import digest"]["statecode"] == 0


def test_once_the_reference_has_a_connection_the_flow_turns_on(client: DataverseClient) -> None:
    ref = unbound_reference(client)
    client.update("connectionreferences", ref["connectionreferenceid"],
                  {"connectionid": "shared-new-connection"})
    digest = flows(client)["Weekly import digest"]

    client.set_state("workflows", digest["workflowid"], 1, 2)

    assert flows(client)["Weekly import digest"]["statecode"] == 1


def test_a_flow_using_only_bound_references_turns_off_and_on(client: DataverseClient) -> None:
    notify = flows(client)["Notify owner on new account"]
    client.set_state("workflows", notify["workflowid"], 0, 1)
    client.set_state("workflows", notify["workflowid"], 1, 2)
    assert flows(client)["Notify owner on new account"]["statecode"] == 1


def test_only_cloud_flows_count_against_the_read_bound(
    client: DataverseClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 3 cloud flows among 10 workflows: a read bound to 3 flows (5 pages of 1) reaches every
    # flow only when the other categories are not read.
    for k in range(5):
        client.create("workflows", {"name": f"Classic {k}", "category": 0, "type": 1})
    monkeypatch.setattr(flow_reads, "PAGE_SIZE", 1)
    monkeypatch.setattr(flow_reads, "MAX_FLOWS", 3)

    seen = flow_reads.read_flows(client)

    assert seen.complete
    assert {f.name: f.on for f in seen.flows} == {
        "Notify owner on new account": True, "Sync projects to SharePoint": True,
        "Weekly import digest": False}


def test_a_read_that_stops_at_its_bound_says_so(
    client: DataverseClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("Fourth flow", "Fifth flow"):
        client.create("workflows", {"name": name, "category": 5, "type": 1})
    monkeypatch.setattr(flow_reads, "PAGE_SIZE", 2)
    monkeypatch.setattr(flow_reads, "MAX_FLOWS", 4)

    seen = flow_reads.read_flows(client)

    assert not seen.complete
    assert len(seen.flows) == 4


def test_flows_that_are_on_are_read_first_so_a_bound_drops_only_flows_that_are_off(
    client: DataverseClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 2 flows on, then 5 off: a bound of 3 keeps both that are on.
    for k in range(4):
        client.create("workflows", {"name": f"Off {k}", "category": 5, "type": 1})
    monkeypatch.setattr(flow_reads, "PAGE_SIZE", 2)
    monkeypatch.setattr(flow_reads, "MAX_FLOWS", 3)

    seen = flow_reads.read_flows(client)

    assert not seen.complete and seen.every_on
    assert {f.name for f in seen.flows if f.on} == {"Notify owner on new account",
                                                   "Sync projects to SharePoint"}
    assert len(seen.flows) == 3
