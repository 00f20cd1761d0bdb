"""Reading an environment's Dataverse: where it is, metadata, paging, $select, $filter,
annotations, ETags and the documented errors (reference §1-§3)."""

from __future__ import annotations

import re

import httpx

from ppbackup.simulator import Simulator

from .conftest import Dataverse, read_all

ANNOTATIONS = 'odata.include-annotations="*"'


def test_environment_record_names_the_dataverse_url(sim: Simulator, dv: Dataverse) -> None:
    assert dv.url == f"{sim.url}/orgs/{dv.env}"
    assert sim.dataverse_url(dv.env) == dv.url
    who = dv.http.get("WhoAmI")
    assert who.status_code == 200
    assert who.json()["UserId"]
    assert int(who.headers["x-ms-dop-hint"]) >= 1


def test_unknown_environment_and_entity_set_are_404(sim: Simulator, dv: Dataverse) -> None:
    missing = httpx.get(f"{sim.url}/orgs/00000000-0000-0000-0000-000000000000/api/data/v9.2/"
                        "accounts")
    assert missing.status_code == 404
    unknown = dv.http.get("Accounts")  # entity set names are case-sensitive
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "0x8006088a"


def test_metadata_lists_tables_with_change_tracking_flags(dv: Dataverse) -> None:
    response = dv.http.get("EntityDefinitions", params={
        "$select": "LogicalName,EntitySetName,PrimaryIdAttribute,ChangeTrackingEnabled,"
                   "IsIntersect"})
    assert response.status_code == 200
    tables = {t["LogicalName"]: t for t in response.json()["value"]}
    assert "@odata.nextLink" not in response.json()  # metadata is never paged
    for name in ("account", "contact", "new_project", "annotation", "new_project_contact",
                 "new_importlog", "workflow", "connectionreference"):
        assert name in tables
    assert tables["account"]["EntitySetName"] == "accounts"
    assert tables["account"]["PrimaryIdAttribute"] == "accountid"
    assert tables["new_importlog"]["ChangeTrackingEnabled"] is False
    assert tables["new_project_contact"]["IsIntersect"] is True
    tracked = dv.http.get("EntityDefinitions", params={
        "$select": "LogicalName", "$filter": "ChangeTrackingEnabled eq true"}).json()["value"]
    assert "new_importlog" not in {t["LogicalName"] for t in tracked}
    assert "account" in {t["LogicalName"] for t in tracked}


def test_attribute_and_relationship_metadata(dv: Dataverse) -> None:
    lookups = dv.http.get(
        "EntityDefinitions(LogicalName='annotation')/Attributes/"
        "Microsoft.Dynamics.CRM.LookupAttributeMetadata",
        params={"$select": "LogicalName,Targets"}).json()["value"]
    regarding = next(a for a in lookups if a["LogicalName"] == "objectid")
    assert set(regarding["Targets"]) == {"account", "contact", "new_project"}
    attrs = dv.http.get("EntityDefinitions(LogicalName='account')/Attributes",
                        params={"$select": "LogicalName,IsValidForCreate,IsValidForUpdate"})
    by_name = {a["LogicalName"]: a for a in attrs.json()["value"]}
    assert by_name["createdon"]["IsValidForCreate"] is False
    assert by_name["name"]["IsValidForUpdate"] is True
    rels = dv.http.get("EntityDefinitions(LogicalName='new_project')/ManyToOneRelationships").json()
    parent = next(r for r in rels["value"] if r["ReferencingAttribute"] == "new_parentprojectid")
    assert parent["ReferencedEntity"] == "new_project"
    assert parent["ReferencingEntityNavigationPropertyName"] == "new_ParentProjectId"
    contact = dv.http.get("EntityDefinitions(LogicalName='contact')/ManyToOneRelationships").json()
    navs = {r["ReferencingEntityNavigationPropertyName"] for r in contact["value"]
            if r["ReferencingAttribute"] == "parentcustomerid"}
    assert navs == {"parentcustomerid_account", "parentcustomerid_contact"}
    nn = dv.http.get("EntityDefinitions(LogicalName='contact')/ManyToManyRelationships").json()
    assert nn["value"][0]["IntersectEntityName"] == "new_project_contact"


