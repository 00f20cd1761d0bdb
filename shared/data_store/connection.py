"""Open the backup store named by the settings (DATA_BACKUP_STORAGE, DATA_BACKUP_CONTAINER)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.data_store.store import DataStore

if TYPE_CHECKING:
    from shared.settings import Settings


def open_data_store(
    connection: str, container: str, *, service_uri: str | None = None
) -> DataStore:
    """A store over `container` of the account a connection value (or a blob service URI with
    the managed identity) names."""
    from shared.storage.connection import blob_service

    service = blob_service(connection, service_uri=service_uri)
    return DataStore(service.get_container_client(container))


def data_store_from_settings(settings: Settings) -> DataStore:
    return open_data_store(
        settings.data_backup_storage.reveal(),
        settings.data_backup_container,
        service_uri=settings.data_backup_blob_service_uri,
    )
