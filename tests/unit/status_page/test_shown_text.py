"""The status page leaves out of what it shows the characters the app refuses or removes from
requests (`shared.inputs`): the same classes, held together here, since the page is JavaScript."""

from __future__ import annotations

import re
from pathlib import Path

from shared.inputs import DIRECTION_MARKS, INVISIBLE, REORDERING

APP_JS = Path(__file__).resolve().parents[3] / "status_page" / "static" / "app.js"


def _expand(body: str) -> set[int]:
    """The code points of a character class's body (characters and `a-b` ranges)."""
    points: set[int] = set()
    chars = list(body)
    i = 0
    while i < len(chars):
        if i + 2 < len(chars) and chars[i + 1] == "-":
            points.update(range(ord(chars[i]), ord(chars[i + 2]) + 1))
            i += 3
        else:
            points.add(ord(chars[i]))
            i += 1
    return points


def _js_class(name: str) -> set[int]:
    source = APP_JS.read_text(encoding="utf-8")
    found = re.search(rf"const {name} =\s*/\[(.*?)\]/", source)
    assert found is not None, name
    body = re.sub(r"\\u\{([0-9a-fA-F]+)\}|\\u([0-9a-fA-F]{4})",
                  lambda m: chr(int(m.group(1) or m.group(2), 16)), found.group(1))
    return _expand(body)


def test_the_page_leaves_out_what_requests_cannot_hold() -> None:
    assert _js_class("REORDERING_OR_INVISIBLE") == _expand(REORDERING) | _expand(INVISIBLE)
    assert _js_class("DIRECTION_MARKS") == _expand(DIRECTION_MARKS)
