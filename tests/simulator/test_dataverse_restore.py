"""An environment restore brings the target's Dataverse to the source's rows as they stood at
the restore point: same ids, the changes made after the point gone, the target's own change
tracking tokens expired (a restored database is a new one)."""

from __future__ import annotations

import httpx

from ppbackup.simulator import Simulator

from .conftest import Api, Tenant


def test_restore_puts_the_point_in_time_rows_into_the_target(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    with httpx.Client(base_url=f"{sim.dataverse_url(tenant.prod)}/api/data/v9.2/") as prod, \
            httpx.Client(base_url=f"{sim.dataverse_url(tenant.uat)}/api/data/v9.2/") as uat:
        rows = prod.get("accounts", params={"$select": "name", "$top": "3"}).json()["value"]
        kept, removed = rows[0]["accountid"], rows[1]["accountid"]
        assert prod.patch(f"accounts({kept})", json={"name": "At the point"}).status_code == 204
        uat_delta = uat.get("accounts?$select=name", headers={
            "Prefer": "odata.track-changes"}).json()["@odata.deltaLink"]
        sim.advance(3600)
        point = sim.now().isoformat()
        sim.advance(60)
        prod.patch(f"accounts({kept})", json={"name": "After the point"})
        prod.delete(f"accounts({removed})")
        late = prod.post("accounts", json={"name": "Born late"}).headers["OData-EntityId"]
        sim.advance(900)
        assert api.restore(tenant.uat, tenant.prod, point).status_code == 202
        sim.advance(2 * 3600)  # the restore finishes

        assert uat.get(f"accounts({kept})").json()["name"] == "At the point"
        assert uat.get(f"accounts({removed})").status_code == 200
        late_id = late.rsplit("(", 1)[1].rstrip(")")
        assert uat.get(f"accounts({late_id})").status_code == 404
        assert len(uat.get("accounts").json()["value"]) == 50
        expired = uat.get(uat_delta)
        assert expired.status_code == 400
        assert expired.json()["error"]["code"] == "0x80044352"
        # The source is untouched, and the two go their own ways from here.
        assert prod.get(f"accounts({kept})").json()["name"] == "After the point"
        assert uat.patch(f"accounts({kept})", json={"name": "UAT only"}).status_code == 204
        assert prod.get(f"accounts({kept})").json()["name"] == "After the point"
        assert sim.dataverse_writes(tenant.uat)[-1]["body"] == {"name": "UAT only"}


def _references(client: httpx.Client) -> dict[str, str | None]:
    rows = client.get("connectionreferences", params={
        "$select": "connectionreferencelogicalname,connectionid"}).json()["value"]
    return {r["connectionreferencelogicalname"]: r["connectionid"] for r in rows}


def test_a_restore_leaves_connection_references_without_connections(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    # Reference §3.3 (restore rules) and §9.4: after a restore, solution flows come back off
    # and connection references need new connections; a flow then cannot be turned on until
    # someone gives its references a connection (§9.2).
    with httpx.Client(base_url=f"{sim.dataverse_url(tenant.prod)}/api/data/v9.2/") as prod, \
            httpx.Client(base_url=f"{sim.dataverse_url(tenant.uat)}/api/data/v9.2/") as uat:
        assert any(_references(prod).values())
        point = sim.now().isoformat()
        sim.advance(900)
        assert api.restore(tenant.uat, tenant.prod, point).status_code == 202
        sim.advance(2 * 3600)

        assert set(_references(uat)) == set(_references(prod))
        assert all(value is None for value in _references(uat).values())
        assert any(_references(prod).values()), "the source keeps its connections"
        flows = uat.get("workflows", params={
            "$select": "name,category,statecode", "$filter": "category eq 5"}).json()["value"]
        assert flows and all(f["statecode"] == 0 for f in flows)
        refused = uat.patch(f"workflows({flows[0]['workflowid']})",
                            json={"statecode": 1, "statuscode": 2}, headers={"If-Match": "*"})
        assert refused.status_code == 400
        assert "XrmConnectionReferenceMissingConnection" in refused.json()["error"]["message"]


def test_connections_can_be_kept_through_a_restore_when_told(
    sim: Simulator, api: Api, tenant: Tenant
) -> None:
    sim.set_options(dataverse_restore_keeps_connections=True)
    with httpx.Client(base_url=f"{sim.dataverse_url(tenant.prod)}/api/data/v9.2/") as prod, \
            httpx.Client(base_url=f"{sim.dataverse_url(tenant.uat)}/api/data/v9.2/") as uat:
        before = _references(prod)
        point = sim.now().isoformat()
        sim.advance(900)
        assert api.restore(tenant.uat, tenant.prod, point).status_code == 202
        sim.advance(2 * 3600)
        assert _references(uat) == before
