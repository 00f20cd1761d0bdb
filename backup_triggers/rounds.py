"""Pure decisions of the backup timer: which environments, which label, which idempotency key.

A timer that fires twice for one schedule slot (host restart, a late catch-up, two instances
during a deployment swap) must make no second backup. Every key here is derived from the slot the
schedule says this firing belongs to (`Ncrontab.slot_of`, the host's own reading of the schedule),
not from the wall clock of the firing, so both firings produce the same requestIds and the intake
turns the second into a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.inputs import readable
from shared.settings import BackupScope
from shared.validation import MAX_LABEL


@dataclass(frozen=True, slots=True)
class ScopedEnvironment:
    environment_id: str
    display_name: str
    environment_type: str
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class PlannedBackup:
    environment_id: str
    label: str
    request_id: str


def select_environments(
    environments: Iterable[ScopedEnvironment], scope: BackupScope
) -> tuple[list[ScopedEnvironment], list[str]]:
    """The environments in scope, and notes on what was left out and why."""
    chosen: list[ScopedEnvironment] = []
    notes: list[str] = []
    seen: set[str] = set()
    for env in environments:
        key = env.environment_id.lower()
        if key in seen:
            continue
        seen.add(key)
        if not scope.includes(key, env.environment_type):
            continue
        if env.is_default or env.environment_type == "Default":
            notes.append(
                f"{env.display_name} ({env.environment_id}) is the tenant's Default environment, "
                "which the platform cannot back up; skipped"
            )
            continue
        chosen.append(env)
    for explicit in sorted(scope.environment_ids - seen):
        # Listed by id but not returned by the platform: still try, so the failure is recorded
        # on an operation a person sees, instead of the environment quietly dropping out.
        chosen.append(ScopedEnvironment(explicit, explicit, "Unknown"))
        notes.append(f"{explicit} is in BACKUP_SCOPE but was not listed by the platform")
    return chosen, notes


def render_label(template: str, slot: datetime, env: ScopedEnvironment) -> str:
    moment = slot.astimezone(UTC)
    label = (
        template.replace("{date}", moment.strftime("%Y-%m-%d"))
        .replace("{time}", moment.strftime("%H:%M"))
        .replace("{env}", readable(env.display_name).strip() or env.environment_id)
    )
    return label.strip()[:MAX_LABEL]


def timer_request_id(slot: datetime, environment_id: str) -> str:
    return f"timer:{slot.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}:{environment_id.lower()}"


def round_id(slot: datetime) -> str:
    return slot.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def plan_round(
    environments: Iterable[ScopedEnvironment],
    scope: BackupScope,
    template: str,
    slot: datetime,
) -> tuple[list[PlannedBackup], list[str]]:
    chosen, notes = select_environments(environments, scope)
    planned = [
        PlannedBackup(
            environment_id=env.environment_id.lower(),
            label=render_label(template, slot, env),
            request_id=timer_request_id(slot, env.environment_id),
        )
        for env in chosen
    ]
    return planned, notes


def listing_failure(reason: str, named: int) -> str:
    """What a person reads when the platform did not list its environments for a round: only the
    environments BACKUP_SCOPE names by id could be asked for (a type or `*` needs the listing)."""
    if named:
        done = f"only the {named} environment(s) BACKUP_SCOPE names by id were asked for"
    else:
        done = "no backup was asked for (BACKUP_SCOPE names no environment by id)"
    return (
        f"The platform could not list its environments ({reason}): {done}. Back up the others "
        "by hand (ppbackup backup <environment id>) before the update."
    )
