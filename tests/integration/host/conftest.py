"""Fixtures for the local host tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.host.helpers import FAST_QUEUES


@pytest.fixture
def host_json(tmp_path: Path) -> Callable[..., Path]:
    """Write a host.json: FAST_QUEUES overridden by keyword arguments (camelCase names)."""

    def write(*, http: dict[str, Any] | None = None, **queues: Any) -> Path:
        extensions: dict[str, Any] = {"queues": {**FAST_QUEUES, **queues}}
        if http is not None:
            extensions["http"] = http
        path = tmp_path / "host.json"
        path.write_text(json.dumps({"version": "2.0", "extensions": extensions}))
        return path

    return write
