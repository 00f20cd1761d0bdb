"""Pieces every card shares: detail levels, the banner, advice, footer and field formatting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifications import _elements as el
from notifications.events import NotificationEvent
from notifications.text import display_name, format_instant, inert

# Ids are shown whole in practice (ours are under 40 characters); the cap only guards the budget.
ID_CHARS = 200


@dataclass(frozen=True, slots=True)
class Detail:
    """How much of the input a rendering shows; coarser levels are tried until one fits."""

    name: int  # names, labels, requester
    text: int  # error message, reason, notes
    item: int  # one step's detail, one failed environment's message
    advice: int  # one piece of advice
    failures: int  # failed environments listed in a round summary (a glance, not the report)
    step_details: bool
    brief: bool  # drop secondary facts (reason, notes, times) and later advice


LEVELS = (
    Detail(name=200, text=1500, item=300, advice=700, failures=10, step_details=True, brief=False),
    Detail(name=120, text=500, item=150, advice=700, failures=8, step_details=True, brief=False),
    Detail(name=80, text=200, item=80, advice=500, failures=5, step_details=False, brief=False),
    Detail(name=60, text=120, item=60, advice=400, failures=3, step_details=False, brief=True),
)


def banner(title: str, summary: str, style: el.ContainerStyle) -> el.Element:
    return el.container(
        [el.text_block(title, size="Medium", weight="Bolder"), el.text_block(summary)],
        style=style,
    )


def advice_section(
    advice: tuple[str, ...], d: Detail, see: str | None = None
) -> list[el.Element]:
    """The advice; at the brief level its first two, then how many more and, with `see`, the
    command that shows them (a restore's flows left off must each be findable)."""
    if not advice:
        return []
    shown = advice[:2] if d.brief else advice
    rest = len(advice) - len(shown)
    more = [el.text_block(f"…and {rest} more" + (f": {inert(see, ID_CHARS)}" if see else "."),
                          spacing="Small")] if rest else []
    return [
        el.heading("What to do next"),
        # "•" rather than "-": a Markdown list would be re-flowed differently by each client.
        *(el.text_block(f"• {inert(a, d.advice)}", spacing="Small") for a in shown),
        *more,
    ]


def footer(event: NotificationEvent) -> el.Element:
    # The event id lets people (and the outbox) recognise a repeated delivery of the same event.
    return el.text_block(f"{inert(event.event, 60)} · event {event.event_id}", size="Small",
                         subtle=True)


def env_text(name: str | None, environment_id: str, d: Detail) -> str:
    return inert(display_name(name, environment_id), d.name)


def when(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


def ident(value: str, limit: int = ID_CHARS) -> str:
    """An id as shown: whole in practice, and never empty (a fact needs a value)."""
    return inert(value, limit) or "(none)"


def opt(value: str | None, limit: int) -> str | None:
    text = inert(value, limit) if value else ""
    return text or None
