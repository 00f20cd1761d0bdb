"""The status page's pure decisions: who may see it, what is in scope, what is expiring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.settings import BackupScope
from shared.storage.directory import KnownEnvironment
from status_page.access import refusal
from status_page.overview import expiry_state, in_scope

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PROD = "6b1c0000-0000-0000-0000-000000000001"
UAT = "6b1c0000-0000-0000-0000-000000000002"
NAMED = "6b1c0000-0000-0000-0000-000000000003"
AZURE = {"WEBSITE_SITE_NAME": "ppbackup-func", "WEBSITE_AUTH_ENABLED": "True"}

texts = st.text(max_size=20)


LOCAL_HOST = {"PPBACKUP_LOCAL_HOST": "true"}
PRINCIPAL = {"x-ms-client-principal-id": "00000000-0000-0000-0000-0000000000aa"}


@given(environ=st.dictionaries(st.sampled_from(["PATH", "HOME", "CI"]), texts),
       headers=st.dictionaries(texts, texts))
def test_in_the_local_host_nobody_is_refused(
    environ: dict[str, str], headers: dict[str, str],
) -> None:
    assert refusal({**environ, **LOCAL_HOST}, headers) is None


@given(environ=st.dictionaries(st.sampled_from(["PATH", "HOME", "CI", "WEBSITE_AUTH_ENABLED",
                                                "PPBACKUP_LOCAL_HOST"]), texts))
def test_outside_azure_and_the_local_host_everyone_is_refused(environ: dict[str, str]) -> None:
    # A container, AKS, Core Tools on a VM: nothing vouches for the principal headers there, and
    # nothing says the port is the developer's own; only the local host's own "true" opens it.
    decision = refusal(environ, PRINCIPAL)
    if environ.get("PPBACKUP_LOCAL_HOST") == "true":
        assert decision is None
    else:
        assert decision is not None
        assert decision.status == 403


def test_in_azure_the_local_host_setting_opens_nothing() -> None:
    decision = refusal({**AZURE, **LOCAL_HOST}, {})
    assert decision is not None
    assert decision.code == "SignInRequired"
    assert refusal({"WEBSITE_SITE_NAME": "ppbackup-func", **LOCAL_HOST}, PRINCIPAL) is not None


@given(principal=texts, auth=st.sampled_from(["True", "true", "TRUE", "False", "", "1"]))
def test_in_azure_only_a_principal_behind_app_service_authentication_passes(
    principal: str, auth: str,
) -> None:
    environ = {"WEBSITE_INSTANCE_ID": "abc", "WEBSITE_AUTH_ENABLED": auth}
    decision = refusal(environ, {"x-ms-client-principal-id": principal})
    if auth.lower() != "true":
        assert decision is not None
        assert decision.status == 403
    elif not principal.strip():
        assert decision is not None
        assert decision.status == 401
    else:
        assert decision is None


def test_a_principal_header_under_another_name_is_not_a_principal() -> None:
    decision = refusal(AZURE, {"x-ms-client-principal-name": "maria@contoso.com"})
    assert decision is not None
    assert decision.code == "SignInRequired"


def test_expiry_states() -> None:
    assert expiry_state(None, NOW) == "unknown"
    assert expiry_state(NOW - timedelta(seconds=1), NOW) == "expired"
    assert expiry_state(NOW, NOW) == "expired"
    assert expiry_state(NOW + timedelta(hours=23), NOW) == "expiring"
    assert expiry_state(NOW + timedelta(days=1), NOW) == "expiring"
    assert expiry_state(NOW + timedelta(days=1, seconds=1), NOW) == "ok"


def test_scope_selects_by_type_and_id_and_names_ids_not_listed_yet() -> None:
    known = [KnownEnvironment(PROD, "Contoso Prod", "Production"),
             KnownEnvironment(UAT, "Contoso UAT", "Sandbox")]
    production = BackupScope(types=frozenset({"Production"}))
    assert [e.environment_id for e in in_scope(known, production)] == [PROD]
    by_id = BackupScope(environment_ids=frozenset({UAT, NAMED}))
    assert [e.environment_id for e in in_scope(known, by_id)] == [UAT, NAMED]
    assert len(in_scope(known, BackupScope(everything=True))) == 2
    # An environment whose type the directory does not know is only selected by id or `all`.
    untyped = [KnownEnvironment(PROD, "Contoso Prod")]
    assert in_scope(untyped, production) == []
