"""The queue trigger: poll, invoke, then delete, retry later, or poison.

Mirrors the WebJobs Storage Queues extension (QueueListener.cs / QueueProcessor.cs), see the
semantics reference sections 1.1-1.3:

* receive up to `batchSize` messages under a 10-minute lease, renewed while the function runs;
  fetch the next batch once in-flight work drops to `newBatchThreshold`, so at most
  `batchSize + newBatchThreshold` invocations run per function;
* success -> delete; failure -> make visible again after `visibilityTimeout`, or, on the
  `maxDequeueCount`-th attempt, copy the stored body to `<queue>-poison` and delete;
* a message already over `maxDequeueCount` (its earlier runs crashed the host) and a message that
  is not valid base64 under `messageEncoding: base64` go to the poison queue uninvoked;
* an empty queue is polled with a randomized exponential back-off from 100 ms up to
  `maxPollingInterval`; after a message is found the next poll follows 100 ms later.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as FunctionQueueMessage

from ppbackup.host.activity import Activity, CounterBook
from ppbackup.host.host_config import MIN_POLLING_INTERVAL, MessageEncoding, QueueOptions
from ppbackup.host.invoke import (
    OutputWriter,
    call_function,
    create_queue_if_missing,
    new_invocation_id,
)
from ppbackup.host.leases import DEFAULT_LEASE_SECONDS, Lease, LeaseKeeper
from ppbackup.host.logs import log_event
from ppbackup.host.metadata import FunctionSpec, QueueTrigger
from ppbackup.host.workers import WorkerPool
from shared.jitter import draw
from shared.queue_names import poison_queue

if TYPE_CHECKING:
    from azure.storage.queue import QueueMessage, QueueServiceClient

_WHITESPACE = str.maketrans("", "", " \t\r\n")


def next_poll_delay(
    previous: float, *, maximum: float, minimum: float = MIN_POLLING_INTERVAL,
    jitter: float | None = None,
) -> float:
    """The next wait after an empty poll: roughly double, randomized by +/-20%, capped.

    Randomized so that several listeners started together do not poll in lockstep.
    """
    factor = 2.0 * (jitter if jitter is not None else 0.8 + 0.4 * draw())
    return max(minimum, min(maximum, previous * factor))


def decode_body(text: str, encoding: MessageEncoding) -> bytes:
    """The function's view of a stored message; `ValueError` if base64 text is malformed."""
    if encoding is MessageEncoding.NONE:
        return text.encode("utf-8")
    try:
        # .NET's Convert.FromBase64String ignores whitespace; everything else must be valid.
        return base64.b64decode(text.translate(_WHITESPACE), validate=True)
    except binascii.Error as error:
        raise ValueError("message text is not valid base64") from error


