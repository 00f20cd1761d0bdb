"""Paged and change-tracked reads: what is sent, what a page holds, where the read goes on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from engine.answers import Refused
from engine.execute import fault_answer
from shared.dataverse import DeletedRow, PageCursor
from shared.errors import ForeignHost, PowerPlatformError
from tests.unit.dataverse.conftest import ACCOUNT, CONTACT, INSTANCE, ROOT, Harness

Make = Callable[..., Harness]

# A nextLink as Dataverse writes it: an encoded paging cookie, to be sent back byte for byte.
NEXT = (
    f"{ROOT}/accounts?$select=name,revenue&$skiptoken=%3Ccookie%20pagenumber=%222%22%20"
    "pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%22%20istracking=%22False%22%20/%3E"
)
DELTA = f"{ROOT}/accounts?$select=name,revenue&$deltatoken=919042%2108%2f22%2f2017%2008%3a10%3a44"
DELTA2 = f"{ROOT}/accounts?$select=name,revenue&$deltatoken=919100%2108%2f23%2f2017%2008%3a10%3a44"


def account(row_id: str = ACCOUNT, name: str = "Contoso", **extra: Any) -> dict[str, Any]:
    return {
        "@odata.etag": 'W/"81052965"',
        "accountid": row_id,
        "name": name,
        "revenue": 1000.5,
        "revenue@OData.Community.Display.V1.FormattedValue": "$1,000.50",
        "_primarycontactid_value": CONTACT,
        "_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
        "_primarycontactid_value@Microsoft.Dynamics.CRM.associatednavigationproperty": (
            "primarycontactid"
        ),
        "_primarycontactid_value@OData.Community.Display.V1.FormattedValue": "Jane Doe",
        **extra,
    }


def deleted(row_id: str) -> dict[str, Any]:
    return {
        "@odata.context": f"{ROOT}/$metadata#accounts/$deletedEntity",
        "id": row_id,
        "reason": "deleted",
    }


def page(*rows: dict[str, Any], **links: str) -> httpx.Response:
    body: dict[str, Any] = {"@odata.context": f"{ROOT}/$metadata#accounts", "value": list(rows)}
    body.update({f"@odata.{k}": v for k, v in links.items()})
    return httpx.Response(200, json=body, headers={"x-ms-service-request-id": "req-1"})


def test_first_page_asks_for_a_page_size_and_the_lookup_annotations_only(make: Make) -> None:
    h = make(page(account()))
    cursor = h.client.first_page("accounts", select=["name", "revenue"], page_size=500)
    result = h.client.read_page(cursor)

    sent = h.requests[0]
    assert str(sent.url) == f"{ROOT}/accounts?$select=name,revenue"
    # Not the formatted values: the backup drops them, and they nearly triple a page.
    assert sent.headers["Prefer"] == \
        'odata.maxpagesize=500,odata.include-annotations="Microsoft.Dynamics.CRM.*"'
    assert sent.headers["OData-Version"] == "4.0"
    assert sent.headers["OData-MaxVersion"] == "4.0"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["If-None-Match"] == "null"
    assert result.last
    assert result.delta_link is None
    assert result.request_id == "req-1"


def test_a_row_keeps_columns_lookup_annotations_and_etag_but_not_formatted_values(
    make: Make,
) -> None:
    h = make(page(account()))
    (row,) = h.client.read_page(h.client.first_page("accounts")).rows
    assert row == {
        "@odata.etag": 'W/"81052965"',
        "accountid": ACCOUNT,
        "name": "Contoso",
        "revenue": 1000.5,
        "_primarycontactid_value": CONTACT,
        "_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
        "_primarycontactid_value@Microsoft.Dynamics.CRM.associatednavigationproperty": (
            "primarycontactid"
        ),
    }


def test_next_link_is_followed_verbatim_with_the_same_page_size(make: Make) -> None:
    h = make(page(account(), nextLink=NEXT), page(account(CONTACT, "Fabrikam")))
    first = h.client.read_page(h.client.first_page("accounts", page_size=2))
    assert first.next == PageCursor(NEXT, 2, False)
    assert not first.last

    second = h.client.read_page(first.next)
    assert h.requests[1].url.raw_path.decode() == NEXT.removeprefix(
        "https://contoso.api.crm4.dynamics.com"
    )
    assert h.requests[1].headers["Prefer"].startswith("odata.maxpagesize=2,")
    assert [r["name"] for r in second.rows] == ["Fabrikam"]
    assert second.last


def test_one_read_page_call_sends_exactly_one_request(make: Make) -> None:
    h = make(page(account(), nextLink=NEXT))
    h.client.read_page(h.client.first_page("accounts"))
    assert len(h.requests) == 1


def test_pages_iterates_to_the_end_and_stops_on_a_repeated_link(make: Make) -> None:
    h = make(page(account(), nextLink=NEXT), page(account(), nextLink=NEXT))
    pages = h.client.pages(h.client.first_page("accounts"))
    next(pages)
    next(pages)
    with pytest.raises(PowerPlatformError, match="paging does not end"):
        next(pages)
    assert len(h.requests) == 2


def test_cursor_survives_a_queue_message() -> None:
    cursor = PageCursor(NEXT, 250, True)
    assert PageCursor.from_dict(cursor.to_dict()) == cursor
    with pytest.raises(ValueError, match="page_size"):
        PageCursor(NEXT, 5001)
    with pytest.raises(ValueError, match="absolute"):
        PageCursor("accounts", 10)


# --- change tracking ------------------------------------------------------------------------------


def test_tracked_read_pages_then_ends_with_a_delta_link(make: Make) -> None:
    h = make(page(account(), nextLink=NEXT), page(account(CONTACT), deltaLink=DELTA))
    cursor = h.client.first_page("accounts", select=["name", "revenue"], track_changes=True)
    first = h.client.read_page(cursor)
    last = h.client.read_page(first.next) if first.next else first

    for request in h.requests:
        assert "odata.track-changes" in request.headers["Prefer"].split(",")
    assert first.delta_link is None
    assert last.last
    assert last.delta_link == DELTA


def test_delta_read_returns_changed_rows_and_deleted_rows(make: Make) -> None:
    gone = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
    h = make(page(account(name="Renamed"), deleted(gone), deltaLink=DELTA2))
    result = h.client.read_page(h.client.delta_page(DELTA, page_size=100))

    assert str(h.requests[0].url) == DELTA
    assert "odata.track-changes" in h.requests[0].headers["Prefer"]
    assert [r["name"] for r in result.rows] == ["Renamed"]
    assert result.deleted == (DeletedRow(gone, "deleted"),)
    assert result.delta_link == DELTA2


def test_paging_inside_a_delta_keeps_tracking(make: Make) -> None:
    h = make(
        page(account(), nextLink=NEXT),
        page(deleted(ACCOUNT), deltaLink=DELTA2),
    )
    first = h.client.read_page(h.client.delta_page(DELTA, page_size=1))
    assert first.next is not None and first.next.track_changes
    second = h.client.read_page(first.next)
    assert second.deleted == (DeletedRow(ACCOUNT, "deleted"),)
    assert second.delta_link == DELTA2
    assert "odata.track-changes" in h.requests[1].headers["Prefer"]


def test_an_empty_delta_still_hands_on_a_new_link(make: Make) -> None:
    h = make(page(deltaLink=DELTA2))
    result = h.client.read_page(h.client.delta_page(DELTA))
    assert (result.rows, result.deleted, result.delta_link) == ((), (), DELTA2)


# --- where tokens go ------------------------------------------------------------------------------


def test_token_is_for_the_environment_url(make: Make) -> None:
    h = make(page(account()))
    h.client.read_page(h.client.first_page("accounts"))
    assert h.tokens.calls == [(f"{INSTANCE.rstrip('/')}/.default", False)]
    assert h.requests[0].headers["Authorization"] == "Bearer token-0"


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example.com/api/data/v9.2/accounts?$skiptoken=x",
        "http://contoso.api.crm4.dynamics.com/api/data/v9.2/accounts?$skiptoken=x",
    ],
    ids=["other-host", "plain-http"],
)
def test_a_link_to_another_host_never_gets_the_token(make: Make, link: str) -> None:
    h = make(page(account(), nextLink=link))
    first = h.client.read_page(h.client.first_page("accounts"))
    assert first.next is not None
    with pytest.raises(PowerPlatformError):
        h.client.read_page(first.next)
    assert len(h.requests) == 1


def test_a_delta_link_of_the_old_url_is_refused_for_good_not_retried(make: Make) -> None:
    # The environment's URL was changed: a stored delta link names the old host.
    h = make()
    old = "https://oldname.api.crm4.dynamics.com/api/data/v9.2/accounts?$deltatoken=919042"
    with pytest.raises(ForeignHost, match=r"oldname\.api\.crm4\.dynamics\.com") as raised:
        h.client.read_page(h.client.delta_page(old))
    assert h.requests == [] and h.tokens.calls == []
    assert "URL" in raised.value.message
    # A refusal (the backup decides what to do), not an outage waited out for hours.
    assert isinstance(fault_answer(raised.value), Refused)


def test_loopback_simulator_gets_no_token(make: Make) -> None:
    api = "http://127.0.0.1:8123/orgs/env1"
    h = make(page(account()), api=api, instance=api)
    h.client.read_page(h.client.first_page("accounts"))
    assert h.tokens.calls == []
    assert "Authorization" not in h.requests[0].headers
    assert str(h.requests[0].url) == f"{api}/api/data/v9.2/accounts"


def test_affinity_cookies_are_not_sent_back() -> None:
    from shared.dataverse.client import _default_http_client

    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(
            200, json={"value": []}, headers={"Set-Cookie": "ARRAffinity=abc; Path=/"}
        )

    http = _default_http_client()
    http._transport = httpx.MockTransport(answer)
    http.get(f"{ROOT}/accounts")
    http.get(f"{ROOT}/accounts")
    assert seen == [None, None]
    http.close()


@pytest.mark.parametrize(
    "bad", ["accounts?$filter=x", "acc ounts", "", "../x", "accounts(1)"], ids=repr
)
def test_entity_set_names_are_checked_before_going_into_a_url(make: Make, bad: str) -> None:
    h = make()
    with pytest.raises(ValueError, match="entity set name"):
        h.client.first_page(bad)
