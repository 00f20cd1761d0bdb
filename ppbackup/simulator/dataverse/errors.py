"""Dataverse's refusals: `{"error": {"code": "0x8004....", "message"}}` (reference §5.9).

The code is the platform's hex error code, unrelated to the HTTP status, and sometimes empty (the
conditional-write answers of §5.3 are documented with `"code": ""`).
"""

from __future__ import annotations

import json
from typing import Any

from ppbackup.simulator.errors import SimError

OBJECT_DOES_NOT_EXIST = "0x80040217"
DUPLICATE_RECORD = "0x80040237"
PRIVILEGE_DENIED = "0x80040220"
RESOURCE_NOT_FOUND = "0x8006088a"
UNKNOWN_PROPERTY = "0x0"
ATTRIBUTE_NOT_NULL = "0x80040203"
EXPIRED_VERSION_STAMP = "0x80044352"
REQUESTS_EXCEEDED = "0x80072322"
EXECUTION_TIME_EXCEEDED = "0x80072321"
CONCURRENCY_EXCEEDED = "0x80072326"
# The outer code of Power Automate's wrapper is not documented [inferred]; clients read the inner
# code the wrapper's message carries (reference §9.2).
FLOW_CLIENT_ERROR = "0x80060467"

EXPIRED_MESSAGE = (
    "Version stamp associated with the client has expired. Please perform a full sync."
)


def error_body(error: SimError) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message}}


def bad_query(message: str) -> SimError:
    return SimError(400, UNKNOWN_PROPERTY, message)


def invalid_token(name: str) -> SimError:
    return SimError(400, UNKNOWN_PROPERTY, f"The {name} value is not valid.")


def does_not_exist(table: str, row_id: str) -> SimError:
    return SimError(404, OBJECT_DOES_NOT_EXIST, f"{table} With Id = {row_id} Does Not Exist")


def unknown_property(table: str, name: str) -> SimError:
    return SimError(400, UNKNOWN_PROPERTY,
                    f"Could not find a property named '{name}' on type "
                    f"'Microsoft.Dynamics.CRM.{table}'.")


def resource_not_found(segment: str) -> SimError:
    return SimError(404, RESOURCE_NOT_FOUND, f"Resource not found for the segment '{segment}'.")


def privilege_denied(user_id: str, privilege: str, table: str) -> SimError:
    return SimError(
        403, PRIVILEGE_DENIED,
        f"Principal user (Id={user_id}, type=8, roleCount=1, privilegeCount=0, accessMode=4), "
        f"is missing prv{privilege}{table} privilege on entity '{table}'.",
    )


def expired_version_stamp() -> SimError:
    # The HTTP status is not documented (reference §4.5 / §12); 400 is the stricter reading of
    # "a 4xx": a client that retries 4xx answers would loop, one that reads the code copes.
    return SimError(400, EXPIRED_VERSION_STAMP, EXPIRED_MESSAGE)


def connection_missing(logical_name: str) -> SimError:
    """Turning on a flow whose connection reference has no connection (reference §9.2)."""
    inner = json.dumps({"error": {
        "code": "XrmConnectionReferenceMissingConnection",
        "message": f"Connection Id missing for connection reference logical name "
                   f"'{logical_name}'."}}, separators=(",", ":"))
    return SimError(400, FLOW_CLIENT_ERROR,
                    f'Flow client error returned with status code "BadRequest" and details {inner}')
