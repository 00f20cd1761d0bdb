"""How far our clock and another party's (the platform's, the storage service's) may disagree.

Used wherever we compare our timestamps with theirs: looking for a backup or an operation that an
earlier attempt may have started (the platform stamps it with its own clock), and keeping a delay
clear of a service limit measured on the service's clock. One allowance, so the windows agree.
"""

from __future__ import annotations

from datetime import timedelta

CLOCK_SKEW = timedelta(minutes=2)
