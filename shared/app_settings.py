"""The app settings as the environment holds them, read by one pydantic model into `Settings`.

Each field is one app setting, by its name (the alias), read by the parser for its kind; pydantic
reads them all before it reports, and the rules between settings (what an auth mode requires)
are checked beside it on the same values, so one `ConfigError` names every bad setting. A blank
setting is an unset one. Secret values become `Secret` as they are read and are never quoted in
a message.

Imported by `Settings.from_env` on first use: pydantic never loads while the host indexes the
functions (tests/contract/test_cold_imports.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, tzinfo
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic import ValidationInfo as Info

from shared.data_store.retention import DEFAULT_RETENTION, RetentionPolicy
from shared.errors import ConfigError
from shared.inputs import is_guid, readable
from shared.policy import ncrontab
from shared.settings import (
    DEFAULT_BACKUP_LABEL_TEMPLATE,
    DEFAULT_BACKUP_SCHEDULE,
    DEFAULT_BACKUP_SCOPE,
    DEFAULT_DATA_BACKUP_CONTAINER,
    DEFAULT_DATA_BACKUP_SCHEDULE,
    DEFAULT_PP_API_URL,
    DEFAULT_PP_BAP_URL,
    DEFAULT_RESTORE_TIMEOUT_HOURS,
    LABEL_PLACEHOLDERS,
    AuthMode,
    BackupScope,
    ProductionAllowList,
    Secret,
    Settings,
    is_loopback_url,
    parse_allow_list,
    parse_backup_scope,
    parse_table_names,
)

# Blob container names: 3-63 of a-z 0-9 and single hyphens, starting with a letter or digit.
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:-?[a-z0-9])*$")


class SettingProblems(ValueError):
    """The problems of one setting that lists entries: each bad entry is its own."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _entries(parse: Callable[[str, list[str]], Any]) -> Callable[[str, Info], Any]:
    """A list setting's parser, whose problems are collected per entry."""

    def read(value: str, _: Info) -> Any:
        problems: list[str] = []
        result = parse(value, problems)
        if problems:
            raise SettingProblems(problems)
        return result

    return read


def _setting(parse: Callable[[str, Info], Any], default: str | None = None) -> PlainValidator:
    """A setting read by `parse` (its ValueError completes "<SETTING> ..."); blank is unset,
    which is `default` read the same way, or else the field's default."""

    def read(value: object, info: Info) -> Any:
        text = (value.strip() if isinstance(value, str) else "") or default
        if text:
            return parse(text, info)
        assert info.field_name is not None  # narrowing: a field's validator
        return AppSettings.model_fields[info.field_name].default

    return PlainValidator(read)


def _text(value: str, _: Info) -> str:
    return value


def _secret(value: str, _: Info) -> Secret:
    return Secret(value)


def _connection_string(value: str, _: Info) -> str:
    """`Name=value;...` as the storage SDKs read it; the value is never echoed (a key)."""
    parts = [part.split("=", 1) for part in value.rstrip(";").split(";")]
    if any(len(part) != 2 or not part[0].strip() or not part[1] for part in parts):
        raise ValueError(
            "is not a storage connection string (Name=value pairs separated by ';', such as "
            "'UseDevelopmentStorage=true' for Azurite or the one the storage account's Access "
            "keys page shows)"
        )
    return value


def _guid(value: str, _: Info) -> str:
    if not is_guid(value):
        raise ValueError(f"must be a GUID; got a value of {len(value)} characters")
    return value


def _url(value: str, _: Info) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an absolute http(s) URL; got {value!r}")
    if parts.scheme == "http" and not is_loopback_url(value):
        raise ValueError("must use https (plain http is accepted only for loopback)")
    return value.rstrip("/")


def _webhook(value: str, _: Info) -> Secret:
    # The value is a secret (it carries a signature), so the message never echoes it.
    parts = urlsplit(value)
    secure = parts.scheme == "https" and parts.hostname
    if not (secure or (parts.scheme == "http" and is_loopback_url(value))):
        raise ValueError("must be an https URL (plain http only for loopback)")
    return Secret(value)


