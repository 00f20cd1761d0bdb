"""The timer trigger: one thread per timer function.

As in the real host (WebJobs `TimerListener`): a timer runs one invocation at a time; the next
occurrence is computed from when an invocation started, so occurrences that fell while it ran fire
once, as soon as it returns; a failed invocation is not retried; `run_on_startup` fires once when
the host starts. `past_due` is always False: the real host sets it only for the catch-up firing
at start-up of a `use_monitor` timer whose stored schedule status shows a missed occurrence, and
this host keeps no schedule status (README, the paragraph on `func start`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from azure.functions.timer import TimerRequest

from ppbackup.host.activity import Activity, CounterBook
from ppbackup.host.invoke import OutputWriter, call_function, new_invocation_id
from ppbackup.host.logs import log_event
from ppbackup.host.metadata import FunctionSpec, TimerTrigger
from ppbackup.host.schedules import Schedule


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TimerRunner:
    def __init__(
        self,
        spec: FunctionSpec,
        schedule: Schedule,
        *,
        activity: Activity,
        function_counters: CounterBook,
        outputs: OutputWriter,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not isinstance(spec.trigger, TimerTrigger):
            raise TypeError(f"{spec.name} is not timer-triggered")
        self.spec = spec
        self._trigger = spec.trigger
        self._schedule = schedule
        self._activity = activity
        self._counters = function_counters
        self._clock = clock
        self._outputs = outputs
        self._stop = threading.Event()
        self._last: datetime | None = None
        self._thread = threading.Thread(target=self._run, name=f"timer-{spec.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """No further occurrences; an invocation already running finishes."""
        self._stop.set()

    def _run(self) -> None:
        due = self._schedule.next_after(self._clock())
        if self._trigger.run_on_startup and not self._stop.is_set():
            started = self._clock()
            self._fire(past_due=False)
            due = self._schedule.next_after(started)
        while True:
            wait = (due - self._clock()).total_seconds()
            if self._stop.wait(max(0.0, wait)):
                return
            started = self._clock()
            if started < due:  # woke a little early
                continue
            # Late (the process was paused) is still a scheduled firing for the real host.
            self._fire(past_due=False)
            # From the start, not the end, of the invocation: an occurrence that passed while it
            # ran is due at once, so a long run is followed by one catch-up firing, not a skip.
            due = self._schedule.next_after(started)

    def _fire(self, *, past_due: bool) -> None:
        now = self._clock()
        status = {
            "Last": (self._last or now).isoformat(),
            "Next": self._schedule.next_after(now).isoformat(),
            "LastUpdated": now.isoformat(),
        }
        self._last = now
        request = TimerRequest(
            past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True}
        )
        invocation_id = new_invocation_id()
        started = time.monotonic()
        self._activity.begin()
        self._counters.invoked(self.spec.name)
        try:
            result = call_function(self.spec, request, invocation_id=invocation_id)
            self._outputs.write(self.spec, result)
        except Exception:  # noqa: BLE001  # a failing timer function must not stop the timer
            self._counters.failed(self.spec.name)
            # Not retried: the next occurrence is the retry, as with the real timer trigger.
            self._log(logging.WARNING, invocation_id, started, past_due, "failed", exc_info=True)
        else:
            self._log(logging.INFO, invocation_id, started, past_due, "succeeded")
        finally:
            self._activity.end()

    def _log(
        self, level: int, invocation_id: str, started: float, past_due: bool, outcome: str,
        *, exc_info: bool = False,
    ) -> None:
        log_event(
            level, "timer.invocation", exc_info=exc_info, function=self.spec.name,
            schedule=self._trigger.schedule, past_due=past_due, outcome=outcome,
            duration_ms=round((time.monotonic() - started) * 1000), invocation_id=invocation_id,
        )
