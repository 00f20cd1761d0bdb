"""JSON text for people and HTTP answers: any stored value prints, as UTF-8 that reads back."""

from __future__ import annotations

import argparse
import io
import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppbackup.cli import emit
from shared import json_text

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(VALUES)
def test_any_value_is_utf8_json_that_reads_back(value: object) -> None:
    text = json_text.dumps(value)
    assert json.loads(text.encode("utf-8")) == value


def test_readable_where_it_can_be() -> None:
    assert json_text.dumps({"name": "Søren Ö"}) == '{"name": "Søren Ö"}'


def test_the_cli_prints_a_stored_lone_surrogate_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    # A row as Dataverse sent it (the store keeps unpaired surrogates) on a strict UTF-8 stdout.
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stdout", out)
    document = {"versions": [{"row": {"name": "Contoso \ud800 Ltd"}}]}
    emit(argparse.Namespace(json=True), document, lambda: "")
    out.seek(0)
    assert json.loads(out.buffer.read()) == document
