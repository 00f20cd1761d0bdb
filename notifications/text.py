"""Text for Teams cards: cleaned, shortened and made inert for Markdown.

Teams renders Markdown in TextBlocks and facts, and the text we show comes from requesters
(labels, reasons), the platform (error messages) and environment names anyone with admin rights
can set. Nothing of that may turn into a link, a list or emphasis that changes what the card says.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shared.inputs import readable

ELLIPSIS = "…"

# Runs of whitespace: `shared.inputs.readable` makes control characters and line breaks spaces
# (a paragraph break inside a fact would start a new Markdown block).
_WHITESPACE = re.compile(r"\s+")
# Markdown characters the Adaptive Card renderers act on anywhere in a line.
_INLINE = re.compile(r"[\\*\[\]`~]")
# `_` only emphasises at a word edge (CommonMark's intraword rule), so `switch_to_production`
# and error codes stay readable on clients that show backslashes literally (older mobile apps).
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# Block markers count only at the start of the text once newlines are gone.
_BLOCK_START = re.compile(r"^(#+|>|[-+]|\d+[.)])(?=\s|$)")


def clean(value: object) -> str:
    """One line of displayable text: whitespace collapsed, what hides or reorders text removed
    (an environment name read backwards is "Trojan Source" spoofing), a lone surrogate (which
    UTF-8 cannot carry: the POST would fail) replaced (`shared.inputs.readable`)."""
    return _WHITESPACE.sub(" ", readable(str(value))).strip()


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis when it was cut."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def escape_markdown(text: str) -> str:
    """Backslash-escape what Teams would read as Markdown; the words themselves are unchanged."""
    text = _INLINE.sub(lambda m: "\\" + m.group(0), text)
    text = _UNDERSCORE.sub(r"\\_", text)
    text = _BLOCK_START.sub(lambda m: _escape_block_marker(m.group(0)), text)
    # Teams expands `{{DATE(...)}}`/`{{TIME(...)}}` in TextBlocks; a zero-width space breaks it.
    return text.replace("{{", "{\u200b{")


def inert(value: object, limit: int) -> str:
    """The whole pipeline for untrusted text: clean, shorten, then escape.

    Shortening happens before escaping so an ellipsis never splits an escape sequence.
    """
    return escape_markdown(shorten(clean(value), limit))


def display_name(name: str | None, environment_id: str) -> str:
    """How an environment is called on a card: its name, else its id (cleaned, not shortened)."""
    return clean(name or "") or clean(environment_id) or "the environment"


def format_instant(value: datetime) -> str:
    """`2026-11-21 01:45 UTC`: what an operator reads at a glance, unambiguous across zones."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h 05 min`, `2 d 4 h` (restores run for hours or days)."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, _ = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _escape_block_marker(marker: str) -> str:
    if marker[0].isdigit():
        return marker[:-1] + "\\" + marker[-1]
    return "\\" + marker
