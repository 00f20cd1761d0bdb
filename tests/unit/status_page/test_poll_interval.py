"""The page's `?poll=` interval, run in Node from the served script itself: setTimeout runs any
delay above 2^31-1 ms at once, so an unclamped `?poll=1e10` would re-read back to back."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

APP_JS = Path(__file__).resolve().parents[3] / "status_page" / "static" / "app.js"
NODE = shutil.which("node")


def poll_ms(texts: list[str | None]) -> list[float]:
    found = re.search(r"^  function pollMs\(text\) \{\n.*?^  \}\n", APP_JS.read_text(), re.S | re.M)
    assert found is not None, "app.js has no pollMs(text)"
    script = f"{found.group(0)}\nconsole.log(JSON.stringify({json.dumps(texts)}.map(pollMs)));"
    assert NODE is not None
    run = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30,
                         check=True)
    return list(json.loads(run.stdout))


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (Azurite needs it too)")
def test_poll_is_clamped_to_half_a_second_to_a_minute_and_defaults_to_three_seconds() -> None:
    texts = [None, "", "abc", "0", "NaN", "1000", "499", "-5", "60000", "60001", "1e10",
             "Infinity", "2147483648"]
    assert poll_ms(texts) == [3000, 3000, 3000, 3000, 3000, 1000, 500, 500, 60000, 60000, 60000,
                              60000, 60000]
