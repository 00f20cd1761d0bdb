"""Hostile arguments to `ppbackup`, in process (`ppbackup.cli.main`) against Azurite.

The property: every command line ends with an exit code of the contract (0 success, 1 the
operation failed or the platform refused, 2 bad usage or a rejected request; argparse's own
usage errors are 2 as well), never a traceback, and a refusal says why on stderr. Arguments
that are not valid UTF-8 reach Python as lone surrogates (`surrogateescape`); a few real
processes check that path end to end.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppbackup.cli import main
from tests.fuzz import hostile
from tests.fuzz.budget import counted, fuzz

ROOT = Path(__file__).resolve().parents[2]

# Commands that wait (--follow, --wait) or serve (host, simulator, demo) are left out: they run
# until stopped, which is their job, not a decision about input.
COMMANDS = {
    "backup": ["--label", "--notes", "--requested-by", "--request-id", "--json"],
    "restore": ["--target", "--source", "--backup-id", "--backup-label", "--at", "--latest",
                "--confirm-production", "--keep-audit-data", "--no-safety-backup", "--dry-run",
                "--requested-by", "--reason", "--request-id", "--json"],
    "status": ["--json"],
    "history": ["--env", "--kind", "--limit", "--request-id", "--json"],
    "cancel": ["--requested-by", "--json"],
    "backups": ["--json"],
    "delete-backup": ["--yes", "--requested-by", "--json"],
    "annotate": ["--label", "--notes", "--requested-by", "--json"],
    "data backup": ["--table", "--full", "--label", "--requested-by", "--request-id", "--json"],
    "data points": ["--table", "--json"],
    "data record": ["--json"],
    "data restore": ["--source", "--table", "--point", "--at", "--target", "--ids", "--mode",
                     "--with-related", "--apply", "--confirm-production", "--requested-by",
                     "--reason", "--request-id", "--json"],
    "data diff": ["--table", "--json"],
}
FLAGS = {"--json", "--latest", "--keep-audit-data", "--no-safety-backup", "--dry-run", "--yes",
         "--full", "--with-related", "--apply"}


def _text_argument(draw: st.DrawFn) -> str:
    value: str = draw(hostile.text_values | st.sampled_from(
        [hostile.ENV, hostile.OTHER_ENV, "backup-20261121T010000000Z-abcdef", "latest", "5",
         "0", "-1", "²", "backup", "restore", "2026-13-01T00:00:00Z", "2026-11-20T09:00:00+24:00",
         "\udcff\udcfe", "a\udc80b"]
    ))
    # A random "--f..." could abbreviate --follow, which waits forever: options come only
    # from the list above.
    return value.lstrip("-") or "x"


text_argument = st.composite(_text_argument)()


def _argv(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    argv = command.split()
    for _ in range(draw(st.integers(0, 3))):
        argv.append(draw(text_argument))
    for option in draw(st.lists(st.sampled_from(COMMANDS[command]), max_size=5)):
        argv.append(option)
        if option not in FLAGS:
            argv.append(draw(text_argument))
    if draw(st.booleans()):
        words = len(command.split())
        argv = [*argv[:words], *draw(st.permutations(argv[words:]))]
    return argv


argvs = st.composite(_argv)()


@pytest.fixture
def cli_env(
    app_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    environment = app_env
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no local.settings.json of a developer's
    return environment


def streams() -> tuple[io.TextIOWrapper, io.TextIOWrapper]:
    """stdout and stderr as a Python process has them: stdout refuses what is not UTF-8 (so a
    lone surrogate printed there is a crash), stderr escapes it (`backslashreplace`)."""
    def stream(errors: str) -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)

    return stream("strict"), stream("backslashreplace")


def text_of(stream: io.TextIOWrapper) -> str:
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8")


@fuzz("CLI arguments")
@given(argvs)
def test_cli_arguments(cli_env: dict[str, str], argv: list[str]) -> None:
    counted("CLI arguments")
    out, err = streams()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse: usage errors (2) and --help (0)
            code = stop.code if isinstance(stop.code, int) else 2
    stdout, stderr = text_of(out), text_of(err)
    assert code in (0, 1, 2), (argv, code, stderr[-500:])
    assert "Traceback" not in stdout + stderr
    if code == 2:
        assert stderr.strip(), "a refusal must say why"


@pytest.mark.parametrize(
    "args",
    [
        [b"backup", hostile.ENV.encode(), b"--label", b"\xff\xfe not utf-8"],
        [b"restore", b"--target", hostile.ENV.encode(), b"--at", b"2026-13-01T00:00:00Z"],
        [b"cancel", b"restore-20261121T010000000Z-abcdef", b"--requested-by", b"\xc3\x28"],
        [b"status", b"\x80"],
        [b"history", b"--limit", b"\xb2"],
    ],
)
def test_cli_arguments_in_a_real_process(cli_env: dict[str, str], args: list[bytes]) -> None:
    counted("CLI arguments")
    done = subprocess.run(
        [sys.executable.encode(), b"-m", b"ppbackup.cli", *args],
        capture_output=True, env={**os.environ, **cli_env, "PYTHONPATH": str(ROOT)},
        timeout=60, check=False,
    )
    assert done.returncode == 2, done.stderr[-500:]
    assert b"Traceback" not in done.stderr
    # Ours ("ppbackup: <reason>") or argparse's usage error ("... error: <reason>").
    assert done.stderr.startswith(b"ppbackup: ") or b" error: " in done.stderr
