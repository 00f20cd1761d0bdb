"""local.settings.json: Values as app settings, the real environment winning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ppbackup.local_settings import apply_local_settings, load_local_settings, merge_local_settings
from shared.errors import ConfigError


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_missing_file_means_no_settings(tmp_path: Path) -> None:
    assert load_local_settings(tmp_path / "local.settings.json") == {}


def test_values_are_read_and_the_environment_wins(tmp_path: Path) -> None:
    path = write(tmp_path / "local.settings.json", {
        "IsEncrypted": False,
        "Values": {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "PP_AUTH": "none"},
        "Host": {"LocalHttpPort": 7072},
    })
    assert load_local_settings(path) == {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true", "PP_AUTH": "none",
    }
    environ = {"PP_AUTH": "client_secret"}
    added = apply_local_settings(environ, path=path)
    assert added == ["AzureWebJobsStorage"]
    assert environ == {
        "PP_AUTH": "client_secret", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    }
    merged = merge_local_settings({"A": "env"}, {"A": "file", "B": "file"})
    assert merged == {"A": "env", "B": "file"}


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"Values": {"A": "1"}}).encode())
    assert load_local_settings(path) == {"A": "1"}


def test_non_string_values_are_all_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "local.settings.json", {"Values": {"A": 1, "B": True, "C": "ok"}})
    with pytest.raises(ConfigError) as raised:
        load_local_settings(path)
    assert len(raised.value.problems) == 2


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps([1]), json.dumps({"Values": []}), json.dumps({"IsEncrypted": True})],
)
def test_malformed_files_are_config_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(content)
    with pytest.raises(ConfigError):
        load_local_settings(path)
