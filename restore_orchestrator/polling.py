"""When to look at a long-running platform operation again (docs/orchestrator.md, "Waiting").

With `Retry-After`, exactly that, unless it names no wait (`0`, below the backoff's floor: a
platform never means "poll in a tight loop"). Without it, the interval follows the stages:

* Before the last stage the operation cannot finish successfully, so only stage changes are worth
  seeing: the interval grows with the time spent in the current stage (a quarter of it), from
  one minute up to fifteen.
* In the last stage it can end any minute. Its end is expected between its start plus the
  shortest and plus the longest stage seen so far. Polls close in on the early edge (half the
  remaining time), run every minute inside the window, and widen again slowly past it (an eighth
  of the overrun), so a last stage unlike the others does not cost a call a minute for hours.
* Without stage information, the interval grows with the operation's age, as in the first case.

Stage times are known only to the precision of our polls: a change seen at one poll happened
after the previous one. The window therefore opens at the earliest and closes at the latest
moment the observations allow. A failure can end an operation in any stage; it is seen within the
current interval (at most fifteen minutes), which the switch back that follows can afford.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from engine.config import EngineConfig
from restore_orchestrator.state import ProgressMark

_GROWTH = 4.0  # interval = time in the stage / 4
_APPROACH = 2.0  # interval = time to the window / 2
_OVERRUN = 8.0  # interval = time past the window / 8


def poll_delay(
    *,
    now: datetime,
    started_at: datetime | None,
    progress: Sequence[ProgressMark],
    retry_after: float | None,
    config: EngineConfig,
) -> float:
    told = config.backoff.server_wait(retry_after)
    if told is not None:
        return told
    if not progress or progress[-1].total <= 0 or started_at is None:
        age = _seconds(now, started_at) if started_at is not None else 0.0
        return _clamp(age / _GROWTH, config)
    current = progress[-1]
    if current.done >= current.total:
        return config.poll_min_seconds  # every stage done: ending now
    if current.done < current.total - 1:
        return _clamp(_seconds(now, current.seen_at) / _GROWTH, config)
    window = end_window(progress, started_at)
    if window is None:
        return _clamp(_seconds(now, current.seen_at) / _GROWTH, config)
    earliest, latest = window
    if now < earliest:
        return _clamp(_seconds(earliest, now) / _APPROACH, config)
    if now <= latest:
        return config.poll_min_seconds
    return _clamp(_seconds(now, latest) / _OVERRUN, config)


def end_window(
    progress: Sequence[ProgressMark], started_at: datetime
) -> tuple[datetime, datetime] | None:
    """(earliest, latest) plausible end of an operation in its last stage, or None."""
    shortest: float | None = None
    longest: float | None = None
    done, seen, since = 0, started_at, started_at
    for mark in progress:
        if mark.done <= done:
            continue
        stages = mark.done - done
        # The previous change happened in (since, seen], this one in (mark.since, mark.seen_at].
        changed_after = mark.since if mark.since is not None else seen
        low = max(0.0, _seconds(changed_after, seen)) / stages
        high = _seconds(mark.seen_at, since) / stages
        shortest = low if shortest is None else min(shortest, low)
        longest = high if longest is None else max(longest, high)
        done, seen, since = mark.done, mark.seen_at, changed_after
    if shortest is None or longest is None:
        return None
    return _plus(since, shortest), _plus(seen, longest)


def estimated_end(
    progress: Sequence[ProgressMark], started_at: datetime | None
) -> float | None:
    """Seconds from `started_at` to the expected end at the average pace so far (for people)."""
    if not progress or started_at is None:
        return None
    current = progress[-1]
    if current.done <= 0 or current.total <= 0:
        return None
    elapsed = _seconds(current.seen_at, started_at)
    return elapsed / current.done * current.total


def _plus(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


def _clamp(seconds: float, config: EngineConfig) -> float:
    return min(config.poll_max_seconds, max(config.poll_min_seconds, seconds))


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()
