"""The page's text colours pass WCAG AA (4.5:1) on every background they are used on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[3] / "status_page" / "static" / "app.css").read_text()
VARIABLES = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS))

# (text, background) as the stylesheet pairs them.
PAIRS = [
    ("text", "bg"), ("text", "card"), ("muted", "bg"), ("muted", "card"), ("link", "card"),
    ("link", "bg"), ("ok", "ok-bg"), ("bad", "bad-bg"), ("run", "run-bg"), ("warn", "warn-bg"),
    ("idle", "idle-bg"), ("text", "idle-bg"), ("link", "warn-bg"),
    ("#ffffff", "#1e293b"), ("#e2e8f0", "#1e293b"),  # the header bar
    ("#ffffff", "#1e40af"), ("#1e40af", "card"),  # buttons
]


def luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def resolve(name: str) -> str:
    return name if name.startswith("#") else VARIABLES[name]


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_contrast_is_at_least_aa(text: str, background: str) -> None:
    light, dark = sorted((luminance(resolve(text)), luminance(resolve(background))),
                         reverse=True)
    ratio = (light + 0.05) / (dark + 0.05)
    assert ratio >= 4.5, f"{text} on {background}: {ratio:.2f}:1"


def test_the_pairs_name_colours_the_stylesheet_uses() -> None:
    for text, background in PAIRS:
        for colour in (text, background):
            assert (colour.startswith("#") and colour in CSS) or colour in VARIABLES
