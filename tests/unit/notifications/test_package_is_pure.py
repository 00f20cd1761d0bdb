"""The notifications package renders and signs; sending is the outbox's job. Keep it I/O-free."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import shared.notifications

ALLOWED_PROJECT_MODULES = ("shared.notifications", "shared.operations", "shared.errors")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_standard_library_and_the_model_are_imported() -> None:
    package = Path(shared.notifications.__file__).parent
    for path in sorted(package.glob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top == "shared":
                assert module.startswith(ALLOWED_PROJECT_MODULES), f"{path.name}: {module}"
            else:
                assert top in sys.stdlib_module_names, f"{path.name} imports {module}"
