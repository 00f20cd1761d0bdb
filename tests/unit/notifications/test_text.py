from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifications.text import (
    ELLIPSIS,
    clean,
    escape_markdown,
    format_duration,
    inert,
    shorten,
)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("Release *4.2*", r"Release \*4.2\*"),
        ("[click](https://evil.example)", r"\[click\](https://evil.example)"),
        ("switch_to_production", "switch_to_production"),  # intraword: left readable
        ("_private_ value", r"\_private\_ value"),
        ("# not a heading", r"\# not a heading"),
        ("- not a list", r"\- not a list"),
        ("1. not a list", r"1\. not a list"),
        ("> not a quote", r"\> not a quote"),
        ("a > b - c", "a > b - c"),
        (r"back\slash", r"back\\slash"),
        ("{{DATE(2017-02-14T06:08:39Z, SHORT)}}", "{\u200b{DATE(2017-02-14T06:08:39Z, SHORT)}}"),
        ("plain words", "plain words"),
    ],
)
def test_escape_markdown(raw: str, escaped: str) -> None:
    assert escape_markdown(raw) == escaped


def test_clean_makes_one_safe_line() -> None:
    assert clean("line one\n\n- line two\r\n\tend ") == "line one - line two end"
    assert clean("evil\u202etxt.exe") == "eviltxt.exe"
    assert clean("lone \ud800 surrogate") == "lone \ufffd surrogate"  # as decoders do
    assert clean("zero\u200bwidth\u00adhidden") == "zerowidthhidden"
    assert clean("nul\x00byte") == "nul byte"


def test_shorten_marks_a_cut_with_an_ellipsis() -> None:
    assert shorten("short", 10) == "short"
    assert shorten("a" * 20, 10) == "a" * 9 + ELLIPSIS
    assert len(shorten("word " * 100, 50)) <= 50
    with pytest.raises(ValueError, match="limit"):
        shorten("x", 0)


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_inert_never_grows_past_twice_the_limit_and_is_one_line(text: str, limit: int) -> None:
    result = inert(text, limit)
    assert len(result) <= 2 * limit + 1  # every character escaped at worst, plus a ZWSP per {{
    assert "\n" not in result
    result.encode("utf-8")  # no lone surrogates left


def test_inert_shortens_before_escaping() -> None:
    # Cutting after escaping could leave a lone backslash that escapes the ellipsis.
    assert inert("*" * 50, 10) == "\\*" * 9 + ELLIPSIS


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45.4, "45 s"), (60, "1 min"), (3599, "59 min"), (3600 + 300, "1 h 05 min"),
     (26 * 3600, "1 d 2 h"), (-5, "0 s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
