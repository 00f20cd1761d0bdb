"""Cold start: what the app's own code adds to a worker's start.

    python bench/coldstart_bench.py [--runs 10]

Figure: the median whole-process time of `python -c "import function_app"` divided by the median
for importing the runtime libraries alone (azure.functions, azure.data.tables,
azure.storage.queue, httpx, msal), 10 runs each, interleaved. Target <= 1.3: the app's code and
any CLI-only library must not weigh on the function app's start. Also prints which third-party
modules `function_app` pulls in beyond that floor.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import azure.functions, azure.data.tables, azure.storage.queue, httpx, msal"
APP = "import function_app"


def run(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - started


def extra_modules() -> list[str]:
    probe = (
        f"import sys; {FLOOR}; before = set(sys.modules); {APP}; "
        "print('\\n'.join(sorted(m for m in set(sys.modules) - before if '.' not in m)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return [m for m in out.split() if m]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    run(FLOOR)  # warm the file cache once for both
    run(APP)
    floor, app = [], []
    for _ in range(args.runs):
        floor.append(run(FLOOR))
        app.append(run(APP))
    floor_median, app_median = statistics.median(floor), statistics.median(app)
    print(f"cold start: {args.runs} runs each, interleaved")
    print(f"  floor  `{FLOOR}`: median {floor_median * 1000:.0f} ms")
    print(f"  app    `{APP}`: median {app_median * 1000:.0f} ms")
    print(f"  top-level modules function_app adds: {', '.join(extra_modules()) or 'none'}")
    print(
        f"cold start: {app_median * 1000:.0f} ms / floor {floor_median * 1000:.0f} ms "
        f"= {app_median / floor_median:.2f} (target <= 1.3)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
