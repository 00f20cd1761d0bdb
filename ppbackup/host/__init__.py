"""A local Azure Functions host for the app's queue, timer and HTTP triggers.

Runs the functions a `func.FunctionApp` declares against Azurite (or any storage account) with
the Functions host's documented queue semantics, so tests, benchmarks and `ppbackup host` /
`ppbackup demo` need neither Core Tools nor .NET. See `LocalHost` and `serve`.
"""

from __future__ import annotations

from ppbackup.host.activity import Counters
from ppbackup.host.errors import HostConfigError, HostStartError
from ppbackup.host.host import DEFAULT_HTTP_PORT, LocalHost, serve
from ppbackup.host.host_config import HostConfig, MessageEncoding, QueueOptions, load_host_config

__all__ = [
    "DEFAULT_HTTP_PORT",
    "Counters",
    "HostConfig",
    "HostConfigError",
    "HostStartError",
    "LocalHost",
    "MessageEncoding",
    "QueueOptions",
    "load_host_config",
    "serve",
]
