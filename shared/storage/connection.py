"""Turn `AzureWebJobsStorage` into queue and table service clients.

Accepts what the Functions host accepts: a connection string, `UseDevelopmentStorage=true`
(Azurite on its default ports), or an identity-based connection (`AccountName=<name>`, which
settings builds from `AzureWebJobsStorage__accountName`), so local and cloud runs stay symmetric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

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
)

# Newer azure-storage-queue releases ask for service versions Azurite refuses (HTTP 400); this
# version is served by both Azure and Azurite 3.3x, so pinning it keeps one code path.
QUEUE_API_VERSION = "2025-11-05"


@dataclass(frozen=True, slots=True)
class StorageTarget:
    connection_string: str | None
    account_name: str | None

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
        if "AccountName" in parts:
            return cls(None, parts["AccountName"])
        raise ValueError(
            "AzureWebJobsStorage is neither a connection string, 'UseDevelopmentStorage=true' "
            "nor an identity-based account name"
        )


def table_service(value: str) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    target = StorageTarget.parse(value)
    if target.connection_string is not None:
        return TableServiceClient.from_connection_string(target.connection_string)
    return TableServiceClient(
        f"https://{target.account_name}.table.core.windows.net", credential=_credential()
    )


def queue_service(value: str) -> QueueServiceClient:
    from azure.storage.queue import QueueServiceClient

    target = StorageTarget.parse(value)
    if target.connection_string is not None:
        return QueueServiceClient.from_connection_string(
            target.connection_string, api_version=QUEUE_API_VERSION
        )
    return QueueServiceClient(
        f"https://{target.account_name}.queue.core.windows.net",
        credential=_credential(),
        api_version=QUEUE_API_VERSION,
    )


def _credential() -> TokenCredential:
    # Imported lazily: azure.identity is heavy and only the identity-based path needs it.
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
