"""Client for the Power Platform admin APIs (BAP and PP API), per docs/platform-wire.md.

Importing this package does not import msal or azure.identity; they load on the first token.
"""

from __future__ import annotations

from shared.power_platform._recording import PlatformCall, record_call, recording_calls
from shared.power_platform._retry import RetryPolicy
from shared.power_platform._time import parse_timestamp
from shared.power_platform.auth import (
    ManagedIdentityTokenProvider,
    MsalTokenProvider,
    NoTokenProvider,
    TokenProvider,
    scope_for_url,
    token_provider_from_settings,
)
from shared.power_platform.client import PowerPlatformClient
from shared.power_platform.models import (
    Backup,
    Environment,
    LifecycleKind,
    OperationHandle,
    PlatformOperation,
    PlatformStatus,
    RestoreCandidate,
)

__all__ = [
    "Backup",
    "Environment",
    "LifecycleKind",
    "ManagedIdentityTokenProvider",
    "MsalTokenProvider",
    "NoTokenProvider",
    "OperationHandle",
    "PlatformCall",
    "PlatformOperation",
    "PlatformStatus",
    "PowerPlatformClient",
    "RestoreCandidate",
    "RetryPolicy",
    "TokenProvider",
    "parse_timestamp",
    "record_call",
    "recording_calls",
    "scope_for_url",
    "token_provider_from_settings",
]
