"""The storage service clients: from a connection string, or on the account's endpoint with the
app's identity (AzureWebJobsStorage__accountName), with the queue's pinned service version."""

from __future__ import annotations

import pytest
from azure.identity import DefaultAzureCredential

from shared.storage.connection import (
    DEV_ACCOUNT_NAME,
    QUEUE_API_VERSION,
    _transport,
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


PROXY_AND_CA_VARIABLES = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
)


@pytest.mark.parametrize(
    ("variable", "value", "per_request", "verify"),
    [
        (None, None, False, True),
        ("HTTPS_PROXY", "http://proxy.contoso.example:3128", True, True),
        ("http_proxy", "http://proxy.contoso.example:3128", True, True),
        ("REQUESTS_CA_BUNDLE", "/etc/ssl/contoso-ca.pem", False, "/etc/ssl/contoso-ca.pem"),
        ("CURL_CA_BUNDLE", "/etc/ssl/contoso-ca.pem", False, "/etc/ssl/contoso-ca.pem"),
    ],
)
def test_the_environment_is_read_per_request_only_for_proxies(
    monkeypatch: pytest.MonkeyPatch,
    variable: str | None,
    value: str | None,
    per_request: bool,
    verify: bool | str,
) -> None:
    for name in PROXY_AND_CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if variable is not None and value is not None:
        monkeypatch.setenv(variable, value)
    with _transport(4) as transport:
        assert transport.session is not None
        assert transport.session.trust_env is per_request
        assert transport.connection_config.verify == verify
