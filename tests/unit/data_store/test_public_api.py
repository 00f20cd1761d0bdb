"""The package's exports all resolve, and settings load the retention rule without the store."""

from __future__ import annotations

import subprocess
import sys

import shared.data_store as data_store


def test_every_export_resolves() -> None:
    for name in data_store.__all__:
        assert getattr(data_store, name) is not None, name


def test_settings_do_not_load_the_store_or_the_blob_sdk() -> None:
    code = ("import sys, shared.settings; "
            "print(sorted(m for m in sys.modules if m.startswith(('azure.storage.blob', "
            "'shared.data_store.store'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
