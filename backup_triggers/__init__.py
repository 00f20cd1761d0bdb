"""Pre-update backups: timer, queue and HTTP triggers."""

from backup_triggers.blueprint import bp

__all__ = ["bp"]
