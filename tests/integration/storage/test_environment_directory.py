"""Environment names remembered from listings: one point read names an environment."""

from __future__ import annotations

from shared.storage.connection import table_service
from shared.storage.directory import EnvironmentDirectory

ENV = "11111111-2222-3333-4444-555555555555"


def test_names_are_remembered_and_refreshed(storage: str) -> None:
    directory = EnvironmentDirectory(table_service(storage))
    assert directory.name_of(ENV) is None
    assert directory.remember([(ENV.upper(), "Contoso Prod"), ("bad id/#", "x")]) == 1
    assert directory.name_of(ENV) == "Contoso Prod"
    directory.remember([(ENV, "Contoso Production")])
    assert directory.name_of(ENV.upper()) == "Contoso Production"
    assert directory.name_of("not a key/") is None


def test_many_names_are_written_in_batches(storage: str) -> None:
    directory = EnvironmentDirectory(table_service(storage))
    names = [(f"{i:08x}-0000-4000-8000-000000000000", f"Env {i}") for i in range(250)]
    assert directory.remember(names) == 250
    assert directory.name_of(names[249][0]) == "Env 249"
