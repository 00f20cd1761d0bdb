from __future__ import annotations

import pytest

from shared.data_store import DataStore, open_data_store

ENV = "6b1c2d3e-0000-4000-8000-00000000e001"


@pytest.fixture
def store(storage: str) -> DataStore:
    data = open_data_store(storage, "ppbackup-data")
    data.ensure_container()
    return data
