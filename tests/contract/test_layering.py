"""The layering rules (.importlinter, lint-imports in CI) cover every package the app runs."""

from __future__ import annotations

import configparser

from tests.infra.test_template import ROOT, app_packages


def _listed(section: str, option: str) -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return {line.strip().removesuffix(".*") for line in config[section][option].splitlines()
            if line.strip()}


def test_every_app_package_is_checked_and_none_may_import_the_cli() -> None:
    # A new package left out of the config would escape both rules without a word.
    app = app_packages()
    assert app, "function_app.py imports no package?"
    assert app <= _listed("importlinter", "root_packages")
    assert app <= _listed("importlinter:contract:app-not-cli", "source_modules")
    assert {"ppbackup", "rich"} <= _listed("importlinter:contract:app-not-cli",
                                           "forbidden_modules")
