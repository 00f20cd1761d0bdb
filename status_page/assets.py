"""The page's files, shipped as package data (no build step) and read once per process."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def read_asset(name: str) -> str:
    return (resources.files("status_page") / "static" / name).read_text(encoding="utf-8")