def test_paging_follows_next_links_to_every_row_once(dv: Dataverse) -> None:
    first = dv.http.get("contacts", params={"$select": "fullname"},
                        headers={"Prefer": "odata.maxpagesize=7"})
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=7"
    assert len(first.json()["value"]) == 7
    assert "$skiptoken=" in first.json()["@odata.nextLink"]
    rows, delta = read_all(dv.http, "contacts?$select=fullname", "odata.maxpagesize=7")
    assert delta is None  # no change tracking asked for
    ids = [r["contactid"] for r in rows]
    assert len(ids) == 50 and len(set(ids)) == 50
    assert set(rows[0]) == {"@odata.etag", "contactid", "fullname"}


def test_default_page_is_5000_and_larger_requests_are_capped(sim: Simulator) -> None:
    sim.set_options(dataverse_rows=5001)
    env = sim.add_environment("Big", type="Sandbox")
    with httpx.Client(base_url=f"{sim.dataverse_url(env)}/api/data/v9.2/") as http:
        page = http.get("new_importlogs?$select=new_name",
                        headers={"Prefer": "odata.maxpagesize=9000"})
        assert page.headers["Preference-Applied"] == "odata.maxpagesize=5000"
        assert len(page.json()["value"]) == 5000
        rest = http.get(page.json()["@odata.nextLink"],
                        headers={"Prefer": "odata.maxpagesize=9000"}).json()
        assert len(rest["value"]) == 1 and "@odata.nextLink" not in rest


