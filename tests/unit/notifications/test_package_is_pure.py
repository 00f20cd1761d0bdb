"""Rendering, signing and every decision stay I/O-free; sending lives in a few named modules.

The pure modules import only the standard library and the model, and never an I/O module, so
importing `notifications` (the package) costs nothing and can do nothing.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import notifications

# shared.policy: the shared, pure policies (backoff, Retry-After, schedules, clock skew);
# shared.inputs: the one parser per input kind, and what text may hold.
ALLOWED_PROJECT_MODULES = (
    "notifications", "shared.operations", "shared.errors", "shared.policy", "shared.inputs"
)
# The modules that talk to queues, tables, the platform or HTTP (the outbox and its delivery).
IO_MODULES = frozenset(
    {"outbox", "delivery", "transport", "store", "rounds", "alerts", "blueprint"}
)
PACKAGE = Path(notifications.__file__).parent


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


# What makes a module I/O: storage, the runtime context (and with it every client), HTTP, the SDKs.
IO_IMPORTS = ("shared.storage", "shared.runtime", "httpx", "azure")


def test_the_io_list_names_only_modules_that_do_io() -> None:
    """A module on the list that no longer does I/O would escape the purity check below."""
    for name in sorted(IO_MODULES):
        imported = imported_modules(PACKAGE / f"{name}.py")
        io = {f"notifications.{m}" for m in IO_MODULES} & imported
        assert io or any(m.startswith(IO_IMPORTS) for m in imported), name


def test_pure_modules_import_only_the_standard_library_and_the_model() -> None:
    io = {f"notifications.{m}" for m in IO_MODULES}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem in IO_MODULES:
            continue
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in ("shared", "notifications"):
                assert module.startswith(ALLOWED_PROJECT_MODULES), f"{path.name}: {module}"
                assert module not in io, f"{path.name} imports the I/O module {module}"
            else:
                assert top in sys.stdlib_module_names, f"{path.name} imports {module}"
