"""Who may see the status page: a pure decision over the process environment and the headers.

Locally (the `ppbackup host`, `func start`) everyone on the machine may, as with the keyed routes.
In Azure the page and the JSON it reads are anonymous-level routes (a browser has no function key),
so the caller must be signed in through App Service Authentication, whose principal headers are
trusted only while it is on (shared.app_service): with it off nothing is served at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.app_service import PRINCIPAL_ID, in_azure, principal_headers_trusted

LOGIN_PATH = "/.auth/login/aad?post_login_redirect_uri=/api/ui"


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str
    message: str


def refusal(environ: Mapping[str, str], headers: Mapping[str, str]) -> Refusal | None:
    """None when the caller may see the page; otherwise why not. `headers` keys are lowercase."""
    if not in_azure(environ):
        return None
    if not principal_headers_trusted(environ):
        return Refusal(
            403,
            "AuthenticationOff",
            "The status page is served only behind App Service Authentication, which is off "
            "for this app. Turn it on with Microsoft Entra ID (azd up does), then sign in.",
        )
    if not (headers.get(PRINCIPAL_ID) or "").strip():
        return Refusal(
            401,
            "SignInRequired",
            f"Sign in to see the status page: open {LOGIN_PATH}",
        )
    return None
