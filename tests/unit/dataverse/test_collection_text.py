"""A collection answer read item by item keeps each row's text: the same values `json.loads`
gives, and the text a backup stores as it came; msgspec's split of a page reads it as the walk
does (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.dataverse import PageCursor
from shared.dataverse.pages import (
    FORMATTED_VALUE,
    _split_rows,
    _walk_rows,
    parse_page,
    read_collection,
)

CURSOR = PageCursor("https://org.example.com/api/data/v9.2/accounts")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
layouts = st.sampled_from([
    {}, {"indent": 2}, {"separators": (",", ":")}, {"separators": (" , ", " : ")},
    {"ensure_ascii": False},
])


def collect(text: str) -> tuple[dict[str, Any], list[tuple[Any, str]] | None]:
    items: list[tuple[Any, str]] = []
    members, listed = read_collection(text, lambda item, item_text: items.append(
        (item, item_text)))
    return members, items if listed else None


@settings(max_examples=200, deadline=None)
@given(st.lists(objects, max_size=6), objects, layouts)
def test_values_and_members_are_what_json_loads_reads_whatever_the_layout(
    items: list[dict[str, Any]], members: dict[str, Any], layout: dict[str, Any]
) -> None:
    doc = {**{k: v for k, v in members.items() if k != "value"}, "value": items}
    text = json.dumps(doc, **layout)
    read, found = collect(text)
    assert found is not None
    assert read == {k: v for k, v in doc.items() if k != "value"}
    assert [item for item, _ in found] == items
    # Each item's text is its own: it reads back as the item.
    assert [json.loads(item_text) for _, item_text in found] == items


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | json_values.map(json.dumps))
def test_any_text_is_read_as_json_loads_reads_it_or_refused_with_value_error(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError:
        expected = ValueError
    try:
        members, items = collect(text)
    except ValueError:
        assert expected is ValueError or not isinstance(expected, dict)
        return
    assert isinstance(expected, dict)
    whole = dict(members)
    if items is not None:
        whole["value"] = [item for item, _ in items]
    assert whole == expected


@pytest.mark.parametrize("text", [
    "", "[]", "null", '{"value": [1, 2}', '{"value": [{"a": 1},]}', '{"value": [] } x',
    '{"a" 1}', '{1: 2}', '{"value": [{"a": 1} {"b": 2}]}', '{"value": [], "value": []}',
])
def test_malformed_answers_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"JSON object|expected|Expecting|extra data|string|two"):
        collect(text)


def test_a_value_that_is_no_array_is_no_collection() -> None:
    assert collect('{"value": 3}') == ({"value": 3}, None)
    for id_column in (None, "accountid"):
        with pytest.raises(ValueError, match="no 'value' list"):
            parse_page('{"value": {"a": 1}}', CURSOR, dop_hint=None, request_id="r",
                       id_column=id_column)


PLAIN = '{"accountid":"a1","revenue":12345678901234567.891,"name":"caf\\u00e9 \\ud800"}'
LABELLED = json.dumps({"accountid": "a2", "revenue": 1.5, f"revenue{FORMATTED_VALUE}": "$1.50"})
SPREAD = '{\n  "accountid": "a3",  "name": "x"\n}'
GONE = json.dumps({"@odata.context": "x/$metadata#accounts/$deletedEntity", "id": "a4",
                   "reason": "deleted"})
ANSWER = f'{{"value": [{PLAIN}, {LABELLED}, {SPREAD}, {GONE}], "@odata.deltaLink": "{CURSOR.url}"}}'


def test_a_page_read_for_a_backup_is_each_rows_text_and_id() -> None:
    page = parse_page(ANSWER, CURSOR, dop_hint=None, request_id="r", id_column="accountid")
    # The decimal's digits and the escapes stay as the server wrote them; a row with labels or
    # over lines is stored cleaned, on one line.
    assert page.lines == (PLAIN.encode(), b'{"accountid":"a2","revenue":1.5}',
                          b'{"accountid":"a3","name":"x"}')
    assert page.ids == ("a1", "a2", "a3")
    assert page.rows == () and page.row_count == 3
    assert [d.id for d in page.deleted] == ["a4"]
    assert page.delta_link == CURSOR.url


def test_a_page_read_for_its_rows_has_them_cleaned_and_no_texts() -> None:
    page = parse_page(ANSWER, CURSOR, dop_hint=None, request_id="r")
    assert page.rows == (json.loads(PLAIN), {"accountid": "a2", "revenue": 1.5},
                         {"accountid": "a3", "name": "x"})
    assert page.lines == () and page.ids == () and page.row_count == 3
    assert [d.id for d in page.deleted] == ["a4"]


def test_a_row_without_its_id_is_an_unexpected_answer() -> None:
    with pytest.raises(ValueError, match="without its id column 'accountid'"):
        parse_page('{"value": [{"name": "x"}]}', CURSOR, dop_hint=None, request_id="r",
                   id_column="accountid")


rows = st.one_of(
    st.builds(lambda row_id, rest: {**rest, "accountid": row_id}, st.text(min_size=1), objects),
    st.builds(lambda row_id: {"@odata.context": "x/$metadata#accounts/$deletedEntity",
                              "id": row_id, "reason": "deleted"}, st.text(min_size=1)),
    st.builds(lambda row_id, label: {"accountid": row_id, "revenue": 2.5,
                                     f"revenue{FORMATTED_VALUE}": label}, st.text(min_size=1),
              st.text()),
)


def _answer(items: list[dict[str, Any]], layout: dict[str, Any], next_link: str | None) -> str:
    text = json.dumps({"@odata.context": "x", "value": items, "@odata.nextLink": next_link},
                      **layout)
    assume("Infinity" not in text)  # not JSON (Python's json writes it; no server sends it)
    return text


@settings(max_examples=300, deadline=None)
@given(st.lists(rows, max_size=6), layouts, st.sampled_from([None, "https://next.example/p2"]))
def test_msgspecs_split_of_a_page_is_the_walks(
    items: list[dict[str, Any]], layout: dict[str, Any], next_link: str | None
) -> None:
    text = _answer(items, layout, next_link)
    split = _split_rows(text, "accountid")
    assert split is not None  # the common answer never needs the walk
    walked = _walk_rows(text, "accountid")
    assert split[1:] == walked[1:]
    assert split[0]["@odata.nextLink"] == walked[0]["@odata.nextLink"]
    page = parse_page(text, CURSOR, dop_hint=None, request_id="r", id_column="accountid")
    assert [json.loads(line) for line in page.lines] == [
        {k: v for k, v in item.items() if not k.endswith(FORMATTED_VALUE)}
        for item in items if "accountid" in item]


@pytest.mark.parametrize("text", [
    ANSWER,  # an escaped lone surrogate: msgspec refuses it, the walk reads it
    '{"value": [{"accountid": 7}]}', '{"value": [3]}', '{"value": [{"accountid": "a"},]}',
    '{"value": [{"@odata.context": "x/$deletedEntity"}]}', '{"value": 1}', "[]",
])
def test_what_msgspec_does_not_read_is_left_to_the_walk(text: str) -> None:
    assert _split_rows(text, "accountid") is None


def _same_page(a: Any, b: Any) -> None:
    assert (a.lines, a.ids, a.deleted, a.next, a.delta_link) == (
        b.lines, b.ids, b.deleted, b.next, b.delta_link)


@settings(max_examples=300, deadline=None)
@given(st.lists(rows, max_size=6), layouts, st.sampled_from([None, "https://next.example/p2"]))
def test_a_page_read_from_its_bytes_is_the_page_read_from_its_text(
    items: list[dict[str, Any]], layout: dict[str, Any], next_link: str | None
) -> None:
    text = _answer(items, layout, next_link)
    from_text = parse_page(text, CURSOR, dop_hint=None, request_id="r", id_column="accountid")
    # (What a server sends: lone surrogates only as escapes, which `json.dumps` writes unless
    # told not to escape; a raw one is no UTF-8, below.)
    assume(not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text))
    from_bytes = parse_page(text.encode(), CURSOR, dop_hint=None, request_id="r",
                            id_column="accountid")
    _same_page(from_bytes, from_text)


@pytest.mark.parametrize("bad", [b"\xff", b"\xed\xa0\x80", b"\xc3", b"caf\xe9"])
def test_bytes_that_are_no_utf8_read_as_the_text_httpx_makes_of_them(bad: bytes) -> None:
    answer = b'{"value": [{"accountid": "a1", "name": "' + bad + b'"}]}'
    from_bytes = parse_page(answer, CURSOR, dop_hint=None, request_id="r", id_column="accountid")
    from_text = parse_page(answer.decode("utf-8", errors="replace"), CURSOR, dop_hint=None,
                           request_id="r", id_column="accountid")
    _same_page(from_bytes, from_text)
    # What is stored is UTF-8 a restore can read (the replacement character where the bytes
    # were not).
    assert json.loads(from_bytes.lines[0].decode("utf-8"))["name"].endswith("\ufffd")
