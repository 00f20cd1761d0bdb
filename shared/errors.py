"""The app's exception tree. A type exists only where a caller handles it differently.

    AppError
    ├── ConfigError                 settings missing or malformed (all of them, in one message)
    ├── RequestInvalid              a request a person must correct (-> 400 / `Rejected`)
    ├── RequestRefused              a valid request the current state forbids (-> 409, why)
    ├── OperationNotFound           no operation with that id
    ├── BackupNotFound              the platform lists no such backup (-> 404)
    ├── ConcurrencyConflict         an ETag-guarded write lost the race; re-read and re-decide
    └── PowerPlatformError          anything the Power Platform APIs answered or failed to answer
        ├── AuthenticationFailed    no token could be obtained (bad secret, unknown tenant ...)
        ├── Forbidden               403; carries a hint about the admin-management registration
        ├── NotFound                404
        ├── Busy                    409: another lifecycle operation runs on the environment
        ├── Throttled               429; carries retry_after
        ├── ValidationFailed        400 / other 409: the platform refused the request as such
        ├── Transient               5xx, 408, 425, timeouts, connection errors
        └── OutcomeUnknown          a non-idempotent request was sent and its answer was lost;
                                    the caller must reconcile (look for what it may have done)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class AppError(Exception):
    """Base of every error the app raises on purpose."""

    code: str = "Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(AppError):
    code = "ConfigError"

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} setting(s) need attention:\n{lines}")


class RequestInvalid(AppError):
    """Bad input. `fields` maps a field name to what is wrong with it."""

    def __init__(
        self, code: str, message: str, fields: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.fields = dict(fields or {})


class RequestRefused(AppError):
    """A request that is valid as such but refused in the current state (a system backup to
    delete, a backup a restore uses); `code` names the reason, `message` says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class OperationNotFound(AppError):
    code = "OperationNotFound"


class BackupNotFound(AppError):
    code = "BackupNotFound"


class ConcurrencyConflict(AppError):
    code = "ConcurrencyConflict"


class PowerPlatformError(AppError):
    """An answer (or lack of one) from the Power Platform APIs.

    `request_id` is the platform's id for the call (kept in history), `error_code` the service's
    own code when it sent one.
    """

    code = "PlatformError"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.request_id = request_id
        self.retry_after = retry_after


class AuthenticationFailed(PowerPlatformError):
    code = "AuthenticationFailed"


class Forbidden(PowerPlatformError):
    code = "Forbidden"


class NotFound(PowerPlatformError):
    code = "NotFound"


class Busy(PowerPlatformError):
    code = "EnvironmentBusy"


class Throttled(PowerPlatformError):
    code = "Throttled"


class ValidationFailed(PowerPlatformError):
    code = "ValidationFailed"


class Transient(PowerPlatformError):
    code = "Transient"


class OutcomeUnknown(PowerPlatformError):
    code = "OutcomeUnknown"


class ForeignHost(PowerPlatformError):
    """Refused before sending: the URL (a stored or followed link) names a host the client's
    token does not belong to. Sending again cannot help; a fresh link from this host can."""

    code = "ForeignHost"
