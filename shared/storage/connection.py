"""Turn `AzureWebJobsStorage` into queue and table service clients.

Accepts what the Functions host accepts: a connection string, `UseDevelopmentStorage=true`
(Azurite on its default ports), or an identity-based connection (`AccountName=<name>` and/or
`QueueEndpoint=`/`TableEndpoint=`/`BlobEndpoint=` without a key, which settings builds from
`AzureWebJobsStorage__accountName` and `__queueServiceUri`/`__tableServiceUri`/`__blobServiceUri`),
so local and cloud runs stay symmetric.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar, cast

from shared import jitter
from shared.policy.backoff import Backoff

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import RequestsTransport
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

C = TypeVar("C", bound="_ServiceClient")
P = TypeVar("P")

# The well-known Azurite development account; public by design, not a secret.
DEV_ACCOUNT_NAME = "devstoreaccount1"
DEV_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
DEV_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;"
    f"AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};"
    f"QueueEndpoint=http://127.0.0.1:10001/{DEV_ACCOUNT_NAME};"
    f"TableEndpoint=http://127.0.0.1:10002/{DEV_ACCOUNT_NAME};"
    f"BlobEndpoint=http://127.0.0.1:10000/{DEV_ACCOUNT_NAME};"
)

# Newer azure-storage-queue releases ask for service versions Azurite refuses (HTTP 400); this
# version is served by both Azure and Azurite 3.3x, so pinning it keeps one code path.
QUEUE_API_VERSION = "2025-11-05"


@dataclass(frozen=True, slots=True)
class StorageTarget:
    connection_string: str | None
    account_name: str | None
    # Identity-based, by service ("queue", "table", "blob"): from `...Endpoint=` without a key
    # (settings builds them from `AzureWebJobsStorage__queueServiceUri` and the like).
    endpoints: tuple[tuple[str, str], ...] = ()

    def endpoint(self, service: str) -> str:
        found = dict(self.endpoints).get(service)
        if found:
            return found
        if self.account_name is None:
            raise ValueError(
                f"the identity-based storage connection names no {service} endpoint: set "
                f"AzureWebJobsStorage__accountName or AzureWebJobsStorage__{service}ServiceUri"
            )
        return f"https://{self.account_name}.{service}.core.windows.net"

    @classmethod
    def parse(cls, value: str) -> StorageTarget:
        text = value.strip()
        if text.lower().replace(" ", "") == "usedevelopmentstorage=true":
            return cls(DEV_CONNECTION_STRING, None)
        parts = dict(
            p.split("=", 1) for p in text.split(";") if "=" in p
        )
        if "AccountKey" in parts or "SharedAccessSignature" in parts:
            return cls(text, None)
        endpoints = tuple(
            (service, parts[f"{service.title()}Endpoint"].strip())
            for service in ("queue", "table", "blob")
            if parts.get(f"{service.title()}Endpoint", "").strip()
        )
        if "AccountName" in parts or endpoints:
            return cls(None, parts.get("AccountName"), endpoints)
        raise ValueError(
            "AzureWebJobsStorage is neither a connection string, 'UseDevelopmentStorage=true' "
            "nor an identity-based account name"
        )


# azure-core's default requests pool keeps 10 connections per host, but one process runs up to
# `batchSize + newBatchThreshold` (24) invocations per queue, all sharing these clients; a pool
# that small keeps discarding and reopening connections under load.
DEFAULT_POOL_SIZE = 64


# The storage SDKs' own resends, the same for all three: a blip of the storage service is sent
# again a few times within seconds; anything longer fails the step, and the message's redelivery
# brings it back later. Their defaults would have a function sleep instead: the blob and queue
# SDKs wait 15, 18 and 24 s, the tables SDK resends up to 10 times with waits growing to 2
# minutes.
STORAGE_RESENDS = 3
STORAGE_BACKOFF = Backoff(
    base_seconds=0.5, cap_seconds=4.0, max_attempts=STORAGE_RESENDS + 1, jitter=(0.5, 1.0)
)


def table_service(value: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    # The tables SDK builds its retry policy itself (no policy object is taken): the same bounds
    # as numbers. Its waits are 0, then the backoff's (its first resend goes at once).
    return _service(
        TableServiceClient, "table", value, pool_size, retry_total=STORAGE_RESENDS,
        retry_backoff_factor=STORAGE_BACKOFF.base_seconds,
        retry_backoff_max=STORAGE_BACKOFF.cap_seconds,
    )


def queue_service(value: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> QueueServiceClient:
    from azure.storage.queue import ExponentialRetry, QueueServiceClient

    return _service(
        QueueServiceClient, "queue", value, pool_size, api_version=QUEUE_API_VERSION,
        retry_policy=_resends(ExponentialRetry),
    )


def blob_service(
    value: str, *, service_uri: str | None = None, pool_size: int = DEFAULT_POOL_SIZE
) -> BlobServiceClient:
    """A blob service from a connection value as above, or from a `...__blobServiceUri` setting
    (identity-based, as the Functions host reads it)."""
    from azure.storage.blob import BlobServiceClient, ExponentialRetry

    if service_uri is not None:
        return BlobServiceClient(
            service_uri, credential=_credential(), transport=_transport(pool_size),
            retry_policy=_resends(ExponentialRetry),
        )
    return _service(
        BlobServiceClient, "blob", value, pool_size, retry_policy=_resends(ExponentialRetry)
    )


def _resends(sdk_policy: type[P]) -> P:
    """The blob or queue SDK's retry policy (each has its own copy of the class), with
    `STORAGE_RESENDS` resends and the waits of `STORAGE_BACKOFF`."""
    # (A class is hashable; mypy does not see `type[P]` as such.)
    return cast(P, _resends_type(cast(Hashable, sdk_policy))(retry_total=STORAGE_RESENDS))


@functools.cache
def _resends_type(sdk_policy: Any) -> type[Any]:
    """`sdk_policy` with its waits from `STORAGE_BACKOFF` (one subclass per SDK's class)."""

    class Resends(sdk_policy):  # type: ignore[misc]
        def get_backoff_time(self, settings: dict[str, Any]) -> float:
            # `count`: the attempts failed so far (the SDK counts before it sleeps).
            return STORAGE_BACKOFF.backoff(int(settings["count"]), draw=jitter.draw())

    return Resends


class _ServiceClient(Protocol):
    """What the three SDKs' service clients have in common here."""

    def __init__(self, account_url: str, *, credential: Any, **options: Any) -> None: ...

    @classmethod
    def from_connection_string(cls, conn_str: str, **options: Any) -> Self: ...


def _service(
    client: type[C], service: str, value: str, pool_size: int, **options: Any
) -> C:
    """`client` from a connection string, or on the account's endpoint with the app's identity."""
    target = StorageTarget.parse(value)
    transport = _transport(pool_size)
    if target.connection_string is not None:
        return client.from_connection_string(
            target.connection_string, transport=transport, **options
        )
    return client(
        target.endpoint(service),
        credential=_credential(),
        transport=transport,
        **options,
    )


def _transport(pool_size: int) -> RequestsTransport:
    import urllib.request

    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    # As azure-core's own adapter: retries and redirects are the pipeline's business.
    adapter = HTTPAdapter(
        pool_maxsize=pool_size,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # requests looks for proxies, a CA bundle and ~/.netrc in the environment on every request
    # (a scan of the environment and a stat, about 0.5 ms of CPU per storage round trip). Read
    # once here instead: proxies, when set, keep that per-request reading (NO_PROXY and all); a
    # CA bundle is handed to the SDK once; .netrc never applies (the SDKs sign their requests).
    proxies = bool(urllib.request.getproxies())
    session.trust_env = proxies  # the session given, and any the transport makes to reopen
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return RequestsTransport(
        session=session,
        session_owner=True,
        use_env_settings=proxies,
        connection_verify=bundle or True,
    )


def _credential() -> TokenCredential:
    # Imported lazily: azure.identity is heavy and only the identity-based path needs it.
    from azure.identity import DefaultAzureCredential

    # A user-assigned identity (infra/) must be named, or DefaultAzureCredential asks for the
    # system-assigned one the app does not have; the Functions host reads the same setting.
    client_id = os.environ.get("AzureWebJobsStorage__clientId") or None
    return DefaultAzureCredential(managed_identity_client_id=client_id)
