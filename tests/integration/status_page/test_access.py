"""In Azure the page and its data are served only to a caller signed in through App Service
Authentication; in the local host they need nothing; anywhere else nothing is served. Through the
local host, over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.restore.conftest import Stack

PAGE_ROUTES = ["/api/ui", "/api/ui/assets/app.js", "/api/ui/data/operations",
               "/api/ui/data/environments", "/api/ui/data/alerts",
               "/api/ui/data/active-operations"]
SIGNED_IN = {"X-MS-CLIENT-PRINCIPAL-ID": "00000000-0000-0000-0000-0000000000aa",
             "X-MS-CLIENT-PRINCIPAL-NAME": "maria@contoso.com"}


def test_locally_the_page_and_its_data_need_no_key(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    for route in PAGE_ROUTES:
        response = stack.http.get(route)
        assert response.status_code == 200, (route, response.text)
    page = stack.http.get("/api/ui")
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_in_azure_without_the_principal_header_everything_is_refused(
    make_stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = make_stack()
    monkeypatch.setenv("WEBSITE_SITE_NAME", "ppbackup-func-abc")
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "0123456789abcdef")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")

    for route in PAGE_ROUTES:
        response = stack.http.get(route)
        assert response.status_code == 401, (route, response.text)
        assert "Sign in" in response.text
        assert "/.auth/login/aad" in response.text
    assert stack.http.get("/api/ui").headers["content-type"].startswith("text/plain")
    assert stack.http.get("/api/ui/data/operations").json()["error"]["code"] == "SignInRequired"
    # An empty header is no principal either.
    empty = stack.http.get("/api/ui", headers={"X-MS-CLIENT-PRINCIPAL-ID": ""})
    assert empty.status_code == 401

    for route in PAGE_ROUTES:
        response = stack.http.get(route, headers=SIGNED_IN)
        assert response.status_code == 200, (route, response.text)


def test_in_azure_with_app_service_authentication_off_nothing_is_served(
    make_stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without EasyAuth in front, a principal header is whatever the client sent: not trusted.
    stack = make_stack()
    monkeypatch.setenv("WEBSITE_SITE_NAME", "ppbackup-func-abc")
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED", raising=False)
    for route in PAGE_ROUTES:
        response = stack.http.get(route, headers=SIGNED_IN)
        assert response.status_code == 403, (route, response.text)
        assert "App Service Authentication" in response.text


def test_outside_azure_and_the_local_host_nothing_is_served(
    make_stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As in a container or under Core Tools on a VM: not Azure, and not `ppbackup host` (which
    # says so to the app it runs). A principal header there is whatever the client sent.
    stack = make_stack()
    monkeypatch.delenv("PPBACKUP_LOCAL_HOST")
    for route in PAGE_ROUTES:
        for headers in ({}, SIGNED_IN):
            response = stack.http.get(route, headers=headers)
            assert response.status_code == 403, (route, response.text)
            assert "App Service Authentication" in response.text


def test_an_unknown_asset_is_404_with_the_pages_security_headers(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    page = stack.http.get("/api/ui")
    missing = stack.http.get("/api/ui/assets/nope.js")
    assert missing.status_code == 404
    for name in ("content-security-policy", "x-content-type-options", "referrer-policy",
                 "cache-control"):
        assert missing.headers.get(name) == page.headers[name], name
