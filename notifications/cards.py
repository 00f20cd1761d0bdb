"""Teams messages (Adaptive Cards in the Workflows envelope) for notification events.

A card must fit in one Teams message whatever the input: a 10,000-character platform error, a
round with a thousand failed environments, a label in four-byte characters. Cards are therefore
rendered at the most detailed level that fits the byte budget, then at coarser levels (shorter
texts, fewer listed items), and finally as a minimal card that names the event and its id and
points to the CLI. Content is shortened with an ellipsis or summarised ("and 37 more"), never cut
in the middle of the card.
"""

from __future__ import annotations

import json
import re
from typing import Any, assert_never

from notifications import _elements as el
from notifications._operation_card import operation_body, operation_title
from notifications._parts import LEVELS, Detail, banner, footer, ident
from notifications._summary_cards import (
    data_overdue_body,
    expiring_body,
    round_body,
    round_title,
    still_sandbox_body,
)
from notifications.advice import HISTORY_COMMAND
from notifications.events import (
    BackupExpiringAlert,
    BackupRoundSummary,
    DataBackupOverdueAlert,
    NotificationEvent,
    OperationEvent,
    StillSandboxAlert,
)
from notifications.text import shorten

# Teams rejects messages over 28 KB, and practitioners report rejections somewhat below that
# (reference: functions-storage-semantics.md section 6.2), hence the margin.
DEFAULT_MAX_BYTES = 24_000
# The minimal card's worst case (every capped field in 4-byte characters, escaped) stays well
# below this, so any budget from here up can be honoured.
MIN_MAX_BYTES = 8_000
MAX_STATUS_URL_CHARS = 2_048

_URL = re.compile(r"https?://[!-~]+")


def build_teams_message(
    event: NotificationEvent,
    *,
    status_url: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """The Workflows webhook message for `event`, at most `max_bytes` as JSON (see `message_size`).

    `status_url`, when given, becomes the card's only action (an Action.OpenUrl); it must be an
    http(s) URL of printable ASCII. Raises ValueError for a bad URL or a budget below
    MIN_MAX_BYTES.
    """
    if max_bytes < MIN_MAX_BYTES:
        raise ValueError(f"max_bytes must be at least {MIN_MAX_BYTES}")
    actions = _actions(status_url)
    for detail in LEVELS:
        message = el.teams_envelope(el.adaptive_card(_body(event, detail), actions))
        if message_size(message) <= max_bytes:
            return message
    message = el.teams_envelope(el.adaptive_card(_minimal_body(event), actions))
    if message_size(message) > max_bytes:  # pragma: no cover - bounded by MIN_MAX_BYTES
        raise RuntimeError("the minimal card does not fit the budget")
    return message


def message_size(message: dict[str, Any]) -> int:
    """The largest size `message` takes in the usual JSON encodings.

    ASCII-escaped with default separators is never smaller than compact UTF-8 (an escaped
    character takes 6 or 12 bytes against 2-4), so whichever the sender uses fits the budget.
    """
    return len(json.dumps(message).encode("ascii"))


def encode_teams_message(message: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: what to POST to the Workflows URL."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _body(event: NotificationEvent, d: Detail) -> list[el.Element]:
    if isinstance(event, OperationEvent):
        return operation_body(event, d)
    if isinstance(event, BackupRoundSummary):
        return round_body(event, d)
    if isinstance(event, StillSandboxAlert):
        return still_sandbox_body(event, d)
    if isinstance(event, BackupExpiringAlert):
        return expiring_body(event, d)
    if isinstance(event, DataBackupOverdueAlert):
        return data_overdue_body(event, d)
    assert_never(event)


def _actions(status_url: str | None) -> list[el.Element]:
    if status_url is None:
        return []
    if len(status_url) > MAX_STATUS_URL_CHARS or not _URL.fullmatch(status_url):
        raise ValueError("status_url must be an http(s) URL of printable ASCII, without spaces")
    return [el.open_url("Open status", status_url)]


def _minimal_body(event: NotificationEvent) -> list[el.Element]:
    """The last resort: what happened, to what, its id, and where to read the rest."""
    if isinstance(event, BackupRoundSummary):
        title = round_title(event)[0]
        key, command = ("Round id", ident(event.round_id, 100)), HISTORY_COMMAND
    elif isinstance(event, BackupExpiringAlert | DataBackupOverdueAlert):
        title = ("Backup expiring" if isinstance(event, BackupExpiringAlert)
                 else "Data backup overdue")
        key = ("Environment id", ident(event.environment_id, 100))
        command = f"ppbackup history --env {key[1]}"
    else:
        op = event.operation
        title = (operation_title(event, LEVELS[-1]) if isinstance(event, OperationEvent)
                 else "Still a Sandbox: switch it back to Production now")
        key = ("Operation id", ident(op.operation_id, 100))
        command = f"ppbackup status {key[1]}"
    return [
        banner(shorten(title, 200), "The details did not fit in a Teams message. Read them with: "
                + command, "attention"),
        el.fact_set([key]),
        footer(event),
    ]
