"""Writes (reference §5): create, update, upsert and delete with the documented conditional
headers and answers, lookups through `@odata.bind`, read-only columns ignored, statecode alone
getting its default statuscode, and the write log tests read."""

from __future__ import annotations

import uuid

from ppbackup.simulator import Simulator

from .conftest import Dataverse

JSON = {"Content-Type": "application/json"}


def first_id(dv: Dataverse, entity_set: str, pk: str) -> str:
    return str(dv.http.get(entity_set, params={"$top": "1"}).json()["value"][0][pk])


def test_create_answers_204_with_the_entity_id(sim: Simulator, dv: Dataverse) -> None:
    assert sim.dataverse_writes(dv.env) == []
    created = dv.http.post("accounts", json={"name": "Lamna Healthcare", "revenue": 1200.5})
    assert created.status_code == 204
    entity = created.headers["OData-EntityId"]
    assert entity.startswith(f"{dv.url}/api/data/v9.2/accounts(")
    row = dv.http.get(entity).json()
    assert row["name"] == "Lamna Healthcare"
    assert row["statecode"] == 0 and row["statuscode"] == 1
    assert row["@odata.etag"] == f'W/"{row["versionnumber"]}"'
    log = sim.dataverse_writes(dv.env)
    assert [(w["table"], w["action"], w["row_id"]) for w in log] == [
        ("account", "create", row["accountid"])]
    assert log[0]["body"] == {"name": "Lamna Healthcare", "revenue": 1200.5}


def test_create_with_id_and_representation(dv: Dataverse) -> None:
    row_id = str(uuid.uuid4())
    created = dv.http.post("contacts?$select=fullname,lastname",
                           json={"contactid": row_id, "firstname": "Ada", "lastname": "Byron"},
                           headers={"Prefer": "return=representation"})
    assert created.status_code == 201
    assert created.headers["Preference-Applied"] == "return=representation"
    assert created.json()["contactid"] == row_id
    assert created.json()["fullname"] == "Ada Byron"
    again = dv.http.post("contacts", json={"contactid": row_id, "lastname": "Twice"})
    assert again.status_code == 412


def test_upsert_matrix(dv: Dataverse) -> None:
    existing = first_id(dv, "accounts", "accountid")
    missing = str(uuid.uuid4())
    # If-Match: * never creates.
    no_create = dv.http.patch(f"accounts({missing})", json={"name": "x"},
                              headers={"If-Match": "*"})
    assert no_create.status_code == 404
    assert no_create.json()["error"]["message"] == f"account With Id = {missing} Does Not Exist"
    # If-None-Match: * never updates.
    no_update = dv.http.patch(f"accounts({existing})", json={"name": "x"},
                              headers={"If-None-Match": "*"})
    assert no_update.status_code == 412
    assert "matching key values already exists" in no_update.json()["error"]["message"]
    # Plain PATCH upserts: creates with the URL's id, then updates.
    assert dv.http.patch(f"accounts({missing})", json={"name": "Upserted"}).status_code == 204
    assert dv.http.get(f"accounts({missing})").json()["name"] == "Upserted"
    assert dv.http.patch(f"accounts({missing})", json={"name": "Again"}).status_code == 204
    assert dv.http.get(f"accounts({missing})").json()["name"] == "Again"


def test_if_match_etag_guards_updates_and_deletes(dv: Dataverse) -> None:
    row_id = first_id(dv, "accounts", "accountid")
    tag = dv.http.get(f"accounts({row_id})").json()["@odata.etag"]
    ok = dv.http.patch(f"accounts({row_id})", json={"name": "v2"}, headers={"If-Match": tag},
                       )
    assert ok.status_code == 204
    stale = dv.http.patch(f"accounts({row_id})", json={"name": "v3"},
                          headers={"If-Match": tag})
    assert stale.status_code == 412
    assert "RowVersion" in stale.json()["error"]["message"]
    assert dv.http.delete(f"accounts({row_id})", headers={"If-Match": tag}).status_code == 412
    newer = dv.http.get(f"accounts({row_id})").json()["@odata.etag"]
    assert newer != tag
    assert dv.http.delete(f"accounts({row_id})", headers={"If-Match": newer}).status_code == 204
    assert dv.http.get(f"accounts({row_id})").status_code == 404
    gone = dv.http.delete(f"accounts({row_id})")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "0x80040217"