def _auth_mode(value: str, _: Info) -> AuthMode:
    try:
        return AuthMode(value.lower())
    except ValueError:
        raise ValueError(
            f"must be one of {', '.join(m.value for m in AuthMode)}; got {value.lower()!r}"
        ) from None


def _schedule(value: str, info: Info) -> str:
    # In the zone read before (UTC when that setting is bad: its problem is named already).
    ncrontab.Ncrontab.parse(value, info.data.get("time_zone") or UTC, seconds=True)
    return value


def _label_template(value: str, _: Info) -> str:
    if readable(value) != value:
        raise ValueError("must not contain control characters, line breaks or characters that "
                         "are invisible or change the direction of text")
    unknown = set(re.findall(r"{([^{}]*)}", value)) - LABEL_PLACEHOLDERS
    if unknown:
        raise ValueError(
            f"has unknown placeholders {sorted(unknown)}; use {{date}}, {{time}} and {{env}}"
        )
    return value


def _timeout_hours(value: str, _: Info) -> float:
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 30:
        raise ValueError(f"must be a number of hours between 0 and 720; got {value!r}")
    return hours


def _container(value: str, _: Info) -> str:
    if not _CONTAINER_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a blob container name: 3-63 lowercase letters, digits and "
            "single hyphens, starting with a letter or digit"
        )
    return value


def _retention(value: str, _: Info) -> RetentionPolicy:
    try:
        return RetentionPolicy.parse(value)
    except ValueError as error:
        raise ValueError(f"DATA_BACKUP_RETENTION: {error}") from None


