"""The one exception the model raises; the HTTP layer renders it in the caller's API dialect.

The model does not know whether it was reached through BAP or the PP API, and the two dialects
have different error envelopes (wire contract, "Errors"), so the rule code travels as data and
`wire.error_body` picks the envelope.
"""

from __future__ import annotations

from collections.abc import Mapping


class SimError(Exception):
    """A refusal by the simulated platform: HTTP status, service code, human message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field_errors: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field_errors: dict[str, str] = dict(field_errors or {})


def not_found(what: str, ident: str) -> SimError:
    return SimError(404, f"{what}NotFound", f"{what} '{ident}' was not found.")


def bad_request(code: str, message: str, field: str | None = None) -> SimError:
    return SimError(400, code, message, field_errors={field: message} if field else None)


def busy(env_id: str) -> SimError:
    # Text as in the platform's own 409 (reference §5, TF-FIXTURE-409).
    return SimError(
        409,
        "OperationNotStartable",
        "This operation cannot be performed because there is an active lifecycle operation "
        f"on the environment {env_id}.",
    )
