"""The whole local stack (Azurite, simulator, local host) of the restore tests."""

from tests.integration.restore.conftest import make_stack

__all__ = ["make_stack"]
