"""The parts of host.json the local host honours, with the Functions defaults when absent.

Only `extensions.queues` and `extensions.http.routePrefix` change behaviour here; everything else
(logging, extension bundle, functionTimeout) is the real host's business and is ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ppbackup.host.errors import HostConfigError

# Storage Get Messages takes 1..32 messages per call; the extension refuses larger batches too.
MAX_BATCH_SIZE = 32
# Update Message accepts visibility delays up to 7 days.
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600
# The extension's floor for the polling back-off.
MIN_POLLING_INTERVAL = 0.1
# `maxPollingInterval` defaults to 1 minute in Azure, but the host uses 2 seconds when it runs in
# development (Core Tools), which is what this host imitates; an explicit value is honoured.
LOCAL_DEFAULT_MAX_POLLING_INTERVAL = 2.0

_TIMESPAN = re.compile(
    r"^(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2}):(?P<seconds>\d{1,2}(?:\.\d+)?)$"
)


class MessageEncoding(StrEnum):
    BASE64 = "base64"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class QueueOptions:
    """`extensions.queues`, in seconds where the file says TimeSpan."""

    message_encoding: MessageEncoding = MessageEncoding.BASE64
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    batch_size: int = 16
    # None = the documented default batch_size / 2 (one vCPU; see README).
    new_batch_threshold: int | None = None
    max_polling_interval: float = LOCAL_DEFAULT_MAX_POLLING_INTERVAL

    @property
    def effective_new_batch_threshold(self) -> int:
        if self.new_batch_threshold is not None:
            return self.new_batch_threshold
        return self.batch_size // 2

    @property
    def max_concurrency(self) -> int:
        """Per function: one full batch on top of what is still running at the threshold."""
        return self.batch_size + self.effective_new_batch_threshold


@dataclass(frozen=True, slots=True)
class HostConfig:
    queues: QueueOptions = field(default_factory=QueueOptions)
    route_prefix: str = "api"


def parse_timespan(value: object, *, name: str) -> float:
    """A host.json TimeSpan (`[d.]hh:mm:ss[.fff]`) in seconds.

    A bare number is accepted as milliseconds, the Functions 1.x form some samples still show.
    """
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a TimeSpan like '00:00:30', got {value!r}")
    if isinstance(value, int | float):
        return float(value) / 1000.0
    if isinstance(value, str):
        match = _TIMESPAN.match(value.strip())
        if match:
            days = int(match["days"] or 0)
            hours, minutes = int(match["hours"]), int(match["minutes"])
            if hours < 24 and minutes < 60 and float(match["seconds"]) < 60:
                return (
                    days * 86400 + hours * 3600 + minutes * 60 + float(match["seconds"])
                )
    raise ValueError(f"{name}: expected a TimeSpan like '00:00:30', got {value!r}")


def load_host_config(path: Path | None) -> HostConfig:
    """Read host.json; `None` means no file (all defaults)."""
    if path is None:
        return HostConfig()
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as error:
        raise HostConfigError([f"{path}: cannot be read ({error.strerror})"]) from error
    except json.JSONDecodeError as error:
        raise HostConfigError(
            [f"{path}: not valid JSON ({error.msg}, line {error.lineno})"]
        ) from error
    return parse_host_config(document, source=str(path))


def parse_host_config(document: object, *, source: str = "host.json") -> HostConfig:
    problems: list[str] = []
    if not isinstance(document, dict):
        raise HostConfigError([f"{source}: the top level must be a JSON object"])
    extensions = _section(document, "extensions", source, problems)
    queues = _parse_queues(_section(extensions, "queues", source, problems), source, problems)
    http = _section(extensions, "http", source, problems)
    prefix = http.get("routePrefix", "api")
    if not isinstance(prefix, str):
        problems.append(f"{source}: extensions.http.routePrefix must be a string")
        prefix = "api"
    if problems:
        raise HostConfigError(problems)
    return HostConfig(queues=queues, route_prefix=prefix.strip("/"))


def _section(parent: dict[str, Any], key: str, source: str, problems: list[str]) -> dict[str, Any]:
    value = parent.get(key, {})
    if isinstance(value, dict):
        return value
    problems.append(f"{source}: '{key}' must be a JSON object")
    return {}


def _parse_queues(section: dict[str, Any], source: str, problems: list[str]) -> QueueOptions:
    defaults = QueueOptions()
    where = f"{source}: extensions.queues"

    def integer(key: str, default: int | None, low: int, high: int) -> int | None:
        value = section.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append(f"{where}.{key} must be an integer from {low} to {high}, got {value!r}")
            return default
        return value

    def timespan(key: str, default: float, low: float, high: float) -> float:
        if key not in section:
            return default
        try:
            seconds = parse_timespan(section[key], name=f"{where}.{key}")
        except ValueError as error:
            problems.append(str(error))
            return default
        if not low <= seconds <= high:
            problems.append(f"{where}.{key} must be between {low:g}s and {high:g}s")
            return default
        return seconds

    encoding_text = section.get("messageEncoding", defaults.message_encoding.value)
    try:
        encoding = MessageEncoding(str(encoding_text).lower())
    except ValueError:
        problems.append(
            f"{where}.messageEncoding must be 'base64' or 'none', got {encoding_text!r}"
        )
        encoding = defaults.message_encoding
    batch_size = integer("batchSize", defaults.batch_size, 1, MAX_BATCH_SIZE)
    return QueueOptions(
        message_encoding=encoding,
        max_dequeue_count=integer("maxDequeueCount", defaults.max_dequeue_count, 1, 10_000)
        or defaults.max_dequeue_count,
        visibility_timeout=timespan(
            "visibilityTimeout", defaults.visibility_timeout, 0.0, MAX_VISIBILITY_SECONDS
        ),
        batch_size=batch_size or defaults.batch_size,
        # -1 is how the extension itself spells "use the default".
        new_batch_threshold=_default_if_negative(integer("newBatchThreshold", None, -1, 10_000)),
        max_polling_interval=timespan(
            "maxPollingInterval",
            defaults.max_polling_interval,
            MIN_POLLING_INTERVAL,
            MAX_VISIBILITY_SECONDS,
        ),
    )


def _default_if_negative(value: int | None) -> int | None:
    return None if value is None or value < 0 else value
