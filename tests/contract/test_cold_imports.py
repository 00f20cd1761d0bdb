"""What the function app loads when the host indexes it: never the CLI, nor what only it needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The CLI, the local host and the simulator (ppbackup), and the CLI's own libraries (rich).
CLI_ONLY = ("ppbackup", "rich")


def test_importing_the_function_app_loads_neither_the_cli_nor_its_libraries() -> None:
    probe = (
        "import json, sys; import function_app; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    # A fresh interpreter: this test process has long imported both.
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert "azure" in loaded and "function_app" in loaded  # the probe did import the app
    assert loaded.isdisjoint(CLI_ONLY), sorted(loaded & set(CLI_ONLY))
