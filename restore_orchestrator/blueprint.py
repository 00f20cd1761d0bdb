"""Restore triggers (filled in by the restore orchestrator issue)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()
