"""Calling a user function the way the Python worker does, and collecting its outputs.

The trigger value goes into the trigger's parameter, each queue output binding gets a `func.Out`,
a parameter named `context` gets a `func.Context`, and `async def` functions are awaited. Queue
outputs are written only after the function returned, as the real host does, so a failed
invocation sends nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import threading
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import azure.functions as func
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

# Not re-exported by azure.functions, but they are the types `func.Context` promises to return.
from azure.functions._abc import RetryContext, TraceContext

from ppbackup.host.host_config import MessageEncoding
from ppbackup.host.metadata import FunctionSpec

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient, QueueServiceClient

RETURN_BINDING = "$return"


class _Out(func.Out[Any]):
    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class _TraceContext(TraceContext):
    # No distributed tracing locally; empty values keep OpenTelemetry-style callers working.
    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(RetryContext):
    # Retry policies do not apply to the triggers this host runs (see the semantics reference).
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class LocalContext(func.Context):
    """The `context` argument: enough for logging and correlation."""

    def __init__(self, invocation_id: str, function_name: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._local = threading.local()
        self._local.invocation_id = invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return ""

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def trace_context(self) -> TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> RetryContext:
        return _RetryContext()


@dataclass(frozen=True, slots=True)
class InvocationResult:
    return_value: Any
    # Queue output binding name -> the value the function set (or returned, for `$return`).
    outputs: Mapping[str, Any]


def new_invocation_id() -> str:
    return str(uuid.uuid4())


def call_function(
    spec: FunctionSpec, trigger_value: Any, *, invocation_id: str
) -> InvocationResult:
    """Run the user function on the calling thread; exceptions propagate to the caller."""
    outs = {
        out.arg_name: _Out() for out in spec.queue_outputs if out.arg_name != RETURN_BINDING
    }
    kwargs: dict[str, Any] = {spec.trigger.arg_name: trigger_value, **outs}
    if spec.wants_context:
        kwargs["context"] = LocalContext(invocation_id, spec.name)
    result = spec.handler(**kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    outputs: dict[str, Any] = {name: out.get() for name, out in outs.items()}
    if any(out.arg_name == RETURN_BINDING for out in spec.queue_outputs):
        outputs[RETURN_BINDING] = result
    return InvocationResult(return_value=result, outputs=outputs)


async def _await(awaitable: Awaitable[Any]) -> Any:
    # asyncio.run wants a coroutine; a handler may return any awaitable.
    return await awaitable


class OutputWriter:
    """Writes queue output bindings with the app's messageEncoding."""

    def __init__(self, queues: QueueServiceClient, encoding: MessageEncoding) -> None:
        self._queues = queues
        self._encoding = encoding

    def write(self, spec: FunctionSpec, result: InvocationResult) -> None:
        """Raises (and so fails the invocation) when a write fails."""
        if spec.queue_outputs:
            send_queue_outputs(spec, result, queues=self._queues, encoding=self._encoding)


def send_queue_outputs(
    spec: FunctionSpec,
    result: InvocationResult,
    *,
    queues: QueueServiceClient,
    encoding: MessageEncoding,
) -> None:
    for out in spec.queue_outputs:
        texts = queue_message_texts(result.outputs.get(out.arg_name), encoding)
        if not texts:
            continue
        client = queues.get_queue_client(out.queue_name)
        for text in texts:
            try:
                client.send_message(text)
            except ResourceNotFoundError:
                # Output queues are created on demand, like the extension does.
                create_queue_if_missing(client)
                client.send_message(text)


def queue_message_texts(value: Any, encoding: MessageEncoding) -> list[str]:
    """The stored text of each message an output value stands for (None = no message)."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [_encode(item, encoding) for item in items]


def _encode(item: Any, encoding: MessageEncoding) -> str:
    if isinstance(item, func.QueueMessage):
        item = item.get_body()
    if isinstance(item, str):
        raw = item.encode("utf-8")
    elif isinstance(item, bytes | bytearray):
        raw = bytes(item)
    else:
        raise TypeError(
            f"a queue output accepts str, bytes, QueueMessage or a list of them, not "
            f"{type(item).__name__}"
        )
    if encoding is MessageEncoding.BASE64:
        return base64.b64encode(raw).decode("ascii")
    return raw.decode("utf-8")


def create_queue_if_missing(client: QueueClient, **options: Any) -> None:
    # Azurite answers 409 for an existing queue where Azure answers 204.
    with contextlib.suppress(ResourceExistsError):
        client.create_queue(**options)
