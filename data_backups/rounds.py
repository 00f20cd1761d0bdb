"""The data backup timer round over DATA_BACKUP_SCOPE, idempotent per schedule slot."""

from __future__ import annotations

import logging
from datetime import datetime

from shared.queue_names import DATA_BACKUP_REQUESTS
from shared.runtime import AppContext

log = logging.getLogger(__name__)


def run_data_backup_round(ctx: AppContext, *, fired_at: datetime) -> list[str]:
    """One data backup request per environment in DATA_BACKUP_SCOPE, keyed by the schedule slot
    (a second firing for the slot asks for the same request ids: no second point). Returns the
    environment ids asked for."""
    from backup_triggers import rounds
    from notifications import rounds as notification_rounds
    from shared.policy.ncrontab import Ncrontab

    settings = ctx.settings
    scope = settings.data_backup_scope
    if not (scope.everything or scope.environment_ids or scope.types):
        return []
    schedule = Ncrontab.parse(settings.data_backup_schedule, settings.time_zone, seconds=True)
    slot = schedule.slot_of(fired_at)
    environments = [
        rounds.ScopedEnvironment(e.id, e.display_name, e.type or "Unknown", e.is_default)
        for e in ctx.platform.list_environments()
    ]
    chosen, notes = rounds.select_environments(environments, scope)
    round_id = f"data-{rounds.round_id(slot)}"
    notification_rounds.plan_round(
        ctx, round_id=round_id, started_at=fired_at,
        members=[(e.environment_id.lower(), e.display_name) for e in chosen],
    )
    for env in chosen:
        ctx.queues.send(DATA_BACKUP_REQUESTS, {
            "environmentId": env.environment_id.lower(),
            "label": f"Data {slot:%Y-%m-%d %H:%M}Z",
            "requestedBy": f"timer (round {round_id})",
            "requestId": f"data-{rounds.timer_request_id(slot, env.environment_id)}",
        })
    for note in notes:
        log.warning("data_backup.round_note", extra={"round": round_id, "note": note})
    return [e.environment_id.lower() for e in chosen]
