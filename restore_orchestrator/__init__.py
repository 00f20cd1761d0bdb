"""The restore orchestrator: intake, the durable-style step engine and the watchdog."""

from restore_orchestrator.blueprint import bp

__all__ = ["bp"]
