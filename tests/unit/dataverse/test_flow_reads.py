"""Reading an environment's cloud flows: what a large environment does to the read."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from shared.dataverse.flows import read_flows
from shared.flows import FlowsSeen
from tests.unit.dataverse.conftest import ROOT, Harness

Make = Callable[..., Harness]
FLOW = "5b7c1d2e-0a9f-4e3d-8c6b-1a2b3c4d5e6f"


def _flows_and_endless_references(request: httpx.Request) -> httpx.Response:
    """One flow that is on; connection references that page on and on (an environment with
    tens of thousands of them), each page full of references without a connection."""
    if request.url.path.endswith("/workflows"):
        on = "statecode eq 1" in request.url.params.get("$filter", "")
        rows = [{"workflowid": FLOW, "name": "Nightly sync", "category": 5, "statecode": 1,
                 "uniquename": "new_nightly"}] if on else []
        return httpx.Response(200, json={"value": rows})
    if request.url.path.endswith("/connectionreferences"):
        page = int(request.url.params.get("page", "0"))
        return httpx.Response(200, json={
            "value": [{"connectionreferencelogicalname": f"new_ref_{page}_{n}",
                       "connectionid": None} for n in range(500)],
            "@odata.nextLink": f"{ROOT}/connectionreferences?page={page + 1}",
        })
    return httpx.Response(404, json={"error": {"code": "0x80060888", "message": "no"}})


def test_many_connection_references_do_not_fail_the_flow_read(make: Make) -> None:
    # An environment with over 10,000 connection references (20 pages of 500) failed the
    # whole read of its flows, and so the restore's flow step, for names nothing used.
    harness = make(route=_flows_and_endless_references)

    seen = read_flows(harness.client)

    assert isinstance(seen, FlowsSeen)
    assert [f.name for f in seen.flows] == ["Nightly sync"]
    assert seen.complete and seen.every_on
    # Nothing of the references is kept in the operation's one entity (1 MiB): a missing
    # connection is named by the activation that needs it (ConnectionMissing).
    assert "unbound" not in seen.to_json()
