"""What came back from a command, as the decision function reads it.

The runner turns every platform answer, including every refusal and fault, into one of these;
`decide` never sees an exception. Platform values are the client's own frozen models.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.flows import FlowsSeen
from shared.power_platform import Backup, Environment, OperationHandle, PlatformOperation

# --- successes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proceeded:
    pass


@dataclass(frozen=True, slots=True)
class LockAcquired:
    pass


@dataclass(frozen=True, slots=True)
class LockBusy:
    """Another restore holds the target (`holder_id`), or an older Queued one is first in line."""

    holder_id: str
    first_in_line: bool = True


@dataclass(frozen=True, slots=True)
class EnvironmentsRead:
    target: Environment
    source: Environment


@dataclass(frozen=True, slots=True)
class EnvironmentRead:
    environment: Environment


@dataclass(frozen=True, slots=True)
class BackupsListed:
    backups: tuple[Backup, ...]


@dataclass(frozen=True, slots=True)
class BackupMade:
    backup: Backup


@dataclass(frozen=True, slots=True)
class BackupFound:
    backup: Backup | None


@dataclass(frozen=True, slots=True)
class OperationStarted:
    handle: OperationHandle


@dataclass(frozen=True, slots=True)
class Reconciled:
    environment: Environment
    operation: PlatformOperation | None


@dataclass(frozen=True, slots=True)
class Polled:
    operation: PlatformOperation


@dataclass(frozen=True, slots=True)
class Restorable:
    """ValidateOnly passed; `listed` says whether the target is among the source's candidates."""

    listed: bool


# --- refusals and faults --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refused:
    """The platform refused the request as such (400, other 409, 403, ...): retrying won't help."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Missing:
    """404: the environment (or operation) does not exist, or not any more."""

    message: str


@dataclass(frozen=True, slots=True)
class Busy:
    """409 OperationNotStartable: another lifecycle operation runs on the environment."""

    message: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Throttled:
    message: str
    retry_after: float | None = None
    # The server refused for the combined duration or number of concurrent requests: fewer at
    # once would help (shared.policy.concurrency). Not so for the request count.
    fewer: bool = False


@dataclass(frozen=True, slots=True)
class Unavailable:
    """5xx, timeouts, connection errors, an answer we could not read: try again later."""

    message: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Lost:
    """A non-idempotent request was sent and its answer lost: it may have been carried out."""

    message: str


@dataclass(frozen=True, slots=True)
class AdminWindow:
    """403 UserMissingRequiredPermission: the known window right after a restore (ref. 3.5)."""

    message: str


@dataclass(frozen=True, slots=True)
class FlowsRead:
    seen: FlowsSeen


@dataclass(frozen=True, slots=True)
class FlowOn:
    """The flow is on; `already`: it was before this call (nothing was written)."""

    flow_id: str
    already: bool


Answer = (
    Proceeded
    | LockAcquired
    | LockBusy
    | EnvironmentsRead
    | EnvironmentRead
    | BackupsListed
    | BackupMade
    | BackupFound
    | OperationStarted
    | Reconciled
    | Polled
    | Restorable
    | FlowsRead
    | FlowOn
    | Refused
    | Missing
    | Busy
    | Throttled
    | Unavailable
    | Lost
    | AdminWindow
)

Fault = Refused | Missing | Busy | Throttled | Unavailable | Lost | AdminWindow
FAULTS = (Refused, Missing, Busy, Throttled, Unavailable, Lost, AdminWindow)
