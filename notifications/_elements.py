"""Adaptive Card elements, limited to what Teams renders for Workflows webhook cards.

Only TextBlock, FactSet, Container and Action.OpenUrl are produced: Teams shows them everywhere
(desktop, web, mobile) at card version 1.4, and Action.Submit would not work from a webhook.
Every text given here must already be inert (see `text.inert`).
"""

from __future__ import annotations

from typing import Any, Literal

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

Element = dict[str, Any]
ContainerStyle = Literal["default", "emphasis", "good", "attention", "warning", "accent"]


def text_block(
    text: str,
    *,
    size: Literal["Small", "Default", "Medium", "Large"] | None = None,
    weight: Literal["Bolder"] | None = None,
    subtle: bool = False,
    spacing: Literal["None", "Small", "Medium"] | None = None,
) -> Element:
    # wrap=True always: Teams cuts a non-wrapping TextBlock at one line without any marker.
    block: Element = {"type": "TextBlock", "text": text, "wrap": True}
    if size:
        block["size"] = size
    if weight:
        block["weight"] = weight
    if subtle:
        block["isSubtle"] = True
    if spacing:
        block["spacing"] = spacing
    return block


def heading(text: str) -> Element:
    return text_block(text, weight="Bolder", spacing="Medium")


def fact_set(facts: list[tuple[str, str]]) -> Element:
    return {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]}


def container(items: list[Element], *, style: ContainerStyle | None = None) -> Element:
    element: Element = {"type": "Container", "items": items}
    if style:
        element["style"] = style
        element["bleed"] = True
    return element


def open_url(title: str, url: str) -> Element:
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def adaptive_card(body: list[Element], actions: list[Element]) -> Element:
    card: Element = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        # Teams-only: use the channel's full width, so the step timeline does not wrap per word.
        "msteams": {"width": "Full"},
    }
    if actions:
        card["actions"] = actions
    return card


def teams_envelope(card: Element) -> Element:
    """The message shape the Workflows "Post card" template iterates over (contract section 8)."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }
