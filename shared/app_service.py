"""What the platform tells the app about where it runs and whether its sign-in headers are its own.

App Service Authentication (EasyAuth) removes any `X-MS-CLIENT-PRINCIPAL*` header a client sends
and injects its own for a signed-in caller. That holds only in Azure with it turned on; anywhere
else those headers are whatever the client sent, so nothing may trust them there.
"""

from __future__ import annotations

from collections.abc import Mapping

# Set by the Functions host in Azure, never by Core Tools or the local host.
AZURE_MARKERS = ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME")
# Set by App Service to "True" while App Service Authentication is enabled.
AUTH_ENABLED = "WEBSITE_AUTH_ENABLED"
PRINCIPAL_ID = "x-ms-client-principal-id"
PRINCIPAL_NAME = "x-ms-client-principal-name"
# Set to "true" by `ppbackup host` for the app it runs (ppbackup/host/host.py): its port is
# loopback-only and refuses other web sites, so there keyless means the developer. Nothing else
# sets it; its absence must never mean "local" (a container has no WEBSITE_* settings either).
LOCAL_HOST = "PPBACKUP_LOCAL_HOST"


def in_azure(environ: Mapping[str, str]) -> bool:
    return any((environ.get(name) or "").strip() for name in AZURE_MARKERS)


def principal_headers_trusted(environ: Mapping[str, str]) -> bool:
    """Whether `X-MS-CLIENT-PRINCIPAL*` headers come from App Service Authentication."""
    return in_azure(environ) and (environ.get(AUTH_ENABLED) or "").strip().lower() == "true"


def in_local_host(environ: Mapping[str, str]) -> bool:
    """Whether `ppbackup host` runs the app; never in Azure, whatever the app settings say."""
    return environ.get(LOCAL_HOST) == "true" and not in_azure(environ)
