"""Start and stop Azurite (queues, tables and blobs) on free loopback ports.

Used by the test suite, the benchmarks, `ppbackup demo` and CI. Azurite comes from the project's
own `npm install` (package.json pins it); `AZURITE_BIN` may point at another copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.storage.connection import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class AzuriteNotFound(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class AzuriteEndpoints:
    queue_port: int
    table_port: int
    # The data backup store (shared/data_store) lives in blobs; None: an endpoint set without it.
    blob_port: int | None = None
    host: str = "127.0.0.1"

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};"
            f"QueueEndpoint=http://{self.host}:{self.queue_port}/{DEV_ACCOUNT_NAME};"
            f"TableEndpoint=http://{self.host}:{self.table_port}/{DEV_ACCOUNT_NAME};"
            + (
                f"BlobEndpoint=http://{self.host}:{self.blob_port}/{DEV_ACCOUNT_NAME};"
                if self.blob_port is not None
                else ""
            )
        )


def find_azurite_binary(name: str) -> str:
    override = os.environ.get("AZURITE_BIN")
    if override:
        return str(Path(override).parent / name) if Path(override).name != name else override
    local = PROJECT_ROOT / "node_modules" / ".bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    raise AzuriteNotFound(
        f"{name} was not found. Run `npm install` in {PROJECT_ROOT} (package.json pins Azurite), "
        "or set AZURITE_BIN to an azurite executable."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited early with code {process.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"Azurite did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


@contextlib.contextmanager
def running_azurite(
    *, timeout: float = 30.0, location: Path | None = None
) -> Iterator[AzuriteEndpoints]:
    """Run azurite-queue, -table and -blob on free loopback ports for the duration of the block.

    Data is kept in memory unless `location` is given. `--skipApiVersionCheck` because the Python
    SDKs ask for newer service versions than Azurite knows (see README, Operations).
    """
    blob_port = free_port()
    endpoints = AzuriteEndpoints(
        queue_port=free_port(), table_port=free_port(), blob_port=blob_port
    )
    common = ["--silent", "--skipApiVersionCheck", "--disableTelemetry", "--loose"]
    if location is None:
        common.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        common += ["--location", str(location)]
    commands = [
        [find_azurite_binary("azurite-queue"), "--queueHost", endpoints.host,
         "--queuePort", str(endpoints.queue_port), *common],
        [find_azurite_binary("azurite-table"), "--tableHost", endpoints.host,
         "--tablePort", str(endpoints.table_port), *common],
        [find_azurite_binary("azurite-blob"), "--blobHost", endpoints.host,
         "--blobPort", str(blob_port), *common],
    ]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            processes.append(
                subprocess.Popen(
                    command,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C in a terminal reaches us, not Azurite
                )
            )
        _wait_for_port(endpoints.queue_port, processes[0], timeout)
        _wait_for_port(endpoints.table_port, processes[1], timeout)
        _wait_for_port(blob_port, processes[2], timeout)
        yield endpoints
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def main(argv: list[str] | None = None) -> int:
    """`python -m ppbackup.azurite`: run Azurite until SIGTERM/Ctrl-C (used by .ci/run)."""
    import argparse
    import signal
    import threading

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--ready-file", type=Path, help="write the connection string here once up")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with running_azurite() as endpoints:
        if args.ready_file:
            args.ready_file.write_text(endpoints.connection_string)
        else:
            print(endpoints.connection_string, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
