"""Keeping received messages invisible while their function runs.

The WebJobs queue listener receives messages with a 10-minute visibility timeout and renews it
at half-time for as long as the function runs, so a long invocation is not handed to a second
worker. Each renewal returns a new pop receipt, which the final delete/update must use; a lock
per lease keeps the renewal and the completion from interleaving.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from azure.core.exceptions import AzureError, HttpResponseError

from ppbackup.host.logs import log_event

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

# QueueListener.cs: `_visibilityTimeout = TimeSpan.FromMinutes(10)`.
DEFAULT_LEASE_SECONDS = 600


@dataclass(slots=True)
class Lease:
    message_id: str
    pop_receipt: str
    renew_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    finished: bool = False


class LeaseKeeper:
    def __init__(
        self, client: QueueClient, *, lease_seconds: int, function_name: str, queue_name: str
    ) -> None:
        self._client = client
        self._lease_seconds = lease_seconds
        self._function = function_name
        self._queue = queue_name
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{function_name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing; leases still held expire on their own and the messages reappear."""
        self._stop.set()

    def hold(self, message_id: str, pop_receipt: str) -> Lease:
        lease = Lease(message_id, pop_receipt, time.monotonic() + self._lease_seconds / 2)
        with self._lock:
            self._leases[message_id] = lease
        return lease

    def release(self, lease: Lease) -> None:
        with lease.lock:
            lease.finished = True
        with self._lock:
            self._leases.pop(lease.message_id, None)

    def _run(self) -> None:
        # Checking a few times per renewal period keeps renewals close to half-time.
        tick = max(0.05, min(1.0, self._lease_seconds / 8))
        while not self._stop.wait(tick):
            now = time.monotonic()
            with self._lock:
                due = [lease for lease in self._leases.values() if lease.renew_at <= now]
            for lease in due:
                self._renew(lease)

    def _renew(self, lease: Lease) -> None:
        with lease.lock:
            if lease.finished:
                return
            try:
                receipt = self._client.update_message(
                    lease.message_id, lease.pop_receipt, visibility_timeout=self._lease_seconds
                )
            except AzureError as error:
                lost = isinstance(error, HttpResponseError) and error.status_code in (400, 404)
                # 400/404: the pop receipt is stale or the message is gone (the lease ran out and
                # another receiver took it); renewing again cannot help. Anything else may be
                # transient, so try again soon, well before the lease runs out.
                lease.renew_at = (
                    math.inf if lost else time.monotonic() + max(0.05, self._lease_seconds / 8)
                )
                log_event(
                    logging.WARNING,
                    "queue.lease_renewal_failed",
                    function=self._function,
                    queue=self._queue,
                    message_id=lease.message_id,
                    error=type(error).__name__,
                    lost=lost,
                )
                return
            if receipt.pop_receipt:
                lease.pop_receipt = receipt.pop_receipt
            lease.renew_at = time.monotonic() + self._lease_seconds / 2
        log_event(
            logging.DEBUG,
            "queue.lease_renewed",
            function=self._function,
            queue=self._queue,
            message_id=lease.message_id,
        )
