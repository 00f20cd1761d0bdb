"""A small Adaptive Card checker: the schema's required fields plus Teams' webhook rules.

Written from the Adaptive Card 1.4 schema (adaptivecards.io/schemas/adaptive-card.json): required
properties per element type, the allowed property names (so a typo such as `wraps` is caught
instead of silently ignored by Teams), enumerated values, and a version no higher than Teams
renders. Teams' webhook rules on top: no Action.Submit, and only the element types this project
uses (TextBlock, FactSet, Container, ColumnSet/Column).
"""

from __future__ import annotations

from typing import Any

MAX_VERSION = (1, 4)
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

_COMMON = {"type", "id", "isVisible", "separator", "spacing", "height", "fallback", "requires"}
_ELEMENTS: dict[str, tuple[set[str], set[str]]] = {
    # type: (required, allowed besides _COMMON)
    "TextBlock": (
        {"text"},
        {"text", "color", "fontType", "horizontalAlignment", "isSubtle", "maxLines", "size",
         "weight", "wrap"},
    ),
    "FactSet": ({"facts"}, {"facts"}),
    "Container": (
        {"items"},
        {"items", "selectAction", "style", "verticalContentAlignment", "bleed",
         "backgroundImage", "minHeight"},
    ),
    "ColumnSet": (set(), {"columns", "selectAction", "style", "bleed", "minHeight",
                          "horizontalAlignment"}),
}
_COLUMN = {"type", "items", "backgroundImage", "bleed", "fallback", "minHeight", "separator",
           "spacing", "selectAction", "style", "verticalContentAlignment", "width", "id",
           "isVisible", "requires"}
_CARD = {"type", "version", "$schema", "body", "actions", "selectAction", "fallbackText",
         "backgroundImage", "minHeight", "speak", "lang", "verticalContentAlignment", "msteams",
         "refresh", "authentication", "metadata"}
_OPEN_URL = {"type", "url", "title", "iconUrl", "id", "style", "fallback", "requires"}
_ENUMS = {
    "size": {"default", "small", "medium", "large", "extralarge"},
    "weight": {"default", "lighter", "bolder"},
    "color": {"default", "dark", "light", "accent", "good", "warning", "attention"},
    "spacing": {"default", "none", "small", "medium", "large", "extralarge", "padding"},
    "style": {"default", "emphasis", "good", "attention", "warning", "accent"},
}
_BOOLEANS = {"wrap", "isSubtle", "bleed", "separator", "isVisible"}


