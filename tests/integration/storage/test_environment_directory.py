"""Environment names remembered from listings: one point read names an environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.storage.connection import table_service
from shared.storage.directory import NAME_TTL, EnvironmentDirectory

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


def test_a_name_is_used_from_memory_for_a_while(storage: str) -> None:
    now = [datetime(2026, 12, 3, 12, tzinfo=UTC)]
    directory = EnvironmentDirectory(table_service(storage), clock=lambda: now[0])
    another_instance = EnvironmentDirectory(table_service(storage))
    other = "22222222-2222-3333-4444-555555555555"
    directory.remember([(ENV, "Contoso Prod")])
    assert directory.name_of(other) is None
    another_instance.remember([(ENV, "Contoso Production"), (other, "Fabrikam")])
    # Within the time a name is kept, this instance names both without reading them again.
    now[0] += NAME_TTL - timedelta(seconds=1)
    assert directory.name_of(ENV) == "Contoso Prod"
    assert directory.name_of(other) is None
    # Then it reads the table again.
    now[0] += timedelta(seconds=1)
    assert directory.name_of(ENV) == "Contoso Production"
    assert directory.name_of(other) == "Fabrikam"
