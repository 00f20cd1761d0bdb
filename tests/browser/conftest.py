"""A real Chromium (Debian's package, `./setup --browser`) driven by Playwright, no download.

Where no browser is installed the browser tests skip and say how to install one; in CI
(`CI=true`, where .ci/run installs it) a missing browser fails instead of skipping.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.restore.conftest import make_stack

__all__ = ["make_stack"]

CHROMIUM = Path(os.environ.get("PPBACKUP_CHROMIUM", "/usr/bin/chromium"))
# The README's screenshots are refreshed on request (PPBACKUP_SCREENSHOTS=docs/img); an ordinary
# run writes them where it cannot dirty the work tree.
SCREENSHOTS = Path(
    os.environ.get("PPBACKUP_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / "ppbackup-screenshots"
).resolve()
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI installs it: .ci/run runs ./setup --browser)")
    pytest.skip(f"{reason}: install Debian's Chromium with ./setup --browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        # --no-sandbox: CI and these machines run as root, where Chromium's sandbox cannot start.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=LAPTOP)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page raised: {errors}"
