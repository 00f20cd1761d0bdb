"""The decision modules are pure: they import no I/O and read no clock of their own.

What makes a step re-runnable after a crash is that `plan` and `decide` depend on the stored state,
the answer and the `now` they are given, and on nothing else. This reads their source, so a clock
read or a storage import slipped into a phase handler fails here, whatever the tests' inputs are.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import engine
import restore_orchestrator

PACKAGE = Path(restore_orchestrator.__file__).parent
PURE = (
    "phases", "transitions", "state", "decide", "moves", "queued", "safety_backup",
    "verifying", "admin_mode",
    "validating", "switching", "restoring", "checks", "polling", "reactivating",
)
# The engine's values: what a decision, a record change, a state and the tunables are.
ENGINE = Path(engine.__file__).parent
ENGINE_PURE = (
    "answers", "commands", "config", "decision", "record", "state", "taking_backup", "waiting",
)
# Values and pure policies only: the record, the platform's frozen models, settings values, errors,
# the input parsers (standard library only).
ALLOWED_PROJECT = (
    "shared.operations", "shared.power_platform", "shared.settings", "shared.policy",
    "shared.errors", "shared.flows", "shared.inputs", *(f"engine.{name}" for name in ENGINE_PURE),
)
# Standard-library modules that reach outside the process or read the time or chance.
IMPURE_STDLIB = frozenset(
    {"time", "random", "os", "socket", "threading", "subprocess", "asyncio", "urllib", "secrets"}
)
CLOCK_READS = frozenset({"now", "utcnow", "today", "monotonic", "perf_counter"})


def imports_of(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # `from restore_orchestrator import checks` imports the module `checks`.
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if node.module in ("restore_orchestrator", "engine"))
    return found


def clock_reads(tree: ast.AST) -> list[str]:
    return [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_READS)
            or (isinstance(node.func, ast.Name) and node.func.id in CLOCK_READS)
        )
    ]


def problems(source: str) -> list[str]:
    tree = ast.parse(source)
    found = []
    for module in sorted(imports_of(tree)):
        top = module.split(".")[0]
        if top == "restore_orchestrator":
            if module != "restore_orchestrator" and module.split(".")[1] not in PURE:
                found.append(f"imports {module}")
        elif module == "engine":
            continue  # `from engine import x`: the module x is checked on its own
        elif top in ("shared", "engine"):
            if not module.startswith(ALLOWED_PROJECT):
                found.append(f"imports {module}")
        elif top == "__future__":
            continue
        elif top not in sys.stdlib_module_names or top in IMPURE_STDLIB:
            found.append(f"imports {module}")
    found.extend(f"reads a clock: {call}" for call in clock_reads(tree))
    return found


@pytest.mark.parametrize("name", PURE)
def test_decision_modules_import_no_io_and_read_no_clock(name: str) -> None:
    assert problems((PACKAGE / f"{name}.py").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("name", ENGINE_PURE)
def test_the_engine_values_import_no_io_and_read_no_clock(name: str) -> None:
    assert problems((ENGINE / f"{name}.py").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from shared.storage.history import HistoryStore", "imports shared.storage.history"),
        ("from restore_orchestrator import locks", "imports restore_orchestrator.locks"),
        ("from engine.runner import run_steps", "imports engine.runner"),
        ("import httpx", "imports httpx"),
        ("import time", "imports time"),
        ("from datetime import datetime\nx = datetime.now()", "reads a clock: datetime.now()"),
        ("from shared.operations import utcnow\nx = utcnow()", "reads a clock: utcnow()"),
    ],
)
def test_the_check_catches_what_it_is_for(source: str, problem: str) -> None:
    assert problem in problems(source)
