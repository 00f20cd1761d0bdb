"""CI's check of infra/ without Azure: every Bicep file parses, and checkov passes with each skip
explained. Run with the checkov virtualenv's Python (.ci/run makes .venv-infra).

checkov reports a file it cannot parse as a "parsing error" and still exits 0, so the parse is
checked here first, file by file, with the same parser (pycep) checkov uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parent


def main() -> int:
    from pycep import BicepParser

    files = sorted(INFRA.rglob("*.bicep"))
    problems = []
    for path in files:
        try:
            BicepParser().parse(file_path=path)
        except Exception as error:  # noqa: BLE001 - any parser error is a finding to report
            problems.append(f"{path.relative_to(INFRA)} does not parse: {error}".splitlines()[0])
    if not files:
        problems.append("no Bicep file found under infra/")

    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # no call home for check metadata
    scan = subprocess.run(  # noqa: S603 - a fixed command line, no outside input
        [sys.executable, "-m", "checkov.main", "--directory", str(INFRA), "--framework", "bicep",
         "--skip-download", "--output", "json", "--quiet"],
        capture_output=True, text=True, env=env, check=False,
    )
    try:
        report = json.loads(scan.stdout)
    except json.JSONDecodeError:
        print(scan.stdout, scan.stderr, sep="\n", file=sys.stderr)
        problems.append(f"checkov did not report (exit {scan.returncode})")
        report = {}
    report = report[0] if isinstance(report, list) else report
    summary = report.get("summary", {})
    results = report.get("results", {})
    for failed in results.get("failed_checks", []):
        problems.append(f"{failed['check_id']} {failed['check_name']}: {failed['resource']} "
                        f"({failed['file_path']})")
    for path in results.get("parsing_errors", []):
        problems.append(f"checkov could not parse {path}")
    for skipped in results.get("skipped_checks", []):
        reason = (skipped.get("check_result") or {}).get("suppress_comment") or ""
        if len(reason.strip()) < 10:
            problems.append(f"{skipped['check_id']} on {skipped['resource']} is skipped "
                            "without a reason")
    if summary and summary.get("resource_count", 0) == 0:
        problems.append("checkov scanned no resource")

    parsed = len(files) - sum("does not parse" in problem for problem in problems)
    print(f"infra: {len(files)} Bicep files, {parsed} parse; checkov passed "
          f"{summary.get('passed', 0)}, failed {summary.get('failed', 0)}, skipped "
          f"{summary.get('skipped', 0)} (each with its reason in the Bicep), parsing errors "
          f"{summary.get('parsing_errors', 0)}")
    for problem in problems:
        print(f"infra: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
