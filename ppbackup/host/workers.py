"""A fixed pool of daemon worker threads.

Not `concurrent.futures.ThreadPoolExecutor`: its workers are joined at interpreter exit, so one
user function that never returns would keep `ppbackup host` from exiting after Ctrl-C. Daemon
workers let the host give up after its bounded drain; the message they held simply becomes
visible again when its lease runs out, which is what a crashed Functions host does too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from ppbackup.host.logs import LOGGER

_STOP = object()


class WorkerPool:
    def __init__(self, size: int, *, name: str) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None] | object] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True)
            for index in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, task: Callable[[], None]) -> None:
        self._tasks.put(task)

    def shutdown(self) -> None:
        """Let each worker finish what it has, then exit; does not wait."""
        for _ in self._threads:
            self._tasks.put(_STOP)

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is _STOP or not callable(task):
                return
            try:
                task()
            except Exception:  # noqa: BLE001  # a worker thread must survive any task
                # Tasks handle their own failures; reaching here is a host bug, not a user one.
                LOGGER.exception("host.worker_task_crashed")