def test_annotations_only_when_asked(dv: Dataverse) -> None:
    plain = dv.http.get("contacts", params={"$select": "_parentcustomerid_value,statecode",
                                            "$top": "3"}).json()["value"]
    assert not any("@" in k for row in plain for k in row if k != "@odata.etag")
    rich = dv.http.get("contacts", params={"$select": "_parentcustomerid_value,statecode",
                                           "$top": "3"},
                       headers={"Prefer": ANNOTATIONS}).json()["value"]
    row = rich[1]
    value = row["_parentcustomerid_value"]
    assert re.fullmatch(r"[0-9a-f-]{36}", value)
    assert row["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert (row["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"]
            == "parentcustomerid_account")
    assert row["statecode@OData.Community.Display.V1.FormattedValue"] in ("Active", "Inactive")
    only_lookups = dv.http.get(
        "contacts", params={"$select": "_parentcustomerid_value,statecode", "$top": "2"},
        headers={"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.*"'}).json()
    keys = set(only_lookups["value"][1])
    assert "statecode@OData.Community.Display.V1.FormattedValue" not in keys
    assert "_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname" in keys


def test_rows_are_realistic_and_linked(dv: Dataverse) -> None:
    notes = dv.http.get("annotations", params={"$top": "3"},
                        headers={"Prefer": ANNOTATIONS}).json()["value"]
    targets = {n["_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] for n in notes}
    assert targets == {"account", "contact", "new_project"}
    assert all(n["notetext"] for n in notes)
    note = notes[0]
    target_set = {"account": "accounts", "contact": "contacts", "new_project": "new_projects"}[
        note["_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"]]
    assert dv.http.get(f"{target_set}({note['_objectid_value']})").status_code == 200
    owner = note["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"]
    assert owner in ("systemuser", "team")
    flows = dv.http.get("workflows", params={
        "$select": "name,category,statecode,clientdata", "$filter": "category eq 5"}).json()
    assert len(flows["value"]) == 3
    assert {f["statecode"] for f in flows["value"]} == {0, 1}
    refs = dv.http.get("connectionreferences").json()["value"]
    assert any(r["connectionid"] is None for r in refs)
    projects = dv.http.get("new_projects", params={"$filter": "_new_parentprojectid_value ne null"})
    assert projects.json()["value"], "projects have parents in the same table"


def test_seeded_rows_are_deterministic(sim: Simulator, dv: Dataverse) -> None:
    once = dv.http.get("accounts", params={"$top": "5"}).json()["value"]
    sim.reset(populate=False)
    env = sim.add_environment("Contoso Prod", type="Production", location="europe",
                              env_id=dv.env)
    with httpx.Client(base_url=f"{sim.dataverse_url(env)}/api/data/v9.2/") as http:
        again = http.get("accounts", params={"$top": "5"}).json()["value"]
    assert once == again


def test_select_filter_and_single_row(dv: Dataverse) -> None:
    rows = dv.http.get("accounts", params={"$select": "name", "$top": "2"}).json()["value"]
    target = rows[1]["accountid"]
    found = dv.http.get("accounts", params={"$select": "name",
                                            "$filter": f"accountid eq {target}"}).json()
    assert [r["accountid"] for r in found["value"]] == [target]
    one = dv.http.get(f"accounts({target})", params={"$select": "name"})
    assert one.status_code == 200
    assert one.json()["name"] == rows[1]["name"]
    same = dv.http.get(f"accounts(accountid={target})", params={"$select": "name"})
    assert same.json()["accountid"] == target
    unchanged = dv.http.get(f"accounts({target})", headers={"If-None-Match": one.json()[
        "@odata.etag"]})
    assert unchanged.status_code == 304
    bad = dv.http.get("accounts", params={"$select": "nosuchcolumn"})
    assert bad.status_code == 400
    assert "nosuchcolumn" in bad.json()["error"]["message"]
    lookup_by_nav = dv.http.get("accounts", params={"$select": "primarycontactid"})
    assert lookup_by_nav.status_code == 400  # lookups are read as _x_value
    gone = dv.http.get("accounts(00000000-0000-0000-0000-000000000001)")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "0x80040217"


def test_filter_on_other_columns_and_combinations(dv: Dataverse) -> None:
    inactive = dv.http.get("accounts", params={"$select": "statecode,statuscode",
                                               "$filter": "statecode eq 1"}).json()["value"]
    assert inactive and all(r["statecode"] == 1 and r["statuscode"] == 2 for r in inactive)
    owner = dv.http.get("accounts", params={"$top": "1"}).json()["value"][0]["_ownerid_value"]
    both = dv.http.get("accounts", params={
        "$select": "statecode,_ownerid_value",
        "$filter": f"(statecode eq 0 or statecode eq 1) and _ownerid_value eq {owner}"})
    assert both.status_code == 200
    assert all(r["_ownerid_value"] == owner for r in both.json()["value"])
    unsupported = dv.http.get("accounts", params={"$filter": "contains(name,'a')"})
    assert unsupported.status_code == 400
    assert dv.http.get("accounts", params={"$orderby": "name"}).status_code == 400


def test_filter_on_a_column_the_select_leaves_out(dv: Dataverse) -> None:
    # $filter and $select are independent query options (reference §3.1, §4.1 filters with
    # $select=SchemaName on ChangeTrackingEnabled): a row is kept by its values, not by what
    # the answer shows of it.
    every = dv.http.get("accounts", params={"$select": "name,statecode"}).json()["value"]
    wanted = {r["accountid"] for r in every if r["statecode"] == 1}
    assert wanted
    narrow = dv.http.get("accounts", params={"$select": "name", "$filter": "statecode eq 1"})
    assert narrow.status_code == 200
    assert {r["accountid"] for r in narrow.json()["value"]} == wanted
    assert all("statecode" not in r for r in narrow.json()["value"])


def test_never_304_with_annotations(dv: Dataverse) -> None:
    row = dv.http.get("accounts", params={"$top": "1"}).json()["value"][0]
    url = f"accounts({row['accountid']})"
    tag = row["@odata.etag"]
    assert dv.http.get(url, headers={"If-None-Match": tag}).status_code == 304
    annotated = dv.http.get(url, headers={"If-None-Match": tag,
                                          "Prefer": 'odata.include-annotations="*"'})
    assert annotated.status_code == 200
    assert dv.http.get(url, headers={"If-None-Match": "null"}).status_code == 200
