"""Who may see the status page: a pure decision over the process environment and the headers.

In the local host (`ppbackup host`, which says so: shared.app_service.LOCAL_HOST) everyone on the
machine may, as with the keyed routes. Everywhere else the page and the JSON it reads are
anonymous-level routes (a browser has no function key), so the caller must be signed in through
App Service Authentication, whose principal headers are trusted only in Azure while it is on
(shared.app_service): without it (App Service Authentication off, a container, Core Tools on a
VM) nothing is served at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.app_service import PRINCIPAL_ID, in_local_host, principal_headers_trusted

LOGIN_PATH = "/.auth/login/aad?post_login_redirect_uri=/api/ui"


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str
    message: str


def refusal(environ: Mapping[str, str], headers: Mapping[str, str]) -> Refusal | None:
    """None when the caller may see the page; otherwise why not. `headers` keys are lowercase."""
    if in_local_host(environ):
        return None
    if not principal_headers_trusted(environ):
        return Refusal(
            403,
            "AuthenticationOff",
            "The status page is served only behind App Service Authentication in Azure, which is "
            "off for this app, or by `ppbackup host` locally. In Azure, turn it on with Microsoft "
            "Entra ID (azd up does), then sign in.",
        )
    if not (headers.get(PRINCIPAL_ID) or "").strip():
        return Refusal(
            401,
            "SignInRequired",
            f"Sign in to see the status page: open {LOGIN_PATH}",
        )
    return None
