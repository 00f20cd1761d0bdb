"""Errors the local host raises before it runs anything.

`HostConfigError` is a `ConfigError` so the CLI maps it like any other bad setting (exit code 2),
and it lists every problem at once, as the app's settings loader does.
"""

from __future__ import annotations

from shared.errors import ConfigError


class HostConfigError(ConfigError):
    """host.json, a binding or a binding expression the local host cannot honour."""

    code = "HostConfigError"


class HostStartError(RuntimeError):
    """The host could not start: storage unreachable, HTTP port taken, ..."""
