"""Checks on ids before they go into a URL path or an OData filter."""

from __future__ import annotations

import re

from shared.inputs import GUID_PATTERN

_ENVIRONMENT_ID = re.compile(rf"(?:Default-)?{GUID_PATTERN}")
# Backup and operation ids are GUIDs in every example, but the reference types them only as
# strings; allow the characters that cannot change a URL's meaning.
_OPAQUE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}")


def validate_environment_id(value: str) -> str:
    """Return the id unchanged if it is a GUID or `Default-<guid>`; raise ValueError otherwise."""
    if not isinstance(value, str) or _ENVIRONMENT_ID.fullmatch(value) is None:
        raise ValueError(
            f"environment id must be a GUID or 'Default-<guid>'; got {str(value)[:80]!r}"
        )
    return value


def validate_opaque_id(value: str, what: str) -> str:
    """Return the id unchanged if it is safe as one URL path segment; raise ValueError otherwise."""
    if not isinstance(value, str) or _OPAQUE_ID.fullmatch(value) is None:
        raise ValueError(f"{what} must be letters, digits, '.', '_', '~' or '-'; got {value!r:.80}")
    return value
