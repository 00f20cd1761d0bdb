"""The storage service clients: from a connection string, or on the account's endpoint with the
app's identity (AzureWebJobsStorage__accountName), with the queue's pinned service version."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from azure.identity import DefaultAzureCredential

from shared.storage.connection import (
    DEV_ACCOUNT_KEY,
    DEV_ACCOUNT_NAME,
    QUEUE_API_VERSION,
    STORAGE_BACKOFF,
    STORAGE_RESENDS,
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


class _Busy(http.server.BaseHTTPRequestHandler):
    """A storage service that answers every request 503 ServerBusy, and counts them."""

    answered: ClassVar[list[str]] = []

    def _busy(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).answered.append(self.command)
        body = b'{"odata.error":{"code":"ServerBusy","message":{"value":"busy"}}}'
        self.send_response(503)
        self.send_header("x-ms-error-code", "ServerBusy")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        self._busy()

    def do_POST(self) -> None:
        self._busy()

    def do_PATCH(self) -> None:
        self._busy()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def busy_storage(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[float]]]:
    """A connection string to the busy service; the waits the SDKs asked for (not slept: their
    transports sleep with `time.sleep`)."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    _Busy.answered = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/{DEV_ACCOUNT_NAME}"
    yield (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};"
           f"AccountKey={DEV_ACCOUNT_KEY};BlobEndpoint={endpoint};QueueEndpoint={endpoint};"
           f"TableEndpoint={endpoint};"), waits
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("service", ["blob", "queue", "table"])
def test_a_busy_storage_service_is_asked_a_few_times_within_seconds_then_the_step_fails(
    busy_storage: tuple[str, list[float]], service: str
) -> None:
    from azure.core.exceptions import HttpResponseError

    connection, waits = busy_storage
    calls: dict[str, Callable[[], object]] = {
        "blob": lambda: blob_service(connection).get_container_client("c").upload_blob(
            "b", b"x", overwrite=True),
        "queue": lambda: queue_service(connection).get_queue_client("q").send_message("m"),
        "table": lambda: table_service(connection).get_table_client("t").upsert_entity(
            {"PartitionKey": "p", "RowKey": "r"}),
    }
    with pytest.raises(HttpResponseError):
        calls[service]()
    assert len(_Busy.answered) == STORAGE_RESENDS + 1  # the first try and the resends
    # The waits of the shared backoff, a few seconds in all (the blob and queue SDKs' own
    # would be 15 s and more each). The tables SDK sends its first resend at once.
    assert len(waits) == STORAGE_RESENDS - (service == "table")
    assert all(0 < w <= STORAGE_BACKOFF.cap_seconds for w in waits)
    longest = sum(STORAGE_BACKOFF.backoff(n, draw=1.0) for n in range(1, STORAGE_RESENDS + 1))
    assert sum(waits) <= longest


def test_identity_connection_by_service_uris_as_the_functions_host_reads_it() -> None:
    # `AzureWebJobsStorage__queueServiceUri` / `__tableServiceUri` / `__blobServiceUri` instead
    # of `__accountName` (a private endpoint's or another cloud's host names): the settings
    # hand them on as endpoints without a key, and the clients use them with the identity.
    from shared.settings import Settings

    uris = {
        "AzureWebJobsStorage__queueServiceUri": "https://stcontoso.queue.core.usgovcloudapi.net",
        "AzureWebJobsStorage__tableServiceUri": "https://stcontoso.table.core.usgovcloudapi.net",
        "AzureWebJobsStorage__blobServiceUri": "https://stcontoso.blob.core.usgovcloudapi.net/",
    }
    value = Settings.from_env(uris).storage_connection.reveal()
    for make, service in ((queue_service, "queue"), (table_service, "table"),
                          (blob_service, "blob")):
        client = make(value)
        assert client.url.rstrip("/") == f"https://stcontoso.{service}.core.usgovcloudapi.net"
        assert isinstance(client.credential, DefaultAzureCredential)
    # An account name as well: the URIs given win, the name gives the rest.
    both = Settings.from_env({
        "AzureWebJobsStorage__accountName": "stcontoso",
        "AzureWebJobsStorage__queueServiceUri": "https://q.example.net",
    }).storage_connection.reveal()
    assert queue_service(both).url.rstrip("/") == "https://q.example.net"
    assert table_service(both).url.rstrip("/") == "https://stcontoso.table.core.windows.net"


def test_service_uris_without_an_account_name_need_both_queues_and_tables() -> None:
    from shared.errors import ConfigError
    from shared.settings import Settings

    with pytest.raises(ConfigError, match="AzureWebJobsStorage__tableServiceUri"):
        Settings.from_env({"AzureWebJobsStorage__queueServiceUri": "https://q.example.net"})
