"""Environment names remembered from listings: one point read names an environment."""

from __future__ import annotations

from shared.storage.history import HistoryStore

ENV = "11111111-2222-3333-4444-555555555555"


def test_names_are_remembered_and_refreshed(storage: str) -> None:
    store = HistoryStore.from_connection(storage)
    assert store.environment_name(ENV) is None
    assert store.remember_environment_names([(ENV.upper(), "Contoso Prod"), ("bad id/#", "x")]) == 1
    assert store.environment_name(ENV) == "Contoso Prod"
    store.remember_environment_names([(ENV, "Contoso Production")])
    assert store.environment_name(ENV.upper()) == "Contoso Production"
    assert store.environment_name("not a key/") is None


def test_many_names_are_written_in_batches(storage: str) -> None:
    store = HistoryStore.from_connection(storage)
    names = [(f"{i:08x}-0000-4000-8000-000000000000", f"Env {i}") for i in range(250)]
    assert store.remember_environment_names(names) == 250
    assert store.environment_name(names[249][0]) == "Env 249"
