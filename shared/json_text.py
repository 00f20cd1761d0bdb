"""JSON text for people and HTTP answers: readable UTF-8 where it can be, escaped where not.

Rows are stored as Dataverse sent them, unpaired surrogates included (`frames.encode_row`), and a
refusal may quote a caller's text back. Such a text cannot be written as UTF-8, so the document
is escaped (`\\udXXX`) instead of failing: the same characters, still valid JSON.
"""

from __future__ import annotations

import json
from typing import Any

from shared.inputs import has_surrogate


def dumps(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=has_surrogate(value), indent=indent)
