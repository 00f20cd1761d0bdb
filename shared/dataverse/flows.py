"""Reading an environment's cloud flows and turning one on, through the Dataverse client."""

from __future__ import annotations

from shared.dataverse.client import DataverseClient
from shared.dataverse.pages import PageCursor
from shared.flows import ACTIVATED, CLOUD_FLOW, ON, CloudFlow, FlowsSeen, cloud_flow

# A bound on one read: the flows read before and after a restore, each one's outcome and the
# record's list all live in the operation's one Table Storage entity (1 MiB). At their longest in
# practice (tests/unit/restore_orchestrator/test_reactivating.py) this many fit, with room to
# spare for the rest of the record; a larger environment's read says it is incomplete.
MAX_FLOWS = 250
PAGE_SIZE = 500
# Only cloud flows count against the bound: classic workflows, business rules and actions
# share the table, with large definitions the step never uses. Flows that are on are read
# first: they are the ones a restore turns on again, so the bound drops flows that are off.
FLOWS_ON = f"category eq {CLOUD_FLOW} and statecode eq {ON}"
FLOWS_NOT_ON = f"category eq {CLOUD_FLOW} and statecode ne {ON}"
FLOW_COLUMNS = ("workflowid", "name", "category", "statecode", "uniquename", "clientdata")


def read_flows(client: DataverseClient) -> FlowsSeen:
    """The environment's cloud flows (bounded reads; a read that stops at its bound says so:
    `complete` is False, `every_on` whether the flows that are on were all read).

    Connection references are not read: a flow whose reference has no connection is named by
    its activation's answer (ConnectionMissing), and a list of every unbound reference would
    have no bound in the operation's one entity."""
    flows: list[CloudFlow] = []
    every_on = _read_flows(client, FLOWS_ON, flows)
    complete = every_on and _read_flows(client, FLOWS_NOT_ON, flows)
    return FlowsSeen(tuple(sorted(flows, key=lambda f: (f.name, f.id))), complete=complete,
                     every_on=every_on)


def _read_flows(client: DataverseClient, where: str, flows: list[CloudFlow]) -> bool:
    """Add the flows `where` selects to `flows`, up to MAX_FLOWS in all; True when every one
    of them fitted."""
    cursor: PageCursor | None = client.first_page(
        "workflows", select=FLOW_COLUMNS, where=where, page_size=PAGE_SIZE)
    for _ in range(MAX_FLOWS // PAGE_SIZE + 2):  # pages enough to pass the bound, no more
        if cursor is None or len(flows) > MAX_FLOWS:
            break
        page = client.read_page(cursor)
        flows.extend(f for row in page.rows if (f := cloud_flow(row)) is not None)
        cursor = page.next
    whole = cursor is None and len(flows) <= MAX_FLOWS
    del flows[MAX_FLOWS:]
    return whole


def turn_on(client: DataverseClient, flow_id: str) -> bool:
    """Turn a flow on, looking first: a flow already on is not written again (a step re-run
    after a crash sends no second activation). True when it was already on. NotFound when the
    flow does not exist; ConnectionMissing when a reference it uses has no connection."""
    row = client.read_row("workflows", flow_id, select=("statecode",))
    if row.get("statecode") == ON:
        return True
    client.set_state("workflows", flow_id, ON, ACTIVATED)
    return False
