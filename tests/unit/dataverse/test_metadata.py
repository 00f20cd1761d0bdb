"""Tables, columns and lookup relationships from the metadata endpoints."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

import httpx
import pytest

from shared.dataverse import (
    ColumnInfo,
    DataverseClient,
    LookupRelationship,
    NoDataverse,
    TableInfo,
    navigation_property,
)
from shared.power_platform.models import Environment
from tests.unit.dataverse.conftest import ROOT, Harness
from tests.unit.power_platform.conftest import FakeTokens, bap_environment

Make = Callable[..., Harness]


def values(*items: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, json={"value": list(items)})


ACCOUNT_TABLE = {
    "LogicalName": "account",
    "EntitySetName": "accounts",
    "PrimaryIdAttribute": "accountid",
    "PrimaryNameAttribute": "name",
    "ChangeTrackingEnabled": True,
    "IsIntersect": False,
    "TableType": "Standard",
    "MetadataId": "70816501-edb9-4740-a16c-6a5efbc05d84",
}


def test_tables_are_read_with_the_properties_a_backup_needs(make: Make) -> None:
    h = make(
        values(
            ACCOUNT_TABLE,
            {
                "LogicalName": "accountleads",
                "EntitySetName": "accountleadscollection",
                "PrimaryIdAttribute": "accountleadid",
                "ChangeTrackingEnabled": False,
                "IsIntersect": True,
            },
            {"LogicalName": "nosetthing", "PrimaryIdAttribute": "id"},
            {
                "LogicalName": "virt",
                "EntitySetName": "virts",
                "PrimaryIdAttribute": "virtid",
                "TableType": "Virtual",
            },
        )
    )
    account, intersect, no_set, virtual = h.client.tables()

    query = unquote(h.requests[0].url.query.decode())
    assert h.requests[0].url.path == "/api/data/v9.2/EntityDefinitions"
    for name in ("LogicalName", "EntitySetName", "PrimaryIdAttribute", "ChangeTrackingEnabled"):
        assert name in query
    assert account == TableInfo("account", "accounts", "accountid", "name", True, False, True)
    assert (intersect.is_intersect, intersect.change_tracking, intersect.readable) == (
        True,
        False,
        True,
    )
    assert not no_set.readable
    assert not virtual.readable


def test_one_table_by_logical_name(make: Make) -> None:
    h = make(httpx.Response(200, json=ACCOUNT_TABLE))
    assert h.client.table("account").entity_set == "accounts"
    assert h.requests[0].url.path == "/api/data/v9.2/EntityDefinitions(LogicalName='account')"


def test_a_table_name_that_could_break_the_literal_is_refused(make: Make) -> None:
    h = make()
    with pytest.raises(ValueError, match="table logical name"):
        h.client.table("account') or (1 eq 1")
    assert h.requests == []


def test_columns_carry_types_writability_and_lookup_targets(make: Make) -> None:
    h = make(
        values(
            {"LogicalName": "parentcustomerid", "Targets": ["account", "contact"]},
            {"LogicalName": "ownerid", "Targets": ["systemuser", "team"]},
        ),
        values(
            {
                "LogicalName": "contactid",
                "AttributeType": "Uniqueidentifier",
                "IsPrimaryId": True,
                "IsValidForRead": True,
                "IsValidForCreate": True,
                "IsValidForUpdate": False,
                "AttributeOf": None,
            },
            {
                "LogicalName": "parentcustomerid",
                "AttributeType": "Customer",
                "IsValidForCreate": True,
                "IsValidForUpdate": True,
            },
            {
                "LogicalName": "parentcustomeridname",
                "AttributeType": "String",
                "AttributeOf": "parentcustomerid",
            },
            {"LogicalName": "createdon", "AttributeType": "DateTime"},
        ),
    )
    primary, customer, helper, created = h.client.columns("contact")

    assert h.requests[0].url.path.endswith(
        "/EntityDefinitions(LogicalName='contact')/Attributes/"
        "Microsoft.Dynamics.CRM.LookupAttributeMetadata"
    )
    assert h.requests[1].url.path.endswith("/EntityDefinitions(LogicalName='contact')/Attributes")
    assert primary.is_primary_id and primary.creatable and not primary.updatable
    assert customer == ColumnInfo(
        "parentcustomerid", "Customer", False, True, True, True, None, ("account", "contact")
    )
    assert customer.is_lookup and customer.read_name == "_parentcustomerid_value"
    assert helper.attribute_of == "parentcustomerid"
    assert not created.creatable and not created.updatable and created.readable


def test_lookup_relationships_give_the_navigation_property_per_target(make: Make) -> None:
    h = make(
        values(
            {
                "SchemaName": "contact_customer_accounts",
                "ReferencingAttribute": "parentcustomerid",
                "ReferencedEntity": "account",
                "ReferencedAttribute": "accountid",
                "ReferencingEntityNavigationPropertyName": "parentcustomerid_account",
            },
            {
                "SchemaName": "contact_customer_contacts",
                "ReferencingAttribute": "parentcustomerid",
                "ReferencedEntity": "contact",
                "ReferencedAttribute": "contactid",
                "ReferencingEntityNavigationPropertyName": "parentcustomerid_contact",
            },
        )
    )
    relationships = h.client.lookup_relationships("contact")
    assert h.requests[0].url.path.endswith("/ManyToOneRelationships")
    assert relationships[0] == LookupRelationship(
        "contact_customer_accounts",
        "parentcustomerid",
        "account",
        "accountid",
        "parentcustomerid_account",
    )
    assert navigation_property(relationships, "parentcustomerid", "contact") == (
        "parentcustomerid_contact"
    )
    assert navigation_property(relationships, "parentcustomerid", "lead") is None


def test_a_metadata_answer_without_required_properties_is_a_clear_error(make: Make) -> None:
    h = make(values({"EntitySetName": "accounts"}))
    with pytest.raises(Exception, match="without LogicalName"):
        h.client.tables()


# --- from the environment record ------------------------------------------------------------------


def test_environment_record_names_the_web_api_url() -> None:
    body = bap_environment()
    body["properties"]["linkedEnvironmentMetadata"]["instanceApiUrl"] = (  # type: ignore[index]
        "https://contoso.api.crm4.dynamics.com"
    )
    env = Environment.from_bap(body)
    assert env.instance_api_url == "https://contoso.api.crm4.dynamics.com"

    tokens = FakeTokens()
    client = DataverseClient.for_environment(env, token_provider=tokens)
    assert client.root == ROOT
    client.close()


def test_environment_without_dataverse_says_so() -> None:
    env = Environment.from_bap(bap_environment(linkedEnvironmentMetadata=None))
    assert env.instance_api_url is None
    with pytest.raises(NoDataverse, match="no Dataverse"):
        DataverseClient.for_environment(env, token_provider=FakeTokens())
