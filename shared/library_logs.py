"""How loud the app's libraries are in its logs."""

from __future__ import annotations

import logging

# The storage SDKs log every HTTP request with its headers at INFO, httpx one line per request:
# thousands in one data backup. In Azure the Functions host ships INFO to Application
# Insights, billed by the gigabyte, where they drown the app's own events; their warnings and
# errors still count.
NOISY = ("azure", "httpx")


def quiet_library_logs() -> None:
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