class AppSettings(BaseModel):
    """Contract section 2, one field per app setting; the field names are `Settings`'s."""

    model_config = ConfigDict(extra="ignore", frozen=True, arbitrary_types_allowed=True)

    storage: Annotated[
        str | None, Field(alias="AzureWebJobsStorage"), _setting(_connection_string)
    ] = None
    storage_account: Annotated[
        str | None, Field(alias="AzureWebJobsStorage__accountName"), _setting(_text)
    ] = None
    # Identity-based as well, by service (as the Functions host reads them): these win over the
    # account name's default endpoints.
    storage_queue_uri: Annotated[
        str | None, Field(alias="AzureWebJobsStorage__queueServiceUri"), _setting(_url)
    ] = None
    storage_table_uri: Annotated[
        str | None, Field(alias="AzureWebJobsStorage__tableServiceUri"), _setting(_url)
    ] = None
    storage_blob_uri: Annotated[
        str | None, Field(alias="AzureWebJobsStorage__blobServiceUri"), _setting(_url)
    ] = None
    pp_api_url: Annotated[
        str, Field(alias="PP_API_URL"), _setting(_url, DEFAULT_PP_API_URL)
    ] = DEFAULT_PP_API_URL
    pp_bap_url: Annotated[
        str, Field(alias="PP_BAP_URL"), _setting(_url, DEFAULT_PP_BAP_URL)
    ] = DEFAULT_PP_BAP_URL
    auth_mode: Annotated[
        AuthMode, Field(alias="PP_AUTH"), _setting(_auth_mode)
    ] = AuthMode.MANAGED_IDENTITY
    tenant_id: Annotated[str | None, Field(alias="PP_TENANT_ID"), _setting(_guid)] = None
    client_id: Annotated[str | None, Field(alias="PP_CLIENT_ID"), _setting(_guid)] = None
    client_secret: Annotated[
        Secret | None, Field(alias="PP_CLIENT_SECRET"), _setting(_secret)
    ] = None
    client_certificate_path: Annotated[
        str | None, Field(alias="PP_CLIENT_CERTIFICATE_PATH"), _setting(_text)
    ] = None
    client_certificate_password: Annotated[
        Secret | None, Field(alias="PP_CLIENT_CERTIFICATE_PASSWORD"), _setting(_secret)
    ] = None
    # Before the schedules, which are read in this zone; blank is UTC.
    time_zone: Annotated[
        tzinfo,
        Field(alias="WEBSITE_TIME_ZONE"),
        PlainValidator(lambda v: ncrontab.time_zone(v if isinstance(v, str) else None)),
    ] = UTC
    backup_schedule: Annotated[
        str, Field(alias="BACKUP_SCHEDULE"), _setting(_schedule, DEFAULT_BACKUP_SCHEDULE)
    ] = DEFAULT_BACKUP_SCHEDULE
    backup_scope: Annotated[
        BackupScope,
        Field(alias="BACKUP_SCOPE"),
        _setting(_entries(parse_backup_scope), DEFAULT_BACKUP_SCOPE),
    ] = BackupScope(types=frozenset({"Production"}))
    backup_label_template: Annotated[
        str,
        Field(alias="BACKUP_LABEL_TEMPLATE"),
        _setting(_label_template, DEFAULT_BACKUP_LABEL_TEMPLATE),
    ] = DEFAULT_BACKUP_LABEL_TEMPLATE
    restore_allow_production: Annotated[
        ProductionAllowList,
        Field(alias="RESTORE_ALLOW_PRODUCTION"),
        _setting(_entries(parse_allow_list)),
    ] = ProductionAllowList()
    restore_timeout_hours: Annotated[
        float, Field(alias="RESTORE_TIMEOUT_HOURS"), _setting(_timeout_hours)
    ] = DEFAULT_RESTORE_TIMEOUT_HOURS
    teams_webhook_url: Annotated[
        Secret | None, Field(alias="TEAMS_WEBHOOK_URL"), _setting(_webhook)
    ] = None
    notify_webhook_url: Annotated[
        Secret | None, Field(alias="NOTIFY_WEBHOOK_URL"), _setting(_webhook)
    ] = None
    notify_webhook_secret: Annotated[
        Secret | None, Field(alias="NOTIFY_WEBHOOK_SECRET"), _setting(_secret)
    ] = None
    # The data backup store; its connection defaults to AzureWebJobsStorage.
    data_backup_storage: Annotated[
        Secret | None, Field(alias="DATA_BACKUP_STORAGE"), _setting(_secret)
    ] = None
    data_backup_blob_service_uri: Annotated[
        str | None, Field(alias="DATA_BACKUP_STORAGE__blobServiceUri"), _setting(_url)
    ] = None
    data_backup_container: Annotated[
        str,
        Field(alias="DATA_BACKUP_CONTAINER"),
        _setting(_container, DEFAULT_DATA_BACKUP_CONTAINER),
    ] = DEFAULT_DATA_BACKUP_CONTAINER
    data_backup_retention: Annotated[
        RetentionPolicy,
        Field(alias="DATA_BACKUP_RETENTION"),
        _setting(_retention, DEFAULT_RETENTION),
    ] = RetentionPolicy()
    # Unset: no data backup timer rounds.
    data_backup_scope: Annotated[
        BackupScope,
        Field(alias="DATA_BACKUP_SCOPE"),
        _setting(_entries(lambda v, p: parse_backup_scope(v, p, name="DATA_BACKUP_SCOPE"))),
    ] = BackupScope()
    data_backup_schedule: Annotated[
        str,
        Field(alias="DATA_BACKUP_SCHEDULE"),
        _setting(_schedule, DEFAULT_DATA_BACKUP_SCHEDULE),
    ] = DEFAULT_DATA_BACKUP_SCHEDULE
    data_backup_tables: Annotated[
        tuple[str, ...] | None,
        Field(alias="DATA_BACKUP_TABLES"),
        _setting(
            _entries(lambda v, p: parse_table_names(v, "DATA_BACKUP_TABLES", p, allow_all=True)),
            "all",
        ),
    ] = None
    data_backup_exclude_tables: Annotated[
        frozenset[str],
        Field(alias="DATA_BACKUP_EXCLUDE_TABLES"),
        _setting(_entries(lambda v, p: frozenset(
            parse_table_names(v, "DATA_BACKUP_EXCLUDE_TABLES", p) or ()
        ))),
    ] = frozenset()


