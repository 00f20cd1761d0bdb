"""The azd hooks against stand-ins for `az` and `azd` (no Azure): what an operator's `azd up`
does when Microsoft Graph is slow to show a new app registration, and when it is run again."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREPROVISION = ROOT / "infra" / "hooks" / "preprovision.sh"

# `az`: app registrations and service principals kept as files in $STATE; `ad sp create` fails
# the first $SP_CREATE_FAILS times (Graph has not replicated the new app yet), as it often does
# seconds after `ad app create`.
FAKE_AZ = r"""#!/bin/sh
set -eu
echo "$*" >> "$STATE/az.log"
case "$1 $2 $3" in
  "ad app show") [ -f "$STATE/app-$5" ] ;;
  "ad app create")
    n=$(ls "$STATE" | grep -c '^app-' || true)
    id="00000000-0000-4000-8000-00000000000$((n + 1))"
    touch "$STATE/app-$id"; echo "$id" ;;
  "ad sp create")
    fails=$(cat "$STATE/sp-fails" 2>/dev/null || echo "${SP_CREATE_FAILS:-0}")
    if [ "$fails" -gt 0 ]; then echo $((fails - 1)) > "$STATE/sp-fails"; exit 1; fi
    echo 0 > "$STATE/sp-fails"
    [ -f "$STATE/sp-$5" ] && exit 1  # already exists
    touch "$STATE/sp-$5" ;;
  "ad sp update")
    [ -f "$STATE/sp-$5" ] || exit 1
    echo "$7" > "$STATE/sp-$5" ;;
  *) exit 2 ;;
esac
"""
FAKE_AZD = r"""#!/bin/sh
set -eu
case "$1 $2" in
  "env get-value") grep "^$3=" "$STATE/env" 2>/dev/null | cut -d= -f2- | grep . ;;
  "env set") grep -v "^$3=" "$STATE/env" > "$STATE/env.new" 2>/dev/null || true
             echo "$3=$4" >> "$STATE/env.new"; mv "$STATE/env.new" "$STATE/env" ;;
  *) exit 2 ;;
esac
"""


def _tools(tmp: Path) -> dict[str, str]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for name, text in (("az", FAKE_AZ), ("azd", FAKE_AZD)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    state = tmp / "state"
    state.mkdir()
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(state),
            "AZURE_ENV_NAME": "test", "PPBACKUP_GRAPH_RETRY_SECONDS": "0"}


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(PREPROVISION)], env=env, capture_output=True, text=True,
                          check=False, timeout=60)


def _apps(state: Path) -> list[str]:
    return sorted(p.name[4:] for p in state.iterdir() if p.name.startswith("app-"))


def test_preprovision_waits_for_graph_and_creates_one_app(tmp_path: Path) -> None:
    env = _tools(tmp_path) | {"SP_CREATE_FAILS": "2"}
    state = Path(env["STATE"])
    first = _run(env)
    if first.returncode != 0:  # the operator runs `azd up` again
        assert _run(env).returncode == 0
    apps = _apps(state)
    assert len(apps) == 1, f"one sign-in app registration, not {apps}"
    assert (state / "env").read_text() == f"AUTH_CLIENT_ID={apps[0]}\n"
    # Only assigned people may sign in to the status page.
    assert (state / f"sp-{apps[0]}").read_text().strip() == "appRoleAssignmentRequired=true"


def test_preprovision_run_again_completes_what_a_failed_run_left(tmp_path: Path) -> None:
    # A run stopped after the app registration was made and recorded (Graph never caught up):
    # the next run must not take the app as done while anyone in the tenant may sign in.
    env = _tools(tmp_path) | {"SP_CREATE_FAILS": "100"}
    state = Path(env["STATE"])
    assert _run(env).returncode != 0
    (state / "sp-fails").write_text("0\n")
    assert _run(env).returncode == 0
    apps = _apps(state)
    assert len(apps) == 1
    assert (state / f"sp-{apps[0]}").read_text().strip() == "appRoleAssignmentRequired=true"
