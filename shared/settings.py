"""App settings (contract section 2): what they are, loaded once and validated together.

`Settings.from_env` reads them through one pydantic model (shared/app_settings.py), which reports
every problem at once, so an operator fixing a deployment sees every bad setting in one message
instead of one per restart. Secret values live in `Secret`, whose `repr`/`str` never show the
value, so a settings object can be logged or printed safely. This module stays light: the host
imports it while it indexes the functions.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from enum import StrEnum
from urllib.parse import urlsplit

from shared.data_store.retention import RetentionPolicy
from shared.inputs import is_guid, is_table_name

DEFAULT_PP_API_URL = "https://api.powerplatform.com"
DEFAULT_PP_BAP_URL = "https://api.bap.microsoft.com"
DEFAULT_BACKUP_SCHEDULE = "0 0 1 * * *"
DEFAULT_BACKUP_SCOPE = "type:Production"
DEFAULT_BACKUP_LABEL_TEMPLATE = "Pre-update {date} {time}Z"
DEFAULT_RESTORE_TIMEOUT_HOURS = 48.0
DEFAULT_DATA_BACKUP_CONTAINER = "ppbackup-data"
DEFAULT_DATA_BACKUP_SCHEDULE = "0 0 2 * * *"
# Left out of DATA_BACKUP_TABLES=all: system tables whose rows are logs, caches or platform
# bookkeeping (large, rewritten constantly, and nothing a person restores a record of).
DEFAULT_DATA_BACKUP_EXCLUSIONS = frozenset({
    "activitypointer", "asyncoperation", "audit", "bulkdeletefailure", "duplicaterecord",
    "importlog", "mailboxtrackingfolder", "plugintracelog", "principalobjectaccess",
    "processsession", "sdkmessageprocessingstep", "solutioncomponent", "subscription",
    "syncerror", "traceregarding", "workflowlog",
})

# The label placeholders the timer understands; anything else in braces is a typo worth refusing.
LABEL_PLACEHOLDERS = frozenset({"date", "time", "env"})
# Environment types a scope selector may name (BAP `environmentSku` values).
ENVIRONMENT_TYPES = ("Production", "Sandbox", "Trial", "Developer", "Default", "Teams")


class Secret:
    """A secret setting value; only `reveal()` hands it out."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class AuthMode(StrEnum):
    MANAGED_IDENTITY = "managed_identity"
    CLIENT_SECRET = "client_secret"  # noqa: S105 (the mode's name, not a secret)
    CERTIFICATE = "certificate"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class BackupScope:
    """Which environments the timer backs up: explicit ids plus type selectors, or all."""

    environment_ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    everything: bool = False

    def includes(self, environment_id: str, environment_type: str) -> bool:
        return (
            self.everything
            or environment_id.lower() in self.environment_ids
            or environment_type in self.types
        )


@dataclass(frozen=True, slots=True)
class ProductionAllowList:
    """Environment ids that may be restored in place while they are Production."""

    environment_ids: frozenset[str] = frozenset()
    everything: bool = False

    def allows(self, environment_id: str) -> bool:
        return self.everything or environment_id.lower() in self.environment_ids


@dataclass(frozen=True, slots=True)
class Settings:
    storage_connection: Secret
    pp_api_url: str = DEFAULT_PP_API_URL
    pp_bap_url: str = DEFAULT_PP_BAP_URL
    auth_mode: AuthMode = AuthMode.MANAGED_IDENTITY
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    client_certificate_path: str | None = None
    client_certificate_password: Secret | None = None
    backup_schedule: str = DEFAULT_BACKUP_SCHEDULE
    # WEBSITE_TIME_ZONE: the zone the timers' schedules are read in (shared/policy/ncrontab.py).
    time_zone: tzinfo = UTC
    backup_scope: BackupScope = field(
        default_factory=lambda: BackupScope(types=frozenset({"Production"}))
    )
    backup_label_template: str = DEFAULT_BACKUP_LABEL_TEMPLATE
    restore_allow_production: ProductionAllowList = field(default_factory=ProductionAllowList)
    restore_timeout_hours: float = DEFAULT_RESTORE_TIMEOUT_HOURS
    teams_webhook_url: Secret | None = None
    notify_webhook_url: Secret | None = None
    notify_webhook_secret: Secret | None = None
    # The data backup store (contract section 9); the connection defaults to AzureWebJobsStorage.
    data_backup_storage: Secret = field(default_factory=lambda: Secret(""))
    data_backup_blob_service_uri: str | None = None
    data_backup_container: str = DEFAULT_DATA_BACKUP_CONTAINER
    data_backup_retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    # DATA_BACKUP_SCOPE: empty (the default) means no data backup timer rounds.
    data_backup_scope: BackupScope = field(default_factory=BackupScope)
    data_backup_schedule: str = DEFAULT_DATA_BACKUP_SCHEDULE
    # DATA_BACKUP_TABLES: None is `all` (less the exclusions); else the logical names, in order.
    data_backup_tables: tuple[str, ...] | None = None
    data_backup_exclude_tables: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from app settings; raise one `ConfigError` naming every bad one."""
        # pydantic reads them (shared/app_settings.py), loaded here on first use: this module
        # is imported while the host indexes the functions, and must stay light.
        from shared.app_settings import settings_from_env

        return settings_from_env(environ)


def parse_backup_scope(raw: str, problems: list[str], *, name: str = "BACKUP_SCOPE") -> BackupScope:
    ids: set[str] = set()
    types: set[str] = set()
    everything = False
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if item.lower() == "all":
            everything = True
        elif item.lower().startswith("type:"):
            wanted = item[5:].strip()
            match = next((t for t in ENVIRONMENT_TYPES if t.lower() == wanted.lower()), None)
            if match is None:
                problems.append(
                    f"{name} selector {item!r} names no environment type; "
                    f"use one of {', '.join('type:' + t for t in ENVIRONMENT_TYPES)}"
                )
            else:
                types.add(match)
        elif is_guid(item):
            ids.add(item.lower())
        else:
            problems.append(
                f"{name} entry {item!r} is neither an environment id (GUID), "
                "a 'type:<EnvironmentType>' selector nor 'all'"
            )
    if not (ids or types or everything):
        problems.append(f"{name} selects nothing; use e.g. 'type:Production'")
    return BackupScope(frozenset(ids), frozenset(types), everything)




def parse_table_names(
    raw: str, name: str, problems: list[str], *, allow_all: bool = False
) -> tuple[str, ...] | None:
    """Comma-separated logical names, in order, without repeats; `all` (when allowed) is None."""
    items = [part.strip().lower() for part in raw.split(",") if part.strip()]
    if allow_all and items == ["all"]:
        return None
    bad = [item for item in items if not is_table_name(item)]
    if bad:
        problems.append(
            f"{name} must be {'all or ' if allow_all else ''}table logical names (lowercase "
            f"letters, digits and '_'), comma-separated; got "
            + ", ".join(repr(b[:60]) for b in bad[:5])
        )
    if allow_all and not items:
        problems.append(f"{name} names no table; use 'all' or logical names such as account")
    return tuple(dict.fromkeys(items))


def parse_allow_list(raw: str, problems: list[str]) -> ProductionAllowList:
    ids: set[str] = set()
    everything = False
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if item == "*":
            everything = True
        elif is_guid(item):
            ids.add(item.lower())
        else:
            problems.append(
                f"RESTORE_ALLOW_PRODUCTION entry {item!r} is not an environment id (GUID) or '*'"
            )
    return ProductionAllowList(frozenset(ids), everything)


def is_loopback_url(url: str) -> bool:
    return _is_loopback(url)


def _is_loopback(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
