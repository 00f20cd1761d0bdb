"""The data backup settings: scope (empty: no timer rounds), schedule, tables, exclusions."""

from __future__ import annotations

import pytest

from shared.errors import ConfigError
from shared.settings import DEFAULT_DATA_BACKUP_EXCLUSIONS, Settings

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def test_the_defaults_run_no_timer_round_and_copy_every_table() -> None:
    settings = Settings.from_env(BASE)
    scope = settings.data_backup_scope
    assert not (scope.everything or scope.environment_ids or scope.types)
    assert settings.data_backup_schedule == "0 0 2 * * *"
    assert settings.data_backup_tables is None
    assert settings.data_backup_exclude_tables == frozenset()
    assert {"audit", "asyncoperation", "plugintracelog"} <= DEFAULT_DATA_BACKUP_EXCLUSIONS


def test_values_are_read() -> None:
    settings = Settings.from_env({
        **BASE, "DATA_BACKUP_SCOPE": "type:Sandbox, 6B1C2D3E-0000-4000-8000-00000000E001",
        "DATA_BACKUP_SCHEDULE": "0 30 3 * * *", "DATA_BACKUP_TABLES": "account, Contact,account",
        "DATA_BACKUP_EXCLUDE_TABLES": "new_importlog",
    })
    assert settings.data_backup_scope.types == frozenset({"Sandbox"})
    assert settings.data_backup_scope.environment_ids == {"6b1c2d3e-0000-4000-8000-00000000e001"}
    assert settings.data_backup_schedule == "0 30 3 * * *"
    assert settings.data_backup_tables == ("account", "contact")
    assert settings.data_backup_exclude_tables == frozenset({"new_importlog"})


def test_every_bad_value_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE, "DATA_BACKUP_SCOPE": "prod", "DATA_BACKUP_SCHEDULE": "daily",
                           "DATA_BACKUP_TABLES": "account,a-b",
                           "DATA_BACKUP_EXCLUDE_TABLES": "x y"})
    text = str(raised.value)
    for name in ("DATA_BACKUP_SCOPE", "DATA_BACKUP_SCHEDULE", "DATA_BACKUP_TABLES",
                 "DATA_BACKUP_EXCLUDE_TABLES"):
        assert name in text
    assert "'a-b'" in text
