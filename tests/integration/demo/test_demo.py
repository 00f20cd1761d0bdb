"""`ppbackup demo`, the README's first command, run as a person runs it (its own process, its own
Azurite and simulator): every step ends as it says, and the record restore at its end brings back
the account the demo deleted between its two data backup points, with its original id, after a
dry run that wrote nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def demo_output() -> str:
    # Wide enough that the CLI's tables (ppbackup data diff) are not wrapped or cut.
    env = {**os.environ, "COLUMNS": "400"}
    done = subprocess.run(
        [sys.executable, "-m", "ppbackup.cli", "demo"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=840, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout


def test_the_demo_runs_every_step_and_ends_succeeded(demo_output: str) -> None:
    headings = re.findall(r"^== (\d)\. ", demo_output, flags=re.MULTILINE)
    assert headings == ["1", "2", "3", "4", "5", "7", "8", "9"]
    assert demo_output.rstrip().endswith("Done. The restore ended Succeeded.")


def test_the_record_restore_brings_back_the_deleted_account_with_its_id(demo_output: str) -> None:
    deleted = re.search(r"account '([^']+)' deleted", demo_output)
    assert deleted, "the demo no longer says which account it deletes"
    name = deleted.group(1)
    restore = demo_output[demo_output.index("== 8. "):demo_output.index("== 9. ")]

    # The dry run planned one create, the deleted account, and wrote nothing.
    assert "Plan: 1 create," in restore
    assert "0 write(s) by the dry run" in restore
    planned = re.search(
        rf"^account\s+([0-9a-f-]{{36}})\s+create\s+name='{re.escape(name)}'", restore,
        flags=re.MULTILINE)
    assert planned, restore
    account_id = planned.group(1)

    # The apply wrote that row (a create with its id), and only rows of the plan.
    writes = re.findall(r"^\s+\d+\s+(\w+)\s+(\w+)\s+([0-9a-f-]{36})$", restore, flags=re.MULTILINE)
    assert ("create", "account", account_id) in writes
    assert {row_id for _, _, row_id in writes} == {account_id}
    assert "1 row(s) created, 0 updated." in restore

    # Read back from the simulator: there again, same id, same name.
    assert f"GET accounts({account_id}) -> 200 {{'accountid': '{account_id}', 'name': {name!r}}}" \
        in restore
