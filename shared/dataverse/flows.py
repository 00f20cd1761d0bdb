"""Reading an environment's cloud flows and turning one on, through the Dataverse client."""

from __future__ import annotations

from shared.dataverse.client import DataverseClient
from shared.dataverse.pages import PageCursor
from shared.flows import ACTIVATED, CLOUD_FLOW, ON, CloudFlow, FlowsSeen, cloud_flow

# A bound on one read (the step's invocation must not do unbounded work): 20 pages of 500.
MAX_PAGES = 20
PAGE_SIZE = 500
# Only cloud flows count against the bound: classic workflows, business rules and actions
# share the table, with large definitions the step never uses.
CLOUD_FLOWS_ONLY = f"category eq {CLOUD_FLOW}"
FLOW_COLUMNS = ("workflowid", "name", "category", "statecode", "uniquename", "_ownerid_value",
                "clientdata")


def read_flows(client: DataverseClient) -> FlowsSeen:
    """The environment's cloud flows and unbound connection references (bounded reads; a read
    that stops at its bound says so: `complete` is False)."""
    flows: list[CloudFlow] = []
    cursor: PageCursor | None = client.first_page(
        "workflows", select=FLOW_COLUMNS, where=CLOUD_FLOWS_ONLY, page_size=PAGE_SIZE)
    for _ in range(MAX_PAGES):
        if cursor is None:
            break
        page = client.read_page(cursor)
        flows.extend(f for row in page.rows if (f := cloud_flow(row)) is not None)
        cursor = page.next
    complete = cursor is None
    unbound: list[str] = []
    cursor = client.first_page(
        "connectionreferences",
        select=("connectionreferencelogicalname", "connectionid"),
        page_size=PAGE_SIZE,
    )
    for page in client.pages(cursor, max_pages=MAX_PAGES):
        unbound.extend(
            str(row["connectionreferencelogicalname"]) for row in page.rows
            if row.get("connectionreferencelogicalname") and not row.get("connectionid")
        )
    return FlowsSeen(tuple(sorted(flows, key=lambda f: (f.name, f.id))), tuple(sorted(unbound)),
                     complete)


def turn_on(client: DataverseClient, flow_id: str) -> bool:
    """Turn a flow on, looking first: a flow already on is not written again (a step re-run
    after a crash sends no second activation). True when it was already on. NotFound when the
    flow does not exist; ConnectionMissing when a reference it uses has no connection."""
    row = client.read_row("workflows", flow_id, select=("statecode",))
    if row.get("statecode") == ON:
        return True
    client.set_state("workflows", flow_id, ON, ACTIVATED)
    return False
