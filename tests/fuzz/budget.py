"""How many inputs each surface gets, and the Hypothesis settings they run under.

Counts per surface are the CI run's (well over 10,000 inputs in all, a few minutes on two
cores); `PPBACKUP_FUZZ_SCALE=0.1` makes a quick local run, and `PPBACKUP_FUZZ_RANDOM=1` explores
new inputs instead of CI's derandomized ones (the same every run, so never flaky).
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("PPBACKUP_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("PPBACKUP_FUZZ_RANDOM", "") not in ("", "0")

settings.register_profile(
    "fuzz",
    deadline=None,  # Azurite's latency is not the property under test
    derandomize=not RANDOM,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)

# Inputs per surface at scale 1: at least 10,000 in all (tests/fuzz/test_budget.py), in a few
# minutes; the intake queues and the host cost the most per input (several storage writes each).
BUDGETS = {
    "POST /api/backups": 1200,
    "POST /api/restores": 1200,
    "GET /api/operations": 800,
    "GET /api/operations/{id}": 800,
    "POST /api/operations/{id}/cancel": 800,
    "PATCH /api/operations/{id}": 800,
    "GET /api/environments/{id}/backups": 600,
    "DELETE /api/environments/{id}/backups/{backupId}": 600,
    "queue backup-requests": 700,
    "queue restore-requests": 700,
    "queue data-backup-requests": 400,
    "POST /api/data-backups": 500,
    "GET /api/data-backups": 300,
    "GET /api/records/{environmentId}/{table}/{recordId}": 300,
    "queue data-restore-requests": 400,
    "POST /api/data-restores": 500,
    "CLI arguments": 800,
    "local host: HTTP requests": 400,
    "local host: intake messages": 300,
}

INPUTS: Counter[str] = Counter()


def examples(surface: str) -> int:
    return max(1, round(BUDGETS[surface] * SCALE))


def fuzz(surface: str) -> settings:
    """Hypothesis settings for one surface, with its budget of inputs."""
    return settings(settings.get_profile("fuzz"), max_examples=examples(surface))


def counted(surface: str) -> None:
    INPUTS[surface] += 1