class QueueListener:
    """Runs one queue-triggered function; one listener per function, as in the real host."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        queues: QueueServiceClient,
        options: QueueOptions,
        activity: Activity,
        queue_counters: CounterBook,
        function_counters: CounterBook,
        outputs: OutputWriter,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
    ) -> None:
        if not isinstance(spec.trigger, QueueTrigger):
            raise TypeError(f"{spec.name} is not queue-triggered")
        self.spec = spec
        self.queue_name = spec.trigger.queue_name
        self._outputs = outputs
        self._client = queues.get_queue_client(self.queue_name)
        self._poison = queues.get_queue_client(poison_queue(self.queue_name))
        self._options = options
        self._activity = activity
        self._queue_counters = queue_counters
        self._function_counters = function_counters
        self._lease_seconds = lease_seconds
        self._threshold = options.effective_new_batch_threshold
        self._stop = threading.Event()
        self._capacity = threading.Condition()
        self._in_flight = 0
        self._leases = LeaseKeeper(
            self._client, lease_seconds=lease_seconds, function_name=spec.name,
            queue_name=self.queue_name,
        )
        self._pool: WorkerPool | None = None
        self._poller = threading.Thread(target=self._poll, name=f"poll-{spec.name}", daemon=True)

    # Lifecycle -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the trigger queue if missing; one attempt, so a dead storage fails fast."""
        create_queue_if_missing(self._client, retry_total=0)

    def start(self) -> None:
        self._pool = WorkerPool(self._options.max_concurrency, name=f"fn-{self.spec.name}")
        self._leases.start()
        self._poller.start()

    def request_stop(self) -> None:
        """Stop fetching; invocations already running carry on."""
        self._stop.set()
        with self._capacity:
            self._capacity.notify_all()

    def close(self) -> None:
        """After the drain: stop the workers and the lease renewals."""
        self.request_stop()
        self._poller.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown()
        self._leases.stop()

    # Polling ---------------------------------------------------------------------------------

    def _poll(self) -> None:
        delay = MIN_POLLING_INTERVAL
        while not self._stop.is_set():
            with self._capacity:
                while self._in_flight > self._threshold and not self._stop.is_set():
                    self._capacity.wait()
            if self._stop.is_set():
                return
            try:
                messages = self._receive()
            except Exception as error:  # noqa: BLE001  # the poller must outlive any failure
                delay = next_poll_delay(delay, maximum=self._options.max_polling_interval)
                log_event(
                    logging.WARNING, "queue.poll_failed", function=self.spec.name,
                    queue=self.queue_name, error=type(error).__name__, retry_in_s=round(delay, 2),
                    # Storage errors are expected (Azurite restarting); anything else is a bug.
                    exc_info=not isinstance(error, AzureError),
                )
                self._stop.wait(delay)
                continue
            if not messages:
                self._stop.wait(delay)
                delay = next_poll_delay(delay, maximum=self._options.max_polling_interval)
                continue
            delay = MIN_POLLING_INTERVAL
            for message in messages:
                self._dispatch(message)
            self._stop.wait(MIN_POLLING_INTERVAL)

    def _receive(self) -> list[QueueMessage]:
        count = self._options.batch_size
        pages = self._client.receive_messages(
            messages_per_page=count,
            max_messages=count,
            visibility_timeout=self._lease_seconds,
            # Our own back-off handles failures; SDK retries would stall polling for a minute.
            retry_total=0,
        ).by_page()
        try:
            return list(next(pages))
        except ResourceNotFoundError:
            # Deleted under us (a test wiping storage, an operator): recreate, as the host does.
            create_queue_if_missing(self._client, retry_total=0)
            return []
        except StopIteration:
            return []

    def _dispatch(self, message: QueueMessage) -> None:
        with self._capacity:
            self._in_flight += 1
        self._activity.begin()
        lease = self._leases.hold(message.id, message.pop_receipt or "")
        assert self._pool is not None  # started before polling begins
        self._pool.submit(lambda: self._process(message, lease))

    # Processing one message ------------------------------------------------------------------

    def _process(self, message: QueueMessage, lease: Lease) -> None:
        try:
            self._handle(message, lease)
        finally:
            self._leases.release(lease)
            with self._capacity:
                self._in_flight -= 1
                self._capacity.notify_all()
            self._activity.end()

    def _handle(self, message: QueueMessage, lease: Lease) -> None:
        dequeue_count = int(message.dequeue_count or 0)
        text = message.content if isinstance(message.content, str) else ""
        if dequeue_count > self._options.max_dequeue_count:
            self._move_to_poison(message, lease, reason="dequeue_count_exceeded")
            return
        try:
            body = decode_body(text, self._options.message_encoding)
        except ValueError:
            self._move_to_poison(message, lease, reason="not_base64")
            return
        trigger_value = FunctionQueueMessage(  # type: ignore[no-untyped-call]  # untyped library
            id=message.id,
            body=body,
            dequeue_count=dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        invocation_id = new_invocation_id()
        started = time.monotonic()
        self._queue_counters.invoked(self.queue_name)
        self._function_counters.invoked(self.spec.name)
        try:
            result = call_function(self.spec, trigger_value, invocation_id=invocation_id)
            self._outputs.write(self.spec, result)
        except Exception:  # noqa: BLE001  # any failure of the function means "retry me"
            self._queue_counters.failed(self.queue_name)
            self._function_counters.failed(self.spec.name)
            last_attempt = dequeue_count >= self._options.max_dequeue_count
            self._log_invocation(
                logging.WARNING, message, invocation_id, started,
                outcome="failed_poisoning" if last_attempt else "failed_will_retry",
                exc_info=True,
            )
            if last_attempt:
                self._move_to_poison(message, lease, reason="max_dequeue_count")
            else:
                self._release_for_retry(message, lease)
            return
        self._log_invocation(logging.INFO, message, invocation_id, started, outcome="succeeded")
        self._complete(message, lease)

    def _log_invocation(
        self, level: int, message: QueueMessage, invocation_id: str, started: float, *,
        outcome: str, exc_info: bool = False,
    ) -> None:
        log_event(
            level, "queue.invocation", exc_info=exc_info,
            function=self.spec.name, queue=self.queue_name, message_id=message.id,
            dequeue_count=message.dequeue_count, outcome=outcome,
            duration_ms=round((time.monotonic() - started) * 1000), invocation_id=invocation_id,
        )

    def _complete(self, message: QueueMessage, lease: Lease) -> None:
        with lease.lock:
            lease.finished = True
            self._delete(message, lease)

    def _delete(self, message: QueueMessage, lease: Lease) -> None:
        """Caller holds `lease.lock`."""
        receipt = lease.pop_receipt
        self._storage_call(
            "delete", message, lambda: self._client.delete_message(message.id, receipt)
        )

    def _release_for_retry(self, message: QueueMessage, lease: Lease) -> None:
        with lease.lock:
            lease.finished = True
            self._storage_call(
                "release",
                message,
                lambda: self._client.update_message(
                    message.id,
                    lease.pop_receipt,
                    visibility_timeout=round(self._options.visibility_timeout),
                ),
            )

    def _move_to_poison(self, message: QueueMessage, lease: Lease, *, reason: str) -> None:
        # The copy is a new message holding only the stored text, so it keeps the original
        # encoding and can be moved back to the main queue unchanged.
        text = message.content if isinstance(message.content, str) else ""
        with lease.lock:
            lease.finished = True
            try:
                self._send_to_poison(text)
            except AzureError as error:
                # Leave the original alone: it reappears after the lease and is poisoned then.
                log_event(
                    logging.ERROR, "queue.poison_failed", function=self.spec.name,
                    queue=self.queue_name, message_id=message.id, error=type(error).__name__,
                )
                return
            self._delete(message, lease)
        self._queue_counters.poisoned(self.queue_name)
        self._function_counters.poisoned(self.spec.name)
        log_event(
            logging.ERROR, "queue.message_poisoned", function=self.spec.name,
            queue=self.queue_name, poison_queue=poison_queue(self.queue_name),
            message_id=message.id, dequeue_count=message.dequeue_count, reason=reason,
        )

    def _send_to_poison(self, text: str) -> None:
        try:
            self._poison.send_message(text)
        except ResourceNotFoundError:
            create_queue_if_missing(self._poison)
            self._poison.send_message(text)

    def _storage_call(
        self, action: str, message: QueueMessage, call: Callable[[], object]
    ) -> None:
        try:
            call()
        except AzureError as error:
            # Most likely the lease was lost (pop receipt mismatch) and another receiver owns the
            # message now; that receiver decides its fate, as QueueProcessor does.
            log_event(
                logging.WARNING, f"queue.{action}_failed", function=self.spec.name,
                queue=self.queue_name, message_id=message.id, error=type(error).__name__,
            )
