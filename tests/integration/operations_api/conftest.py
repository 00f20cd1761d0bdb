"""The whole local stack of the restore tests (Azurite, the simulator, the function app in the
local host), here with the platform's own daily system backups listed too."""

from __future__ import annotations

from tests.integration.restore.conftest import make_stack  # noqa: F401  (the fixture)
