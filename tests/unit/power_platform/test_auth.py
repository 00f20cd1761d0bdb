"""Token audiences, the three providers, and the one-per-process cache."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from shared.errors import AuthenticationFailed
from shared.power_platform import (
    ManagedIdentityTokenProvider,
    MsalTokenProvider,
    NoTokenProvider,
    PowerPlatformClient,
    scope_for_url,
    token_provider_from_settings,
)
from shared.power_platform.auth import authority_host_for, clear_token_provider_cache
from shared.settings import AuthMode, Secret, Settings

TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"
SECRET = "s3cr3t-Value~with.chars"
BAP_SCOPE = "https://service.powerapps.com/.default"
PP_SCOPE = "https://api.powerplatform.com/.default"

# --- scope_for_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "scope"),
    [
        ("https://api.bap.microsoft.com/providers/x?api-version=1", BAP_SCOPE),
        (
            "https://europe.api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/"
            "lifecycleOperations/1",
            BAP_SCOPE,
        ),
        ("https://API.BAP.MICROSOFT.COM/x", BAP_SCOPE),
        ("https://api.powerplatform.com/environmentmanagement/x", PP_SCOPE),
        ("https://1234abcd.tenant.api.powerplatform.com/x", PP_SCOPE),
        ("https://gov.api.bap.microsoft.us/x", "https://gov.service.powerapps.us/.default"),
        ("https://high.api.bap.microsoft.us/x", "https://high.service.powerapps.us/.default"),
        ("https://api.bap.appsplatform.us/x", "https://service.apps.appsplatform.us/.default"),
        ("https://api.bap.partner.microsoftonline.cn/x", "https://service.powerapps.cn/.default"),
        (
            "https://api.gov.powerplatform.microsoft.us/x",
            "https://api.gov.powerplatform.microsoft.us/.default",
        ),
        (
            "https://api.high.powerplatform.microsoft.us/x",
            "https://api.high.powerplatform.microsoft.us/.default",
        ),
        ("https://api.appsplatform.us/x", "https://api.appsplatform.us/.default"),
        (
            "https://api.powerplatform.partner.microsoftonline.cn/x",
            "https://api.powerplatform.partner.microsoftonline.cn/.default",
        ),
        ("http://127.0.0.1:7071/x", None),
        ("http://localhost:8080/x", None),
        ("http://[::1]:8080/x", None),
        ("https://localhost/x", None),
    ],
)
def test_scope_for_url(url: str, scope: str | None) -> None:
    assert scope_for_url(url) == scope


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/x",
        "https://api.bap.microsoft.com.evil.example/x",
        "https://notapi.bap.microsoft.com/x",
        "https://fakeapi.powerplatform.com/x",
        "http://api.bap.microsoft.com/x",
        "api.bap.microsoft.com/x",
    ],
)
def test_no_token_for_foreign_hosts_or_plain_http(url: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        scope_for_url(url)


@pytest.mark.parametrize(
    ("bap", "authority"),
    [
        ("https://api.bap.microsoft.com", "https://login.microsoftonline.com"),
        ("https://gov.api.bap.microsoft.us", "https://login.microsoftonline.com"),
        ("https://high.api.bap.microsoft.us", "https://login.microsoftonline.us"),
        ("https://api.bap.appsplatform.us", "https://login.microsoftonline.us"),
        ("https://api.bap.partner.microsoftonline.cn", "https://login.chinacloudapi.cn"),
        ("http://127.0.0.1:7072", "https://login.microsoftonline.com"),
    ],
)
def test_authority_per_cloud(bap: str, authority: str) -> None:
    assert authority_host_for(bap) == authority


# --- msal, with a fake application object --------------------------------------------------------


class FakeCache:
    def __init__(self) -> None:
        self.removed: list[object] = []

    def search(self, credential_type: str, target: list[str] | None = None) -> list[object]:
        assert credential_type == "AccessToken"
        return [("cached", tuple(target or ()))]

    def remove_at(self, item: object) -> None:
        self.removed.append(item)


class FakeApp:
    def __init__(self, results: list[dict[str, Any]]) -> None:
        self.results = results
        self.scopes: list[list[str]] = []
        self.token_cache = FakeCache()

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        self.scopes.append(scopes)
        return self.results.pop(0)


class Factory:
    def __init__(self, app: FakeApp) -> None:
        self.app = app
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, client_id: str, **kwargs: Any) -> FakeApp:
        self.calls.append((client_id, kwargs))
        return self.app


def secret_provider(factory: Factory) -> MsalTokenProvider:
    return MsalTokenProvider(TENANT, CLIENT, client_secret=Secret(SECRET), app_factory=factory)


def test_msal_provider_builds_the_app_once_and_returns_tokens() -> None:
    factory = Factory(FakeApp([{"access_token": "a"}, {"access_token": "b"}]))
    provider = secret_provider(factory)
    assert provider.get_token(BAP_SCOPE) == "a"
    assert provider.get_token(PP_SCOPE) == "b"
    assert len(factory.calls) == 1
    client_id, kwargs = factory.calls[0]
    assert client_id == CLIENT
    assert kwargs == {
        "client_credential": SECRET,
        "authority": f"https://login.microsoftonline.com/{TENANT}",
    }
    assert factory.app.scopes == [[BAP_SCOPE], [PP_SCOPE]]
    assert SECRET not in repr(provider)


def test_msal_force_refresh_drops_the_cached_token_first() -> None:
    factory = Factory(FakeApp([{"access_token": "fresh"}]))
    provider = secret_provider(factory)
    assert provider.get_token(PP_SCOPE, force_refresh=True) == "fresh"
    assert factory.app.token_cache.removed == [("cached", (PP_SCOPE,))]


def test_msal_error_dict_becomes_authentication_failed_without_the_secret() -> None:
    factory = Factory(
        FakeApp(
            [
                {
                    "error": "invalid_client",
                    # Even if a description echoed the secret, it must not get out.
                    "error_description": f"AADSTS7000215: Invalid client secret provided: {SECRET}",
                    "correlation_id": "c",
                }
            ]
        )
    )
    with pytest.raises(AuthenticationFailed) as caught:
        secret_provider(factory).get_token(BAP_SCOPE)
    message = str(caught.value)
    assert "invalid_client" in message
    assert "AADSTS7000215" in message
    assert CLIENT in message
    assert SECRET not in message
    assert SECRET not in repr(caught.value.args)


def test_msal_construction_failure_is_authentication_failed_without_the_secret() -> None:
    def explode(client_id: str, **kwargs: Any) -> FakeApp:
        raise ValueError(f"Unable to get authority configuration for {kwargs['client_credential']}")

    provider = MsalTokenProvider(TENANT, CLIENT, client_secret=Secret(SECRET), app_factory=explode)
    with pytest.raises(AuthenticationFailed, match="Unable to get authority") as caught:
        provider.get_token(BAP_SCOPE)
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None


def test_msal_network_error_is_authentication_failed() -> None:
    class Broken(FakeApp):
        def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
            raise ConnectionError("login.microsoftonline.com unreachable")

    with pytest.raises(AuthenticationFailed, match="unreachable"):
        secret_provider(Factory(Broken([]))).get_token(BAP_SCOPE)


def test_msal_provider_needs_exactly_one_credential() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        MsalTokenProvider(TENANT, CLIENT)
    with pytest.raises(ValueError, match="exactly one"):
        MsalTokenProvider(TENANT, CLIENT, client_secret=Secret("x"), certificate_path="c.pem")


# --- msal for real, with fake HTTP under it ------------------------------------------------------


class _MsalHttp:
    """The requests-like http_client msal accepts: discovery GET, token POSTs."""

    def __init__(self, token_status: int = 200) -> None:
        self.token_status = token_status
        self.posts: list[dict[str, Any]] = []

    class _Response:
        def __init__(self, status: int, body: dict[str, Any]) -> None:
            self.status_code = status
            self.text = json.dumps(body)
            self.headers: dict[str, str] = {}

        def raise_for_status(self) -> None:
            if self.status_code >= 400:
                raise RuntimeError(self.status_code)

    def get(self, url: str, **_: Any) -> _MsalHttp._Response:
        base = f"https://login.microsoftonline.com/{TENANT}"
        return self._Response(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0",
                # Instance discovery, which msal runs after some token errors.
                "metadata": [
                    {
                        "preferred_network": "login.microsoftonline.com",
                        "aliases": ["login.microsoftonline.com"],
                    }
                ],
            },
        )

    def post(self, url: str, data: dict[str, Any] | None = None, **_: Any) -> _MsalHttp._Response:
        self.posts.append(dict(data or {}))
        if self.token_status != 200:
            return self._Response(
                self.token_status,
                {"error": "invalid_client", "error_description": "AADSTS7000215: bad secret"},
            )
        return self._Response(
            200,
            {"access_token": f"at{len(self.posts)}", "expires_in": 3600, "token_type": "Bearer"},
        )

    def close(self) -> None:
        pass


def real_msal(http: _MsalHttp) -> MsalTokenProvider:
    def factory(client_id: str, **kwargs: Any) -> Any:
        return msal.ConfidentialClientApplication(client_id, http_client=http, **kwargs)

    return MsalTokenProvider(TENANT, CLIENT, client_secret=Secret(SECRET), app_factory=factory)


def test_real_msal_caches_per_scope_and_force_refresh_fetches_anew() -> None:
    http = _MsalHttp()
    provider = real_msal(http)
    assert provider.get_token(BAP_SCOPE) == "at1"
    assert provider.get_token(BAP_SCOPE) == "at1"  # msal's in-memory cache
    assert provider.get_token(BAP_SCOPE, force_refresh=True) == "at2"
    assert provider.get_token(PP_SCOPE) == "at3"
    assert provider.get_token(BAP_SCOPE) == "at2"
    assert [p["scope"] for p in http.posts] == [BAP_SCOPE, BAP_SCOPE, PP_SCOPE]


def test_real_msal_error_becomes_authentication_failed() -> None:
    with pytest.raises(AuthenticationFailed, match="invalid_client: AADSTS7000215") as caught:
        real_msal(_MsalHttp(token_status=401)).get_token(BAP_SCOPE)
    assert SECRET not in str(caught.value)


# --- certificates --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key_and_cert() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ppbackup-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def cert_provider(path: Path, password: str | None, factory: Factory) -> MsalTokenProvider:
    return MsalTokenProvider(
        TENANT,
        CLIENT,
        certificate_path=str(path),
        certificate_password=Secret(password) if password else None,
        app_factory=factory,
    )


def assert_certificate_credential(factory: Factory, cert: x509.Certificate) -> None:
    credential = factory.calls[0][1]["client_credential"]
    assert set(credential) == {"private_key", "public_certificate"}
    assert "PRIVATE KEY" in credential["private_key"]
    loaded = x509.load_pem_x509_certificate(credential["public_certificate"].encode())
    assert loaded == cert


@pytest.mark.parametrize("password", [None, "pem-pass"])
def test_pem_certificate(
    tmp_path: Path, key_and_cert: tuple[rsa.RSAPrivateKey, x509.Certificate], password: str | None
) -> None:
    key, cert = key_and_cert
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    path = tmp_path / "app.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    factory = Factory(FakeApp([{"access_token": "t"}]))
    assert cert_provider(path, password, factory).get_token(BAP_SCOPE) == "t"
    assert_certificate_credential(factory, cert)


def test_pfx_certificate(
    tmp_path: Path, key_and_cert: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    key, cert = key_and_cert
    path = tmp_path / "app.pfx"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"app", key, cert, None, serialization.BestAvailableEncryption(b"pfx-pass")
        )
    )
    factory = Factory(FakeApp([{"access_token": "t"}]))
    assert cert_provider(path, "pfx-pass", factory).get_token(BAP_SCOPE) == "t"
    assert_certificate_credential(factory, cert)


def test_wrong_certificate_password_is_authentication_failed_without_it(
    tmp_path: Path, key_and_cert: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    key, cert = key_and_cert
    path = tmp_path / "app.pfx"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"app", key, cert, None, serialization.BestAvailableEncryption(b"right")
        )
    )
    factory = Factory(FakeApp([]))
    with pytest.raises(AuthenticationFailed) as caught:
        cert_provider(path, "wrong-password-value", factory).get_token(BAP_SCOPE)
    assert "wrong-password-value" not in str(caught.value)
    assert factory.calls == []


# --- managed identity ----------------------------------------------------------------------------


class FakeCredential:
    instances: list[FakeCredential] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.scopes: list[str] = []
        FakeCredential.instances.append(self)

    def get_token(self, scope: str) -> Any:
        self.scopes.append(scope)
        if scope == "fail":
            from azure.core.exceptions import ClientAuthenticationError

            raise ClientAuthenticationError("IMDS endpoint unavailable")
        return type("AccessToken", (), {"token": f"mi-{len(FakeCredential.instances)}"})()


@pytest.fixture
def fake_credential(monkeypatch: pytest.MonkeyPatch) -> type[FakeCredential]:
    import azure.identity

    FakeCredential.instances = []
    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", FakeCredential)
    return FakeCredential


def test_managed_identity_reuses_its_credential(fake_credential: type[FakeCredential]) -> None:
    provider = ManagedIdentityTokenProvider()
    assert provider.get_token(BAP_SCOPE) == "mi-1"
    assert provider.get_token(PP_SCOPE) == "mi-1"
    assert len(fake_credential.instances) == 1
    assert fake_credential.instances[0].kwargs == {}
    assert fake_credential.instances[0].scopes == [BAP_SCOPE, PP_SCOPE]


def test_user_assigned_identity_passes_its_client_id(
    fake_credential: type[FakeCredential],
) -> None:
    ManagedIdentityTokenProvider(CLIENT).get_token(BAP_SCOPE)
    assert fake_credential.instances[0].kwargs == {"client_id": CLIENT}


def test_managed_identity_force_refresh_uses_a_new_credential(
    fake_credential: type[FakeCredential],
) -> None:
    provider = ManagedIdentityTokenProvider()
    provider.get_token(BAP_SCOPE)
    assert provider.get_token(BAP_SCOPE, force_refresh=True) == "mi-2"


def test_managed_identity_failure_is_authentication_failed(
    fake_credential: type[FakeCredential],
) -> None:
    with pytest.raises(AuthenticationFailed, match=r"system-assigned.*IMDS endpoint unavailable"):
        ManagedIdentityTokenProvider().get_token("fail")


def test_no_token_provider_refuses() -> None:
    with pytest.raises(AuthenticationFailed, match="PP_AUTH=none"):
        NoTokenProvider().get_token(BAP_SCOPE)


# --- import cost ---------------------------------------------------------------------------------


def test_importing_the_client_does_not_import_azure_identity_or_msal() -> None:
    code = (
        "import sys\n"
        "from shared.power_platform import PowerPlatformClient, token_provider_from_settings\n"
        "from shared.settings import Settings, Secret, AuthMode\n"
        "s = Settings(storage_connection=Secret('x'), auth_mode=AuthMode.MANAGED_IDENTITY)\n"
        "PowerPlatformClient.from_settings(s).close()\n"
        "heavy = ('azure.identity', 'msal', 'cryptography.x509')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# --- one provider per process --------------------------------------------------------------------


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    clear_token_provider_cache()
    yield
    clear_token_provider_cache()


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "storage_connection": Secret("UseDevelopmentStorage=true"),
        "auth_mode": AuthMode.CLIENT_SECRET,
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": Secret(SECRET),
    }
    values.update(overrides)
    return Settings(**values)


@pytest.mark.usefixtures("fresh_cache")
def test_one_provider_per_auth_settings() -> None:
    first = token_provider_from_settings(settings())
    assert isinstance(first, MsalTokenProvider)
    # Settings unrelated to auth share the provider (and so msal's cache).
    assert token_provider_from_settings(settings(backup_schedule="0 0 2 * * *")) is first
    assert token_provider_from_settings(settings(client_secret=Secret("other"))) is not first
    assert token_provider_from_settings(settings(client_id=TENANT)) is not first


@pytest.mark.usefixtures("fresh_cache")
def test_provider_kind_follows_the_auth_mode() -> None:
    assert isinstance(
        token_provider_from_settings(settings(auth_mode=AuthMode.MANAGED_IDENTITY)),
        ManagedIdentityTokenProvider,
    )
    assert isinstance(
        token_provider_from_settings(settings(auth_mode=AuthMode.NONE)), NoTokenProvider
    )
    cert = token_provider_from_settings(
        settings(auth_mode=AuthMode.CERTIFICATE, client_certificate_path="/x.pem")
    )
    assert isinstance(cert, MsalTokenProvider)


@pytest.mark.usefixtures("fresh_cache")
def test_concurrent_first_use_yields_one_provider() -> None:
    barrier = threading.Barrier(16)
    seen: list[object] = []

    def get() -> None:
        barrier.wait()
        seen.append(token_provider_from_settings(settings()))

    threads = [threading.Thread(target=get) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(p) for p in seen}) == 1


@pytest.mark.usefixtures("fresh_cache")
def test_client_from_settings_talks_to_the_simulator_without_tokens() -> None:
    s = settings(
        auth_mode=AuthMode.NONE,
        pp_api_url="http://127.0.0.1:7071",
        pp_bap_url="http://127.0.0.1:7072",
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"value": []})

    with PowerPlatformClient.from_settings(
        s, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    ) as client:
        assert client.list_environments() == []
    assert seen[0].url.host == "127.0.0.1"
    assert "Authorization" not in seen[0].headers
