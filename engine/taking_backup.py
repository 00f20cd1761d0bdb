"""Taking a backup: the one implementation a plain backup and a restore's safety backup share.

Creating a backup is not idempotent, so it is two-phase: the intent (the time the call may have
been sent from) is checkpointed first, by the same write that decides to make the call, and the
call runs right after it. A step re-entered with an intent looks before it leaps: `look_first`
asks for the backup with this label made since the intent (less the clock-skew allowance), and
`engine/execute.py` claims it for the operation, so two requests with one label never share one.
Only when the platform shows none is the backup made again, a bounded number of times.

Each kind words its own record (a restore's safety backup step, a backup's only step); what a
platform answer means for the backup is decided here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.answers import Answer, BackupFound, BackupMade, Busy, Missing, Refused
from engine.commands import CreateBackup, FindBackup
from engine.waiting import RETRYABLE, Retryable
from shared.policy.clock_skew import CLOCK_SKEW
from shared.power_platform import Backup


@dataclass(frozen=True, slots=True)
class Made:
    """The backup exists (made by this call, or found after a lost answer) and is ours."""

    backup: Backup


@dataclass(frozen=True, slots=True)
class MakeIt:
    """Call the platform now; the decision checkpoints the intent of this `tries`-th call."""

    command: CreateBackup
    tries: int


@dataclass(frozen=True, slots=True)
class Retry:
    """The platform could not serve the call now: wait it out (the kind's backoff).

    `may_exist`: the backup may have been made, so the next step looks first. Only a busy
    environment (409) proves it was not: that is the create's answer (a listing never answers
    409), and it started nothing. Any other fault may be the lookup's, after a create whose
    answer was lost, so the intent stays."""

    fault: Retryable
    may_exist: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Exhausted:
    tries: int


Outcome = Made | MakeIt | Retry | Refusal | Exhausted


def look_first(environment_id: str, label: str, intent_at: datetime) -> FindBackup:
    return FindBackup(environment_id, label, intent_at - CLOCK_SKEW)


def make(environment_id: str, label: str, tries: int) -> MakeIt:
    return MakeIt(CreateBackup(environment_id, label), tries + 1)


def after(
    answer: Answer, *, environment_id: str, label: str, tries: int, max_tries: int
) -> Outcome | None:
    """What `answer` to a CreateBackup or FindBackup means; None: not an answer to either."""
    if isinstance(answer, BackupMade | BackupFound) and answer.backup is not None:
        return Made(answer.backup)
    if isinstance(answer, BackupFound):
        # The earlier call never reached the platform (or made nothing): make it now, boundedly.
        if tries >= max_tries:
            return Exhausted(tries)
        return make(environment_id, label, tries)
    if isinstance(answer, Refused):
        return Refusal(answer.code, answer.message)
    if isinstance(answer, Missing):
        return Refusal(
            "EnvironmentNotFound",
            "The platform does not know this environment (deleted, or a wrong id?): "
            f"{answer.message}",
        )
    if isinstance(answer, RETRYABLE):
        return Retry(answer, may_exist=not isinstance(answer, Busy))
    return None