def check_message(message: Any) -> list[str]:
    """Problems with a Teams Workflows message (envelope + card); empty when it is valid."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return ["$: not a message envelope"]
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return ["$.attachments: expected exactly one attachment"]
    attachment = attachments[0]
    problems = []
    if attachment.get("contentType") != CONTENT_TYPE:
        problems.append("$.attachments[0].contentType: not an Adaptive Card")
    if "contentUrl" not in attachment or attachment["contentUrl"] is not None:
        problems.append("$.attachments[0].contentUrl: must be present and null")
    return problems + check_card(attachment.get("content"), "$.attachments[0].content")


def check_card(card: Any, path: str = "$") -> list[str]:
    """Problems with an AdaptiveCard object; empty when it is valid."""
    if not isinstance(card, dict):
        return [f"{path}: card is not an object"]
    problems = _unknown(card, _CARD, path)
    if card.get("type") != "AdaptiveCard":
        problems.append(f"{path}.type: must be AdaptiveCard")
    if not card.get("$schema"):
        problems.append(f"{path}.$schema: missing")
    problems += _version(card.get("version"), f"{path}.version")
    body = card.get("body", [])
    if not isinstance(body, list) or not body:
        problems.append(f"{path}.body: must be a non-empty list")
    else:
        for i, element in enumerate(body):
            problems += _element(element, f"{path}.body[{i}]")
    actions = card.get("actions", [])
    if not isinstance(actions, list):
        problems.append(f"{path}.actions: must be a list")
    else:
        for i, action in enumerate(actions):
            problems += _action(action, f"{path}.actions[{i}]")
    return problems


def _version(version: Any, path: str) -> list[str]:
    if not isinstance(version, str):
        return [f"{path}: required string"]
    try:
        parsed = tuple(int(p) for p in version.split("."))
    except ValueError:
        return [f"{path}: not a version number"]
    if len(parsed) != 2 or parsed > MAX_VERSION:
        return [f"{path}: {version} is not 1.x <= {MAX_VERSION[0]}.{MAX_VERSION[1]}"]
    return []


def _element(element: Any, path: str) -> list[str]:
    if not isinstance(element, dict):
        return [f"{path}: not an object"]
    kind = element.get("type")
    if kind not in _ELEMENTS:
        return [f"{path}.type: {kind!r} is not an allowed element type"]
    required, allowed = _ELEMENTS[kind]
    problems = [f"{path}.{name}: required" for name in sorted(required) if name not in element]
    problems += _unknown(element, allowed | _COMMON, path)
    problems += _values(element, path)
    if kind == "TextBlock":
        problems += _string(element.get("text"), f"{path}.text")
    elif kind == "FactSet":
        problems += _facts(element.get("facts"), f"{path}.facts")
    elif kind == "Container":
        problems += _items(element.get("items"), f"{path}.items")
    elif kind == "ColumnSet":
        for i, column in enumerate(element.get("columns", [])):
            column_path = f"{path}.columns[{i}]"
            if not isinstance(column, dict) or column.get("type", "Column") != "Column":
                problems.append(f"{column_path}: not a Column")
                continue
            problems += _unknown(column, _COLUMN, column_path)
            problems += _items(column.get("items", []), f"{column_path}.items", allow_empty=True)
    if "selectAction" in element:
        problems += _action(element["selectAction"], f"{path}.selectAction")
    return problems


def _items(items: Any, path: str, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(items, list) or (not items and not allow_empty):
        return [f"{path}: must be a non-empty list"]
    return [p for i, item in enumerate(items) for p in _element(item, f"{path}[{i}]")]


def _facts(facts: Any, path: str) -> list[str]:
    if not isinstance(facts, list) or not facts:
        return [f"{path}: must be a non-empty list"]
    problems = []
    for i, fact in enumerate(facts):
        if not isinstance(fact, dict) or set(fact) != {"title", "value"}:
            problems.append(f"{path}[{i}]: must have exactly title and value")
            continue
        problems += _string(fact["title"], f"{path}[{i}].title")
        problems += _string(fact["value"], f"{path}[{i}].value")
    return problems


def _action(action: Any, path: str) -> list[str]:
    if not isinstance(action, dict) or action.get("type") != "Action.OpenUrl":
        kind = action.get("type") if isinstance(action, dict) else action
        return [f"{path}: {kind!r} is not allowed (Teams webhooks: Action.OpenUrl only here)"]
    problems = _unknown(action, _OPEN_URL, path)
    problems += _string(action.get("url"), f"{path}.url")
    problems += _string(action.get("title"), f"{path}.title")
    return problems


def _values(element: dict[str, Any], path: str) -> list[str]:
    problems = []
    for name, allowed in _ENUMS.items():
        value = element.get(name)
        if value is not None and (not isinstance(value, str) or value.lower() not in allowed):
            problems.append(f"{path}.{name}: {value!r} is not one of {sorted(allowed)}")
    for name in _BOOLEANS & set(element):
        if not isinstance(element[name], bool):
            problems.append(f"{path}.{name}: must be a boolean")
    return problems


def _string(value: Any, path: str) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return [f"{path}: must be a non-empty string"]
    return []


def _unknown(obj: dict[str, Any], allowed: set[str], path: str) -> list[str]:
    return [f"{path}.{name}: unknown property" for name in sorted(set(obj) - allowed)]


def texts(message: dict[str, Any]) -> list[str]:
    """Every string a person sees on the card: TextBlock texts and fact titles/values."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                found.append(node["text"])
            if node.get("type") == "FactSet":
                for fact in node["facts"]:
                    found.extend((fact["title"], fact["value"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message)
    return found
