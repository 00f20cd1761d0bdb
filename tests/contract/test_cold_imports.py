"""What the function app loads when the host indexes it: never the CLI, nor what only it needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The CLI, the local host and the simulator (ppbackup), and the CLI's own libraries (rich).
CLI_ONLY = ("ppbackup", "rich")
# Request and settings validation (shared/validation.py): about 0.2 s to import, paid on the
# first invocation that validates, not while the host indexes the functions.
FIRST_USE = ("pydantic", "pydantic_core")


def loaded_by(code: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after `code` (this test process has long
    imported everything)."""
    probe = (
        f"import json, sys; {code}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))


def test_importing_the_function_app_loads_neither_the_cli_nor_its_libraries() -> None:
    loaded = loaded_by("import function_app")
    assert "azure" in loaded and "function_app" in loaded  # the probe did import the app
    assert loaded.isdisjoint(CLI_ONLY), sorted(loaded & set(CLI_ONLY))


def test_validation_loads_on_first_use_not_when_the_host_indexes_the_app() -> None:
    assert loaded_by("import function_app").isdisjoint(FIRST_USE)
    # The probe can see the library when it is there: validating a request loads it.
    used = loaded_by(
        "import function_app; from shared.validation import parse_backup_request; "
        "parse_backup_request({'environmentId': '11111111-2222-3333-4444-555555555555', "
        "'label': 'x'})"
    )
    assert set(FIRST_USE) <= used
