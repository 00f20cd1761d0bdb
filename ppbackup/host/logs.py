"""Structured log events for the local host.

The message starts with the event name (`queue.invocation`) so events are searchable, the
details follow as lazy `key=value` arguments so a plain console handler stays readable, and the
same details go into `extra` for structured handlers. Message bodies, headers and query strings
are never passed here: they can carry secrets and personal data.
"""

from __future__ import annotations

import logging

LOGGER = logging.getLogger("ppbackup.host")


def log_event(
    level: int,
    event: str,
    /,
    *,
    exc_info: bool = False,
    logger: logging.Logger = LOGGER,
    **fields: object,
) -> None:
    if not logger.isEnabledFor(level):
        return
    template = event + "".join(f" {key}=%s" for key in fields)
    logger.log(
        level,
        template,
        *fields.values(),
        extra={"event": event, **fields},
        exc_info=exc_info,
    )
