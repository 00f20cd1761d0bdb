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

INPUTS: Counter[str] = Counter()


def fuzz(examples: int) -> settings:
    """Hypothesis settings for one surface: `examples` inputs at scale 1."""
    return settings(settings.get_profile("fuzz"), max_examples=max(1, round(examples * SCALE)))


def counted(surface: str) -> None:
    INPUTS[surface] += 1
