"""App settings (contract section 2), loaded once and validated together.

Every problem is collected before anything is raised, so an operator fixing a deployment sees every
bad setting in one message instead of one per restart. Secret values live in `Secret`, whose
`repr`/`str` never show the value, so a settings object can be logged or printed safely.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from enum import StrEnum
from urllib.parse import urlsplit

from shared.data_store.retention import DEFAULT_RETENTION, RetentionPolicy
from shared.errors import ConfigError
from shared.inputs import is_guid
from shared.policy import ncrontab

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
# Blob container names: 3-63 of a-z 0-9 and single hyphens, starting with a letter or digit.
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:-?[a-z0-9])*$")

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
        problems: list[str] = []

        def get(name: str) -> str | None:
            value = environ.get(name)
            if value is None:
                return None
            value = value.strip()
            return value or None

        storage = get("AzureWebJobsStorage")
        if storage is None and get("AzureWebJobsStorage__accountName") is None:
            problems.append(
                "AzureWebJobsStorage is required: a storage connection string, "
                "'UseDevelopmentStorage=true' for Azurite, or set AzureWebJobsStorage__accountName "
                "for an identity-based connection"
            )
        if storage is None:
            account = get("AzureWebJobsStorage__accountName")
            storage = f"AccountName={account}" if account else ""

        api_url = _url(get("PP_API_URL") or DEFAULT_PP_API_URL, "PP_API_URL", problems)
        bap_url = _url(get("PP_BAP_URL") or DEFAULT_PP_BAP_URL, "PP_BAP_URL", problems)

        auth_raw = (get("PP_AUTH") or AuthMode.MANAGED_IDENTITY.value).lower()
        auth_mode = AuthMode.MANAGED_IDENTITY
        try:
            auth_mode = AuthMode(auth_raw)
        except ValueError:
            problems.append(
                f"PP_AUTH must be one of {', '.join(m.value for m in AuthMode)}; got {auth_raw!r}"
            )

        tenant_id = get("PP_TENANT_ID")
        client_id = get("PP_CLIENT_ID")
        secret = get("PP_CLIENT_SECRET")
        cert_path = get("PP_CLIENT_CERTIFICATE_PATH")
        cert_password = get("PP_CLIENT_CERTIFICATE_PASSWORD")
        for name, value in (("PP_TENANT_ID", tenant_id), ("PP_CLIENT_ID", client_id)):
            if value is not None and not is_guid(value):
                problems.append(f"{name} must be a GUID; got a value of {len(value)} characters")
        if auth_mode in (AuthMode.CLIENT_SECRET, AuthMode.CERTIFICATE):
            if tenant_id is None:
                problems.append(f"PP_TENANT_ID is required when PP_AUTH={auth_mode.value}")
            if client_id is None:
                problems.append(f"PP_CLIENT_ID is required when PP_AUTH={auth_mode.value}")
        if auth_mode is AuthMode.CLIENT_SECRET and secret is None:
            problems.append(
                "PP_CLIENT_SECRET is required when PP_AUTH=client_secret "
                "(in Azure, use a Key Vault reference)"
            )
        if auth_mode is AuthMode.CERTIFICATE and cert_path is None:
            problems.append("PP_CLIENT_CERTIFICATE_PATH is required when PP_AUTH=certificate")
        if auth_mode is AuthMode.NONE and not (_is_loopback(api_url) and _is_loopback(bap_url)):
            problems.append(
                "PP_AUTH=none sends no token and is refused unless PP_API_URL and PP_BAP_URL "
                "are both loopback addresses (the local simulator)"
            )

        zone: tzinfo = UTC
        try:
            zone = ncrontab.time_zone(get("WEBSITE_TIME_ZONE"))
        except ValueError as error:
            problems.append(str(error))
        schedule = get("BACKUP_SCHEDULE") or DEFAULT_BACKUP_SCHEDULE
        try:
            ncrontab.Ncrontab.parse(schedule, zone, seconds=True)
        except ValueError as error:
            problems.append(f"BACKUP_SCHEDULE {error}")

        scope = parse_backup_scope(get("BACKUP_SCOPE") or DEFAULT_BACKUP_SCOPE, problems)
        data_scope = BackupScope()
        if get("DATA_BACKUP_SCOPE") is not None:
            data_scope = parse_backup_scope(
                get("DATA_BACKUP_SCOPE") or "", problems, name="DATA_BACKUP_SCOPE"
            )
        data_schedule = get("DATA_BACKUP_SCHEDULE") or DEFAULT_DATA_BACKUP_SCHEDULE
        try:
            ncrontab.Ncrontab.parse(data_schedule, zone, seconds=True)
        except ValueError as error:
            problems.append(f"DATA_BACKUP_SCHEDULE {error}")
        data_tables = parse_table_names(get("DATA_BACKUP_TABLES") or "all", "DATA_BACKUP_TABLES",
                                        problems, allow_all=True)
        excluded = parse_table_names(get("DATA_BACKUP_EXCLUDE_TABLES") or "",
                                     "DATA_BACKUP_EXCLUDE_TABLES", problems)

        template = get("BACKUP_LABEL_TEMPLATE") or DEFAULT_BACKUP_LABEL_TEMPLATE
        unknown = set(re.findall(r"{([^{}]*)}", template)) - LABEL_PLACEHOLDERS
        if unknown:
            problems.append(
                f"BACKUP_LABEL_TEMPLATE has unknown placeholders {sorted(unknown)}; "
                "use {date}, {time} and {env}"
            )

        allow = parse_allow_list(get("RESTORE_ALLOW_PRODUCTION") or "", problems)

        timeout = DEFAULT_RESTORE_TIMEOUT_HOURS
        raw_timeout = get("RESTORE_TIMEOUT_HOURS")
        if raw_timeout is not None:
            try:
                timeout = float(raw_timeout)
            except ValueError:
                timeout = -1.0
            if not 0 < timeout <= 24 * 30:
                problems.append(
                    f"RESTORE_TIMEOUT_HOURS must be a number of hours between 0 and 720; "
                    f"got {raw_timeout!r}"
                )

        teams = get("TEAMS_WEBHOOK_URL")
        if teams is not None:
            _webhook_url(teams, "TEAMS_WEBHOOK_URL", problems)
        hook = get("NOTIFY_WEBHOOK_URL")
        hook_secret = get("NOTIFY_WEBHOOK_SECRET")
        if hook is not None:
            _webhook_url(hook, "NOTIFY_WEBHOOK_URL", problems)
            if hook_secret is None:
                problems.append(
                    "NOTIFY_WEBHOOK_SECRET is required with NOTIFY_WEBHOOK_URL "
                    "(receivers verify the HMAC-SHA256 signature with it)"
                )
            elif len(hook_secret) < 16:
                problems.append("NOTIFY_WEBHOOK_SECRET must be at least 16 characters long")

        data_storage = get("DATA_BACKUP_STORAGE") or storage
        data_uri = get("DATA_BACKUP_STORAGE__blobServiceUri")
        if data_uri is not None:
            data_uri = _url(data_uri, "DATA_BACKUP_STORAGE__blobServiceUri", problems)
        container = get("DATA_BACKUP_CONTAINER") or DEFAULT_DATA_BACKUP_CONTAINER
        if not _CONTAINER_NAME.match(container):
            problems.append(
                f"DATA_BACKUP_CONTAINER {container!r} is not a blob container name: 3-63 "
                "lowercase letters, digits and single hyphens, starting with a letter or digit"
            )
        retention = RetentionPolicy()
        try:
            retention = RetentionPolicy.parse(get("DATA_BACKUP_RETENTION") or DEFAULT_RETENTION)
        except ValueError as error:
            problems.append(f"DATA_BACKUP_RETENTION: {error}")

        if problems:
            raise ConfigError(problems)

        return cls(
            storage_connection=Secret(storage),
            pp_api_url=api_url,
            pp_bap_url=bap_url,
            auth_mode=auth_mode,
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=Secret(secret) if secret else None,
            client_certificate_path=cert_path,
            client_certificate_password=Secret(cert_password) if cert_password else None,
            backup_schedule=schedule,
            time_zone=zone,
            backup_scope=scope,
            backup_label_template=template,
            restore_allow_production=allow,
            restore_timeout_hours=timeout,
            teams_webhook_url=Secret(teams) if teams else None,
            notify_webhook_url=Secret(hook) if hook else None,
            notify_webhook_secret=Secret(hook_secret) if hook_secret else None,
            data_backup_storage=Secret(data_storage),
            data_backup_blob_service_uri=data_uri,
            data_backup_container=container,
            data_backup_retention=retention,
            data_backup_scope=data_scope,
            data_backup_schedule=data_schedule,
            data_backup_tables=data_tables,
            data_backup_exclude_tables=frozenset(excluded or ()),
        )


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


# A Dataverse logical name: lowercase letters, digits and '_' (what the Web API accepts).
_LOGICAL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")


def parse_table_names(
    raw: str, name: str, problems: list[str], *, allow_all: bool = False
) -> tuple[str, ...] | None:
    """Comma-separated logical names, in order, without repeats; `all` (when allowed) is None."""
    items = [part.strip().lower() for part in raw.split(",") if part.strip()]
    if allow_all and items == ["all"]:
        return None
    bad = [item for item in items if not _LOGICAL_NAME.match(item)]
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


def _url(value: str, name: str, problems: list[str]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"{name} must be an absolute http(s) URL; got {value!r}")
    elif parts.scheme == "http" and not _is_loopback(value):
        problems.append(f"{name} must use https (plain http is accepted only for loopback)")
    return value.rstrip("/")


def _webhook_url(value: str, name: str, problems: list[str]) -> None:
    # The value is a secret (it carries a signature), so messages never echo it.
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and _is_loopback(value):
        return
    problems.append(f"{name} must be an https URL (plain http only for loopback)")

