"""`ppbackup host`: the real function app (`function_app.app`) in the local host."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from shared.errors import ConfigError
from shared.library_logs import quiet_library_logs

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST_JSON = PROJECT_ROOT / "host.json"


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    quiet_library_logs()


def prepare_environment(environ: Mapping[str, str]) -> str:
    """Make `environ` the process environment (the app reads it) and return the storage."""
    storage = environ.get("AzureWebJobsStorage", "").strip()
    if not storage:
        raise ConfigError(
            [
                "AzureWebJobsStorage is required: set it, pass --storage, or put it in "
                "local.settings.json (UseDevelopmentStorage=true for Azurite on its default ports)"
            ]
        )
    os.environ.update(environ)
    return storage


def serve_function_app(*, environ: Mapping[str, str], port: int) -> None:
    from ppbackup.host import serve

    storage = prepare_environment(environ)
    configure_logging()
    # Imported only now: the app reads BACKUP_SCHEDULE while its decorators run.
    import function_app

    def started(host: object) -> None:
        url = getattr(host, "http_url", "")
        sys.stderr.write(
            f"ppbackup host: serving {url}/api (no function key locally); Ctrl-C stops\n"
        )

    serve(
        function_app.app,
        storage_connection=storage,
        host_json=HOST_JSON,
        port=port,
        on_started=started,
    )
