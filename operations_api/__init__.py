"""The operation routes in one place: read, list, cancel and annotate operations (contract
section 4), and an environment's platform backups (list, delete)."""

from operations_api.blueprint import bp

__all__ = ["bp"]
