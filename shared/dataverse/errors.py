"""What a failed Dataverse Web API answer means to the caller (reference §5.9, §4.5).

The platform client's mapping (`shared.power_platform._errors.platform_error`) handles what the
two APIs share (throttling, transient failures, lost answers); this module adds the answers that
only Dataverse gives and that a caller handles differently:

    PowerPlatformError
    ├── NoDataverse            the environment has no Dataverse (no linkedEnvironmentMetadata)
    ├── ChangeTokenExpired     the delta link is too old: take a full copy instead
    ├── PreconditionFailed     412: a conditional write lost (the row changed, or exists already)
    ├── Forbidden              403 / privilege codes: the message names the fix (a security role)
    ├── ValidationFailed
    │   └── ConnectionMissing  a flow cannot turn on: a connection reference has no connection
    └── NotFound
        └── TableNotFound      no such entity set or table
"""

from __future__ import annotations

import re
from typing import Any

from shared.errors import (
    AuthenticationFailed,
    Forbidden,
    NotFound,
    PowerPlatformError,
    ValidationFailed,
)
from shared.power_platform._errors import (
    CallContext,
    Failure,
    parse_error_body,
    platform_error,
)

# ExpiredVersionStamp; only its code and text are documented, not the HTTP status (reference §4.5).
EXPIRED_VERSION_STAMP = "0x80044352"
# Each form the reference names it by (§4.5, §5.9): hex (the Web API's), decimal (the SDK's
# fault ErrorCode), and its name; lower case, as codes are compared.
_EXPIRED_CODES = frozenset({EXPIRED_VERSION_STAMP, "-2147204270", "expiredversionstamp"})
_EXPIRED_TEXT = "version stamp associated with the client has expired"
# Service protection refusals that fewer requests at once would avoid (reference §7.1): combined
# execution time, concurrent requests. The third, the request count, is not among them.
_FEWER_REQUESTS_CODES = frozenset({"0x80072321", "0x80072326"})
# PrivilegeDenied, access check failed, CrmCheckPrivilege failed (reference §5.9).
_PRIVILEGE_CODES = frozenset({"0x80040220", "0x80048306", "0x80040299"})
# "Resource not found for the segment": a wrong (case-sensitive) entity set name.
_UNKNOWN_SEGMENT = "0x8006088a"
_MISSING_TABLE_TEXTS = ("resource not found for the segment", "could not find entity")
# Power Automate's inner code, carried in the text of Dataverse's wrapper (reference §9.2).
_CONNECTION_MISSING = "xrmconnectionreferencemissingconnection"
_LOGICAL_NAME = re.compile(r"connection reference logical name '([^']+)'", re.IGNORECASE)


class NoDataverse(PowerPlatformError):
    code = "NoDataverse"


class ChangeTokenExpired(PowerPlatformError):
    code = "ChangeTokenExpired"


class PreconditionFailed(PowerPlatformError):
    code = "PreconditionFailed"


class TableNotFound(NotFound):
    code = "TableNotFound"


class ConnectionMissing(ValidationFailed):
    """A cloud flow could not be turned on: `connection_reference` has no connection."""

    code = "ConnectionReferenceMissingConnection"

    def __init__(self, message: str, *, connection_reference: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.connection_reference = connection_reference


def role_hint(app_id: str | None) -> str:
    who = f"application (client) id {app_id}" if app_id else "this app's application (client) id"
    return (
        "Dataverse refused the call: the application user for "
        f"{who} in this environment lacks a privilege. Assign the application user a security "
        "role that can read the table (and write it, for restores): Power Platform admin center "
        "> Environments > Settings > Users + permissions > Application users, or "
        "`pac admin assign-user --environment <id> --user <client id> --role <role> "
        "--application-user`."
    )


def dataverse_error(context: CallContext, failure: Failure) -> PowerPlatformError:
    """The exception for one failed Dataverse exchange (an `ErrorMapper`)."""
    status = failure.status
    if status is not None:
        body = parse_error_body(failure.body_text)
        code = (body.code or "").lower()
        said = body.message or body.code or f"{context.what} answered HTTP {status}"
        common: dict[str, Any] = {
            "status": status,
            "error_code": body.code,
            "request_id": failure.request_id,
            "retry_after": failure.retry_after,
        }
        if code in _EXPIRED_CODES or _EXPIRED_TEXT in said.lower():
            return ChangeTokenExpired(
                f"{context.what}: the change-tracking token has expired ({said}); "
                "take a full copy of the table to start a new chain.",
                **common,
            )
        if status == 403 or code in _PRIVILEGE_CODES:
            return Forbidden(f"{role_hint(context.app_id)} Dataverse said: {said}", **common)
        if status == 401:
            return AuthenticationFailed(
                "Dataverse refused the access token (HTTP 401) even after a refresh. The app's "
                "identity must be an application user of this environment (with a security "
                f"role), and the token's audience the environment's URL. Dataverse said: {said}",
                **common,
            )
        if status == 404 and (
            code == _UNKNOWN_SEGMENT or any(t in said.lower() for t in _MISSING_TABLE_TEXTS)
        ):
            return TableNotFound(
                f"{context.what}: no such table in this environment ({said}). Check the table's "
                "logical name, and that its solution is installed here.",
                **common,
            )
        if status == 412:
            return PreconditionFailed(f"{context.what}: {said}", **common)
        if _CONNECTION_MISSING in f"{code} {said.lower()}":
            found = _LOGICAL_NAME.search(said)
            logical = found.group(1) if found else None
            return ConnectionMissing(
                f"its connection reference {logical or '(unnamed)'} has no connection",
                connection_reference=logical,
                **{**common, "error_code": "XrmConnectionReferenceMissingConnection"},
            )
    return platform_error(context, failure)


def asks_fewer_requests(error: PowerPlatformError) -> bool:
    """Whether a refusal names the combined execution time or the number of concurrent requests
    (its message: "Decrease number of concurrent requests ..."): `shared.policy.concurrency`."""
    return (error.error_code or "").lower() in _FEWER_REQUESTS_CODES
