"""Shared fixtures: one Azurite per test session, wiped clean for every test that asks for it.

Set PPBACKUP_TEST_STORAGE to a connection string to use an Azurite you started yourself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ppbackup.azurite import running_azurite
from shared.storage.connection import blob_service, queue_service, table_service

# Settings a developer may have exported must not leak into tests.
_APP_SETTINGS = (
    "AzureWebJobsStorage", "PP_API_URL", "PP_BAP_URL", "PP_AUTH", "PP_TENANT_ID", "PP_CLIENT_ID",
    "PP_CLIENT_SECRET", "PP_CLIENT_CERTIFICATE_PATH", "PP_CLIENT_CERTIFICATE_PASSWORD",
    "BACKUP_SCHEDULE", "BACKUP_SCOPE", "BACKUP_LABEL_TEMPLATE", "RESTORE_ALLOW_PRODUCTION",
    "RESTORE_TIMEOUT_HOURS", "TEAMS_WEBHOOK_URL", "NOTIFY_WEBHOOK_URL", "NOTIFY_WEBHOOK_SECRET",
    "DATA_BACKUP_STORAGE", "DATA_BACKUP_STORAGE__blobServiceUri", "DATA_BACKUP_CONTAINER",
    "DATA_BACKUP_RETENTION",
)


@pytest.fixture(autouse=True)
def _clean_app_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _APP_SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def azurite_connection() -> Iterator[str]:
    given = os.environ.get("PPBACKUP_TEST_STORAGE")
    if given:
        yield given
        return
    with running_azurite() as endpoints:
        yield endpoints.connection_string


@pytest.fixture
def storage(azurite_connection: str) -> str:
    """A connection string to an empty Azurite: every table, queue and blob container of earlier
    tests is gone."""
    tables = table_service(azurite_connection)
    for table in list(tables.list_tables()):
        tables.delete_table(table.name)
    queues = queue_service(azurite_connection)
    for queue in list(queues.list_queues()):
        queues.delete_queue(queue.name)
    if "blobendpoint=" in azurite_connection.lower():  # a PPBACKUP_TEST_STORAGE may lack blobs
        blobs = blob_service(azurite_connection)
        for container in list(blobs.list_containers()):
            blobs.delete_container(container.name)
    return azurite_connection