def settings_from_env(environ: Mapping[str, str]) -> Settings:
    """`Settings` from app settings; one `ConfigError` naming every bad one otherwise."""
    problems = _requirements(environ)
    try:
        read = AppSettings.model_validate(dict(environ))
    except ValidationError as error:
        raise ConfigError([*_field_problems(error), *problems]) from None
    if problems:
        raise ConfigError(problems)
    values = dict(read)
    # An identity-based connection is a connection value without a key (StorageTarget).
    identity = ";".join(f"{key}={value}" for key, value in (
        ("AccountName", values.pop("storage_account")),
        ("QueueEndpoint", values.pop("storage_queue_uri")),
        ("TableEndpoint", values.pop("storage_table_uri")),
        ("BlobEndpoint", values.pop("storage_blob_uri")),
    ) if value)
    storage = values.pop("storage") or identity
    values["data_backup_storage"] = values["data_backup_storage"] or Secret(storage)
    return Settings(storage_connection=Secret(storage), **values)


def _field_problems(error: ValidationError) -> list[str]:
    problems: list[str] = []
    for item in error.errors(include_url=False):
        setting = str(item["loc"][0]) if item["loc"] else "A setting"  # loc: the setting's name
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, SettingProblems):
            problems.extend(cause.problems)  # a list setting: one problem per bad entry
        elif isinstance(cause, ValueError):
            text = str(cause)
            problems.append(text if text.startswith(setting) else f"{setting} {text}")
        else:
            problems.append(f"{setting}: {item['msg']}")
    return problems


def _requirements(environ: Mapping[str, str]) -> list[str]:
    """The rules between settings, on the values as given (a bad value of one setting does not
    hide what another one lacks)."""

    def get(name: str) -> str | None:
        return (environ.get(name) or "").strip() or None

    problems: list[str] = []
    by_uri = [get(f"AzureWebJobsStorage__{service}ServiceUri") for service in ("queue", "table")]
    if get("AzureWebJobsStorage") is None and get("AzureWebJobsStorage__accountName") is None:
        if not any(by_uri):
            problems.append(
                "AzureWebJobsStorage is required: a storage connection string, "
                "'UseDevelopmentStorage=true' for Azurite, or set "
                "AzureWebJobsStorage__accountName (or __queueServiceUri and __tableServiceUri) "
                "for an identity-based connection"
            )
        elif not all(by_uri):
            problems.append(
                "AzureWebJobsStorage__queueServiceUri and AzureWebJobsStorage__tableServiceUri "
                "are both required without AzureWebJobsStorage__accountName (the app uses "
                "queues and tables)"
            )
    mode = (get("PP_AUTH") or AuthMode.MANAGED_IDENTITY.value).lower()
    if mode in (AuthMode.CLIENT_SECRET, AuthMode.CERTIFICATE):
        for name in ("PP_TENANT_ID", "PP_CLIENT_ID"):
            if get(name) is None:
                problems.append(f"{name} is required when PP_AUTH={mode}")
    if mode == AuthMode.CLIENT_SECRET and get("PP_CLIENT_SECRET") is None:
        problems.append(
            "PP_CLIENT_SECRET is required when PP_AUTH=client_secret "
            "(in Azure, use a Key Vault reference)"
        )
    if mode == AuthMode.CERTIFICATE and get("PP_CLIENT_CERTIFICATE_PATH") is None:
        problems.append("PP_CLIENT_CERTIFICATE_PATH is required when PP_AUTH=certificate")
    urls = (get("PP_API_URL") or DEFAULT_PP_API_URL, get("PP_BAP_URL") or DEFAULT_PP_BAP_URL)
    if mode == AuthMode.NONE and not all(is_loopback_url(url) for url in urls):
        problems.append(
            "PP_AUTH=none sends no token and is refused unless PP_API_URL and PP_BAP_URL "
            "are both loopback addresses (the local simulator)"
        )
    hook_secret = get("NOTIFY_WEBHOOK_SECRET")
    if get("NOTIFY_WEBHOOK_URL") is not None and hook_secret is None:
        problems.append(
            "NOTIFY_WEBHOOK_SECRET is required with NOTIFY_WEBHOOK_URL "
            "(receivers verify the HMAC-SHA256 signature with it)"
        )
    elif get("NOTIFY_WEBHOOK_URL") is not None and len(hook_secret or "") < 16:
        problems.append("NOTIFY_WEBHOOK_SECRET must be at least 16 characters long")
    return problems
