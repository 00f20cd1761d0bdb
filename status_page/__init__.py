"""The status page for operations teams (`GET /api/ui`) and the small JSON routes it reads."""

from status_page.blueprint import bp

__all__ = ["bp"]
