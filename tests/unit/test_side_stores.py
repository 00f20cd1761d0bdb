"""Locks, claims and the environment directory: stores of their own beside the history."""

from __future__ import annotations

from typing import Any

from azure.data.tables import TableServiceClient

from shared.runtime import AppContext
from shared.storage.claims import RequestClaims, claims_for
from shared.storage.directory import EnvironmentDirectory, directory_for
from shared.storage.history import HistoryStore
from shared.storage.locks import EnvironmentLocks, locks_for

# Clients are built without a round trip: nothing here reaches storage.
ACCOUNT = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "TableEndpoint=http://127.0.0.1:1/devstoreaccount1;"
)


def context(prefix: str = "ppb") -> AppContext:
    history = HistoryStore(TableServiceClient.from_connection_string(ACCOUNT), prefix=prefix)
    none: Any = None  # settings, platform and queues play no part here
    return AppContext(settings=none, platform=none, history=history, queues=none)


def test_each_store_is_built_once_per_context_on_the_history_table_service() -> None:
    ctx = context(prefix="tenantA")
    locks, claims, directory = locks_for(ctx), claims_for(ctx), directory_for(ctx)
    assert (type(locks), type(claims), type(directory)) == (
        EnvironmentLocks, RequestClaims, EnvironmentDirectory
    )
    assert locks_for(ctx) is locks and claims_for(ctx) is claims
    assert directory_for(ctx) is directory
    for store in (locks, claims, directory):
        assert store.table_service is ctx.history.table_service  # one connection pool
        assert store.prefix == "tenantA"


def test_a_fresh_context_gets_fresh_stores() -> None:
    first, second = context(), context()
    assert locks_for(first) is not locks_for(second)
