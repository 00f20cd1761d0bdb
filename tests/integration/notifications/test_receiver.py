"""The local receiver: what it accepts, refuses and prints."""

from __future__ import annotations

import io
import time

import httpx
import pytest

from notifications import (
    build_teams_message,
    build_webhook_payload,
    encode_teams_message,
    event_for,
    sign,
)
from ppbackup.receiver import Reply, render_card, running_receiver
from shared.operations import OperationStatus
from tests.unit.notifications.builders import ALL_DONE, T0, restore

SECRET = "a-webhook-secret-of-some-length"


def test_a_teams_card_is_printed_with_title_facts_and_steps() -> None:
    event = event_for(restore(ALL_DONE, status=OperationStatus.SUCCEEDED))
    assert event is not None
    out = io.StringIO()
    with running_receiver(out=out) as receiver:
        reply = httpx.post(receiver.teams_url,
                           content=encode_teams_message(build_teams_message(event)))
    assert reply.status_code == 202  # what Workflows answers
    text = out.getvalue()
    assert "Teams card · answered 202" in text
    assert "Restore succeeded — Contoso Prod" in text
    assert "Operation id    restore-20261121T014500000Z-1a2b3c" in text
    assert "Switch back to Production  ✔ Succeeded" in text
    assert "What to do next" in text
    assert event.event_id in text


def test_webhook_signatures_are_checked() -> None:
    event = event_for(restore(ALL_DONE, status=OperationStatus.FAILED))
    assert event is not None
    body = build_webhook_payload(event, occurred_at=T0)
    now = int(time.time())
    with running_receiver(secret=SECRET, out=None) as receiver:
        good = httpx.post(receiver.webhook_url, content=body, headers=sign(body, SECRET, now))
        again = httpx.post(receiver.webhook_url, content=body, headers=sign(body, SECRET, now))
        tampered = httpx.post(receiver.webhook_url, content=body.replace(b"Failed", b"Succeeded"),
                              headers=sign(body, SECRET, now))
        old = httpx.post(receiver.webhook_url, content=body,
                         headers=sign(body, SECRET, now - 3600))
        wrong_key = httpx.post(receiver.webhook_url, content=body,
                               headers=sign(body, "another-secret-entirely", now))
        received = receiver.received
    assert [r.status_code for r in (good, again, tampered, old, wrong_key)] == [
        200, 200, 401, 401, 401]
    assert [r.verified for r in received] == [True, True, False, False, False]
    assert [r.repeat for r in received] == [False, True, False, False, False]
    assert received[3].error == "the timestamp is outside the accepted window"
    assert received[0].payload["eventId"] == event.event_id


def test_scripted_replies_then_the_default() -> None:
    with running_receiver(out=None) as receiver:
        receiver.reply("teams", Reply(429, {"Retry-After": "3"}), Reply(500))
        statuses = [httpx.post(receiver.teams_url, content=b"{}") for _ in range(3)]
        unknown = httpx.post(f"{receiver.url}/elsewhere", content=b"{}")
    assert [r.status_code for r in statuses] == [429, 500, 202]
    assert statuses[0].headers["Retry-After"] == "3"
    assert unknown.status_code == 404


def test_render_card_undoes_markdown_escapes() -> None:
    card = {"body": [{"type": "TextBlock", "text": r"switch\_to\_production \*not\* bold"}]}
    assert render_card(card) == ["switch_to_production *not* bold"]


def test_the_receiver_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"), running_receiver(host="0.0.0.0"):  # noqa: S104
        pass


def test_a_payload_is_json() -> None:
    with running_receiver(out=None) as receiver:
        reply = httpx.post(receiver.teams_url, content=b"not json")
        [received] = receiver.received
    assert reply.status_code == 400
    assert received.error == "the body is not JSON"
