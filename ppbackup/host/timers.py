"""The timer trigger: one thread per timer function.

As in the real host: a timer runs one invocation at a time (an occurrence that falls while the
previous invocation still runs is skipped), a failed invocation is not retried, and
`run_on_startup` fires once when the host starts. `past_due` is set when an invocation starts
noticeably after its scheduled time (the machine slept, the process was paused).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from azure.functions.timer import TimerRequest

from ppbackup.host.activity import Activity, CounterBook
from ppbackup.host.invoke import OutputWriter, call_function, new_invocation_id
from ppbackup.host.logs import log_event
from ppbackup.host.metadata import FunctionSpec, TimerTrigger
from ppbackup.host.schedules import Schedule

PAST_DUE_TOLERANCE = timedelta(seconds=1)


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
        if self._trigger.run_on_startup and not self._stop.is_set():
            self._fire(past_due=False)
        due = self._schedule.next_after(self._clock())
        while True:
            wait = (due - self._clock()).total_seconds()
            if self._stop.wait(max(0.0, wait)):
                return
            now = self._clock()
            if now < due:  # woke a little early
                continue
            self._fire(past_due=now - due > PAST_DUE_TOLERANCE)
            # From "now", not from `due`: occurrences missed while the function ran are skipped.
            due = self._schedule.next_after(max(self._clock(), due))

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
