"""Queue names. The two intake queues are public (contract section 3); the rest are internal."""

from __future__ import annotations

BACKUP_REQUESTS = "backup-requests"
RESTORE_REQUESTS = "restore-requests"
# Internal: delayed retries of a backup that met a busy environment or throttling.
BACKUP_WORK = "backup-work"
# Internal: the restore orchestrator's progress messages.
RESTORE_STEPS = "restore-steps"
# Data backups (contract section 9): the public intake queue, and the engine's step messages.
DATA_BACKUP_REQUESTS = "data-backup-requests"
DATA_BACKUP_WORK = "data-backup-work"
# Record restores (contract section 10): the public intake queue, and the engine's step messages.
DATA_RESTORE_REQUESTS = "data-restore-requests"
DATA_RESTORE_WORK = "data-restore-work"
# Internal: the notification outbox.
NOTIFICATIONS = "notifications"

# Must equal host.json extensions.queues.maxDequeueCount (a test checks it): handlers record why
# a message is about to be poisoned on its last attempt.
MAX_DEQUEUE_COUNT = 5


def poison_queue(name: str) -> str:
    return f"{name}-poison"
