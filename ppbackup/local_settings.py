"""local.settings.json, read the way `func start` reads it.

Only `Values` matters here: each entry becomes an app setting unless the real environment
already has that name (the environment wins, as with Core Tools). Values must be strings; the
file is local-only and never committed (it holds secrets), so nothing here logs a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from shared.errors import ConfigError

DEFAULT_PATH = Path("local.settings.json")


def load_local_settings(path: Path = DEFAULT_PATH) -> dict[str, str]:
    """The `Values` of `path`; `{}` when the file does not exist.

    Raises `ConfigError` naming every problem: unreadable or invalid JSON, an encrypted file
    (`IsEncrypted: true`, which only Core Tools can decrypt), non-string values.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # editors on Windows add a BOM
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as error:  # Windows PowerShell 5.1 writes UTF-16 by default
        raise ConfigError([f"{path}: is not UTF-8 text; save it as UTF-8"]) from error
    except OSError as error:
        raise ConfigError([f"{path}: cannot be read ({error.strerror})"]) from error
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError([f"{path}: not valid JSON ({error.msg}, line {error.lineno})"]) from error
    if not isinstance(document, dict):
        raise ConfigError([f"{path}: the top level must be a JSON object"])
    if document.get("IsEncrypted") is True:
        raise ConfigError([f"{path}: is encrypted; decrypt it with `func settings decrypt`"])
    values = document.get("Values", {})
    if not isinstance(values, dict):
        raise ConfigError([f"{path}: 'Values' must be a JSON object of strings"])
    problems = [
        f"{path}: Values.{name} must be a string, got {type(value).__name__}"
        for name, value in values.items()
        if not isinstance(value, str)
    ]
    if problems:
        raise ConfigError(problems)
    return {str(name): value for name, value in values.items()}


def merge_local_settings(
    environ: Mapping[str, str], values: Mapping[str, str]
) -> dict[str, str]:
    """`values` under `environ`: a copy of `environ` plus every value it does not define."""
    return {**values, **environ}


def apply_local_settings(
    environ: MutableMapping[str, str], *, path: Path = DEFAULT_PATH
) -> list[str]:
    """Add local.settings.json's values to `environ` (e.g. `os.environ`) where absent.

    Returns the names added (never the values, which may be secrets).
    """
    added: list[str] = []
    for name, value in load_local_settings(path).items():
        if name not in environ:
            environ[name] = value
            added.append(name)
    return added
