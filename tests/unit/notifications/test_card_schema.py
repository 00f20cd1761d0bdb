"""The checker itself: it must reject what Teams or the schema would, or the other tests prove
nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.notifications.card_schema import check_card, check_message

VALID: dict[str, Any] = {
    "type": "message",
    "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": "Hello", "wrap": True, "size": "Medium"},
                {"type": "FactSet", "facts": [{"title": "a", "value": "b"}]},
                {"type": "Container", "style": "good",
                 "items": [{"type": "TextBlock", "text": "x"}]},
                {"type": "ColumnSet", "columns": [{"type": "Column", "items": []}]},
            ],
            "actions": [{"type": "Action.OpenUrl", "title": "Open", "url": "https://x"}],
        },
    }],
}


def test_a_valid_message_passes() -> None:
    assert check_message(VALID) == []


def mutated(path: list[Any], value: Any) -> dict[str, Any]:
    message = copy.deepcopy(VALID)
    target: Any = message["attachments"][0]["content"]
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return message


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (["version"], "1.5", "version"),
        (["version"], KeyError, "version: required"),
        (["type"], KeyError, "must be AdaptiveCard"),
        (["$schema"], KeyError, "$schema"),
        (["body", 0, "text"], KeyError, "text: required"),
        (["body", 0, "text"], "", "non-empty string"),
        (["body", 0, "wraps"], True, "unknown property"),
        (["body", 0, "size"], "huge", "size"),
        (["body", 0, "wrap"], "yes", "boolean"),
        (["body", 1, "facts"], KeyError, "facts: required"),
        (["body", 1, "facts", 0], {"title": "a"}, "title and value"),
        (["body", 1, "facts", 0, "value"], 3, "non-empty string"),
        (["body", 2, "items"], KeyError, "items: required"),
        (["body", 2, "items"], [], "non-empty list"),
        (["body", 2, "style"], "loud", "style"),
        (["body", 3, "columns", 0, "type"], "Row", "not a Column"),
        (["body", 0, "type"], "Image", "not an allowed element type"),
        (["body"], [], "non-empty list"),
        (["actions", 0, "type"], "Action.Submit", "Action.Submit"),
        (["actions", 0, "url"], KeyError, "url"),
        (["actions", 0, "title"], KeyError, "title"),
    ],
)
def test_the_checker_catches(path: list[Any], value: Any, problem: str) -> None:
    problems = check_message(mutated(path, value))
    assert any(problem in p for p in problems), problems


def test_the_envelope_is_checked() -> None:
    assert check_message({"text": "legacy connector style"}) == ["$: not a message envelope"]
    no_null = copy.deepcopy(VALID)
    del no_null["attachments"][0]["contentUrl"]
    assert check_message(no_null) == ["$.attachments[0].contentUrl: must be present and null"]
    assert check_card("nope") == ["$: card is not an object"]
