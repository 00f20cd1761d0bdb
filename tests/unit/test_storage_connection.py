"""The storage service clients: from a connection string, or on the account's endpoint with the
app's identity (AzureWebJobsStorage__accountName), with the queue's pinned service version."""

from __future__ import annotations

import pytest
from azure.identity import DefaultAzureCredential

from shared.storage.connection import (
    DEV_ACCOUNT_NAME,
    QUEUE_API_VERSION,
    blob_service,
    queue_service,
    table_service,
)


@pytest.mark.parametrize(
    ("make", "service"),
    [(table_service, "table"), (queue_service, "queue"), (blob_service, "blob")],
)
def test_an_account_name_uses_its_endpoint_and_the_identity(make: object, service: str) -> None:
    assert callable(make)
    client = make("AccountName=stcontoso")
    assert client.url.rstrip("/") == f"https://stcontoso.{service}.core.windows.net"
    assert isinstance(client.credential, DefaultAzureCredential)


@pytest.mark.parametrize(
    ("make", "port"), [(table_service, 10002), (queue_service, 10001), (blob_service, 10000)]
)
def test_development_storage_is_azurite_with_its_key(make: object, port: int) -> None:
    assert callable(make)
    client = make("UseDevelopmentStorage=true")
    assert client.url.rstrip("/") == f"http://127.0.0.1:{port}/{DEV_ACCOUNT_NAME}"
    assert not isinstance(client.credential, DefaultAzureCredential)  # the account key


def test_the_queue_service_version_is_pinned_either_way() -> None:
    assert queue_service("UseDevelopmentStorage=true").api_version == QUEUE_API_VERSION
    assert queue_service("AccountName=stcontoso").api_version == QUEUE_API_VERSION


def test_a_blob_service_uri_wins_over_the_connection_value() -> None:
    client = blob_service(
        "UseDevelopmentStorage=true", service_uri="https://stbk.blob.core.windows.net"
    )
    assert client.url.rstrip("/") == "https://stbk.blob.core.windows.net"
    assert isinstance(client.credential, DefaultAzureCredential)
