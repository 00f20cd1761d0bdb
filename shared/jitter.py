"""The app's jitter draws: from a generator of its own, never the `random` module's.

The module's generator is the process's: the Functions host's, other libraries', and a test
framework's that replays its inputs from it (Hypothesis checks that nothing drew from it while
an input was generated, and a resend's backoff drawn on a background thread at that moment
failed a run). Nothing here needs to be reproducible: a wait's jitter only spreads retries.
"""

from __future__ import annotations

import random

_GENERATOR = random.Random()


def draw() -> float:
    """A number in [0, 1), for a backoff's jitter (`shared.policy.backoff`)."""
    return _GENERATOR.random()
