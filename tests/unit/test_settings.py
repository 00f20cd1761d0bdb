"""Settings: defaults, every problem reported at once, and secrets never shown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import ConfigError
from shared.settings import AuthMode, Settings

ENV = "11111111-2222-3333-4444-555555555555"
LOCAL = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "PP_AUTH": "none",
    "PP_API_URL": "http://127.0.0.1:8080",
    "PP_BAP_URL": "http://localhost:8080/",
}


def test_defaults_follow_the_contract() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert settings.pp_api_url == "https://api.powerplatform.com"
    assert settings.pp_bap_url == "https://api.bap.microsoft.com"
    assert settings.auth_mode is AuthMode.MANAGED_IDENTITY
    assert settings.backup_schedule == "0 0 1 * * *"
    assert settings.backup_scope.types == frozenset({"Production"})
    assert settings.backup_label_template == "Pre-update {date} {time}Z"
    assert settings.restore_timeout_hours == 48
    assert not settings.restore_allow_production.allows(ENV)


def test_every_problem_is_reported_in_one_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {
                "PP_AUTH": "client_secret",
                "BACKUP_SCOPE": "type:Prod,nonsense",
                "BACKUP_SCHEDULE": "every day",
                "RESTORE_TIMEOUT_HOURS": "soon",
                "BACKUP_LABEL_TEMPLATE": "{datum}",
                "RESTORE_ALLOW_PRODUCTION": "contoso",
            }
        )
    text = str(caught.value)
    for name in (
        "AzureWebJobsStorage",
        "PP_TENANT_ID",
        "PP_CLIENT_ID",
        "PP_CLIENT_SECRET",
        "type:Prod",
        "nonsense",
        "BACKUP_SCHEDULE",
        "RESTORE_TIMEOUT_HOURS",
        "BACKUP_LABEL_TEMPLATE",
        "RESTORE_ALLOW_PRODUCTION",
    ):
        assert name in text, name
    assert len(caught.value.problems) >= 10


@pytest.mark.parametrize("template", ["Pre-update\t{date}", "Pre-update \u202e{date}",
                                      "Pre\u200bupdate {date}"])
def test_a_label_template_that_does_not_read_as_it_is_written_is_refused(template: str) -> None:
    with pytest.raises(ConfigError, match=r"BACKUP_LABEL_TEMPLATE.*invisible or change the "
                                          r"direction of text"):
        Settings.from_env({**LOCAL, "BACKUP_LABEL_TEMPLATE": template})


def test_no_auth_is_refused_off_loopback() -> None:
    with pytest.raises(ConfigError, match="PP_AUTH=none"):
        Settings.from_env({**LOCAL, "PP_BAP_URL": "https://api.bap.microsoft.com"})
    assert Settings.from_env(LOCAL).auth_mode is AuthMode.NONE


def test_plain_http_only_on_loopback() -> None:
    with pytest.raises(ConfigError, match="PP_API_URL must use https"):
        Settings.from_env({"AzureWebJobsStorage": "x=y", "PP_API_URL": "http://example.com"})


def test_scope_and_allow_list() -> None:
    settings = Settings.from_env(
        {**LOCAL, "BACKUP_SCOPE": f"{ENV.upper()}, type:sandbox", "RESTORE_ALLOW_PRODUCTION": ENV}
    )
    assert settings.backup_scope.includes(ENV, "Production")
    assert settings.backup_scope.includes("other", "Sandbox")
    assert not settings.backup_scope.includes("other", "Production")
    assert settings.restore_allow_production.allows(ENV.upper())
    assert Settings.from_env(
        {**LOCAL, "RESTORE_ALLOW_PRODUCTION": "*"}
    ).restore_allow_production.allows("anything")
    assert Settings.from_env({**LOCAL, "BACKUP_SCOPE": "all"}).backup_scope.includes("x", "Trial")


def test_webhook_needs_https_and_a_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**LOCAL, "NOTIFY_WEBHOOK_URL": "http://hooks.example.com/x?sig=abc"})
    assert "NOTIFY_WEBHOOK_SECRET" in str(caught.value)
    assert "sig=abc" not in str(caught.value)  # the URL itself may carry a signature
    settings = Settings.from_env(
        {
            **LOCAL,
            "NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/hook",
            "NOTIFY_WEBHOOK_SECRET": "s" * 32,
        }
    )
    assert settings.notify_webhook_secret is not None


# Any text but ';', which a connection string's values cannot hold.
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=";"),
               min_size=12, max_size=60))
def test_secrets_never_appear_in_repr(secret: str) -> None:
    secret = "S3cr3t" + secret.strip()
    settings = Settings.from_env(
        {
            "AzureWebJobsStorage": (
                f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={secret}"
            ),
            "PP_AUTH": "client_secret",
            "PP_TENANT_ID": ENV,
            "PP_CLIENT_ID": ENV,
            "PP_CLIENT_SECRET": secret,
        }
    )
    assert secret not in repr(settings)
    assert secret not in str(settings)
    assert settings.client_secret is not None and settings.client_secret.reveal() == secret


def test_a_blank_setting_is_an_unset_one() -> None:
    blank = {name: " " for name in (
        "PP_API_URL", "PP_AUTH", "PP_TENANT_ID", "WEBSITE_TIME_ZONE", "BACKUP_SCHEDULE",
        "BACKUP_SCOPE", "RESTORE_ALLOW_PRODUCTION", "RESTORE_TIMEOUT_HOURS", "TEAMS_WEBHOOK_URL",
        "DATA_BACKUP_SCOPE", "DATA_BACKUP_TABLES", "DATA_BACKUP_EXCLUDE_TABLES",
    )}
    storage = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    assert Settings.from_env({**storage, **blank}) == Settings.from_env(storage)


def test_each_bad_entry_of_a_list_setting_is_its_own_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**LOCAL, "BACKUP_SCOPE": "type:Prod, nonsense, all",
                           "RESTORE_ALLOW_PRODUCTION": "contoso, *"})
    assert [p.split(" ")[0:2] for p in caught.value.problems] == [
        ["BACKUP_SCOPE", "selector"], ["BACKUP_SCOPE", "entry"],
        ["RESTORE_ALLOW_PRODUCTION", "entry"],
    ]