def test_lookups_are_written_through_odata_bind(dv: Dataverse) -> None:
    account = first_id(dv, "accounts", "accountid")
    contact = dv.http.post("contacts", json={
        "lastname": "Bound", "parentcustomerid_account@odata.bind": f"/accounts({account})"},
        headers={"Prefer": 'return=representation,odata.include-annotations="*"'}).json()
    assert contact["_parentcustomerid_value"] == account
    assert contact["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    url = f"contacts({contact['contactid']})"
    # Polymorphic: the nav property names the target; the wrong set is refused.
    wrong = dv.http.patch(url, json={"parentcustomerid_contact@odata.bind":
                                     f"accounts({account})"})
    assert wrong.status_code == 400
    dangling = dv.http.patch(url, json={"parentcustomerid_account@odata.bind":
                                        f"accounts({uuid.uuid4()})"})
    assert dangling.status_code == 404
    cleared = dv.http.patch(url, json={"parentcustomerid_account@odata.bind": None})
    assert cleared.status_code == 204
    assert dv.http.get(url).json()["_parentcustomerid_value"] is None
    # The self lookup of the custom table, with its schema-cased nav property; absolute URL.
    parent = first_id(dv, "new_projects", "new_projectid")
    child = dv.http.post("new_projects", json={
        "new_name": "Child", "new_ParentProjectId@odata.bind":
            f"{dv.url}/api/data/v9.2/new_projects({parent})"})
    assert child.status_code == 204
    assert dv.http.get(child.headers["OData-EntityId"]).json()[
        "_new_parentprojectid_value"] == parent
    # Owner: systemusers or teams.
    team = first_id(dv, "teams", "teamid")
    assert dv.http.patch(url, json={"ownerid@odata.bind": f"/teams({team})"}).status_code == 204
    owner = dv.http.get(url, headers={"Prefer": 'odata.include-annotations="*"'}).json()
    assert owner["_ownerid_value"] == team
    assert owner["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team"


def test_writing_a_lookup_value_property_is_refused(dv: Dataverse) -> None:
    refused = dv.http.post("contacts", json={"lastname": "x",
                                             "_parentcustomerid_value": str(uuid.uuid4())})
    assert refused.status_code == 400
    assert "Navigation properties" in refused.json()["error"]["message"]


def test_unknown_and_read_only_columns(dv: Dataverse) -> None:
    unknown = dv.http.post("accounts", json={"name": "x", "nosuch": 1})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "0x0"
    assert "nosuch" in unknown.json()["error"]["message"]
    wrong_type = dv.http.post("accounts", json={"name": 5})
    assert wrong_type.status_code == 400
    created = dv.http.post("accounts", json={
        "name": "Read-only ignored", "createdon": "2001-01-01T00:00:00Z", "versionnumber": 1},
        headers={"Prefer": "return=representation"}).json()
    assert created["createdon"] != "2001-01-01T00:00:00Z"
    assert created["versionnumber"] != 1


def test_overridden_created_on_and_default_status(dv: Dataverse) -> None:
    created = dv.http.post("accounts", json={
        "name": "Migrated", "overriddencreatedon": "2019-05-01T10:00:00Z"},
        headers={"Prefer": "return=representation"}).json()
    assert created["createdon"] == "2019-05-01T10:00:00Z"
    assert created["overriddencreatedon"] not in (None, "2019-05-01T10:00:00Z")
    url = f"accounts({created['accountid']})"
    assert dv.http.patch(url, json={"statecode": 1}).status_code == 204
    assert dv.http.get(url).json()["statuscode"] == 2
    bad = dv.http.patch(url, json={"statecode": 7})
    assert bad.status_code == 400
    null_state = dv.http.patch(url, json={"statecode": None})
    assert null_state.status_code == 400
    assert null_state.json()["error"]["message"] == "Attribute: statecode cannot be set to NULL"


def test_write_log_records_only_api_writes(sim: Simulator, dv: Dataverse) -> None:
    sim.dataverse_change(dv.env, "account", "create", values={"name": "by a user"})
    assert sim.dataverse_writes(dv.env) == []
    row = first_id(dv, "accounts", "accountid")
    dv.http.patch(f"accounts({row})", json={"telephone1": "123"})
    dv.http.delete(f"accounts({row})")
    dv.http.patch(f"accounts({row})", json={"name": "x"}, headers={"If-Match": "*"})  # 404
    assert [w["action"] for w in sim.dataverse_writes(dv.env)] == ["update", "delete"]
    log = sim.dataverse_writes(dv.env)
    assert log[0]["body"] == {"telephone1": "123"}


def test_a_deleted_row_can_be_created_again_with_its_id(sim: Simulator, dv: Dataverse) -> None:
    rows = dv.http.get("accounts", params={"$top": "1"}).json()["value"]
    row_id, name = rows[0]["accountid"], rows[0]["name"]
    sim.dataverse_change(dv.env, "account", "delete", row_id)
    assert dv.http.get(f"accounts({row_id})").status_code == 404
    restored = dv.http.patch(f"accounts({row_id})", json={"name": name},
                             headers={"If-None-Match": "*"})
    assert restored.status_code == 204
    assert dv.http.get(f"accounts({row_id})").json()["name"] == name


def test_many_to_many_rows_are_associated_through_ref(sim: Simulator, dv: Dataverse) -> None:
    project = first_id(dv, "new_projects", "new_projectid")
    contact = dv.http.post("contacts", json={"lastname": "Member"}).headers["OData-EntityId"]
    contact_id = contact.rsplit("(", 1)[1].rstrip(")")
    direct = dv.http.post("new_project_contactset", json={"new_projectid": project,
                                                          "contactid": contact_id})
    assert direct.status_code == 400
    assert "$ref" in direct.json()["error"]["message"]
    link = f"new_projects({project})/new_project_contact/$ref"
    assert dv.http.post(link, json={"@odata.id": contact}).status_code == 204
    pairs = dv.http.get("new_project_contactset", params={
        "$filter": f"contactid eq {contact_id}"}).json()["value"]
    assert [(p["new_projectid"], p["contactid"]) for p in pairs] == [(project, contact_id)]
    assert dv.http.post(link, json={"@odata.id": contact}).status_code == 412
    # From the other side, by key; then it is gone.
    unlink = dv.http.delete(f"contacts({contact_id})/new_project_contact({project})/$ref")
    assert unlink.status_code == 204
    assert dv.http.get("new_project_contactset", params={
        "$filter": f"contactid eq {contact_id}"}).json()["value"] == []
    assert dv.http.delete(link, params={"$id": contact}).status_code == 404
    actions = [w["action"] for w in sim.dataverse_writes(dv.env)]
    assert actions == ["create", "associate", "disassociate"]


def test_single_valued_lookup_through_ref(dv: Dataverse) -> None:
    account = first_id(dv, "accounts", "accountid")
    contact = dv.http.post("contacts", json={"lastname": "Ref"}).headers["OData-EntityId"]
    ref = f"{contact}/parentcustomerid_account/$ref"
    put = dv.http.put(ref, json={"@odata.id": f"{dv.url}/api/data/v9.2/accounts({account})"})
    assert put.status_code == 204
    assert dv.http.get(contact).json()["_parentcustomerid_value"] == account
    assert dv.http.delete(ref).status_code == 204
    assert dv.http.get(contact).json()["_parentcustomerid_value"] is None


def test_lengths_and_state_status_pairs_are_validated(dv: Dataverse) -> None:
    too_long = dv.http.post("accounts", json={"name": "x" * 161})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "0x80044331"
    assert "maximum allowed length of '160'" in too_long.json()["error"]["message"]
    attrs = dv.http.get("EntityDefinitions(LogicalName='account')/Attributes/"
                        "Microsoft.Dynamics.CRM.StringAttributeMetadata",
                        params={"$select": "LogicalName,MaxLength"}).json()["value"]
    assert next(a for a in attrs if a["LogicalName"] == "name")["MaxLength"] == 160
    mismatch = dv.http.post("accounts", json={"name": "x", "statecode": 0, "statuscode": 2})
    assert mismatch.status_code == 400
    assert mismatch.json()["error"]["code"] == "0x8004431a"
    both = dv.http.post("accounts", json={"name": "x", "statecode": 1, "statuscode": 2})
    assert both.status_code == 204


def test_bulk_messages_are_all_or_nothing(sim: Simulator, dv: Dataverse) -> None:
    kind = "Microsoft.Dynamics.CRM.account"
    known = str(uuid.uuid4())
    made = dv.http.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [
        {"@odata.type": kind, "name": "Bulk 1", "accountid": known},
        {"@odata.type": kind, "name": "Bulk 2"},
    ]})
    assert made.status_code == 200
    ids = made.json()["Ids"]
    assert ids[0] == known and len(ids) == 2
    assert made.json()["@odata.context"].endswith("CreateMultipleResponse")
    updated = dv.http.post("accounts/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": [
        {"@odata.type": kind, "accountid": ids[0], "name": "Bulk 1b"},
        {"@odata.type": kind, "accountid": ids[1], "name": "Bulk 2b"},
    ]})
    assert updated.status_code == 204
    assert dv.http.get(f"accounts({ids[1]})").json()["name"] == "Bulk 2b"
    writes_before = len(sim.dataverse_writes(dv.env))
    # One bad target (no @odata.type; then a missing row for UpdateMultiple): nothing happens.
    for message, targets in (
        ("CreateMultiple", [{"@odata.type": kind, "name": "never"}, {"name": "no type"}]),
        ("UpdateMultiple", [{"@odata.type": kind, "accountid": ids[0], "name": "never"},
                            {"@odata.type": kind, "accountid": str(uuid.uuid4()),
                             "name": "missing"}]),
    ):
        refused = dv.http.post(f"accounts/Microsoft.Dynamics.CRM.{message}",
                               json={"Targets": targets})
        assert refused.status_code in (400, 404), refused.text
    assert len(sim.dataverse_writes(dv.env)) == writes_before
    assert dv.http.get(f"accounts({ids[0]})").json()["name"] == "Bulk 1b"
    names = {r["name"] for r in dv.http.get("accounts?$select=name").json()["value"]}
    assert "never" not in names
    upserted = dv.http.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json={"Targets": [
        {"@odata.type": kind, "accountid": ids[0], "name": "Upserted"},
        {"@odata.type": kind, "accountid": str(uuid.uuid4()), "name": "Upsert-created"},
    ]})
    assert upserted.status_code == 204
    assert dv.http.post("accounts/Microsoft.Dynamics.CRM.DeleteMultiple",
                        json={"Targets": []}).status_code == 400
