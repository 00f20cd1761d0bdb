"""Access tokens for the two platform audiences (reference §2).

msal and azure.identity are imported only when a token is first needed: both pull in large
dependency trees, and the function app's cold start must not pay for them at import time.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from shared.errors import AuthenticationFailed
from shared.settings import AuthMode, Secret, Settings, is_loopback_host

if TYPE_CHECKING:
    from azure.identity import ManagedIdentityCredential


class TokenProvider(Protocol):
    def get_token(self, scope: str, *, force_refresh: bool = False) -> str: ...


# --- audiences per host (reference §2.1, §2.4) ---------------------------------------------------

_BAP_SCOPES: Mapping[str, str] = {
    "api.bap.microsoft.com": "https://service.powerapps.com/.default",
    # Government audiences per PS-REST; the reference marks them unverified.
    "gov.api.bap.microsoft.us": "https://gov.service.powerapps.us/.default",
    "high.api.bap.microsoft.us": "https://high.service.powerapps.us/.default",
    "api.bap.appsplatform.us": "https://service.apps.appsplatform.us/.default",
    "api.bap.partner.microsoftonline.cn": "https://service.powerapps.cn/.default",
}
_PP_API_HOSTS = (
    "api.powerplatform.com",
    "api.gov.powerplatform.microsoft.us",
    "api.high.powerplatform.microsoft.us",
    "api.appsplatform.us",
    "api.powerplatform.partner.microsoftonline.cn",
)
# Token authority per cloud, keyed by the BAP host (reference §2.4).
_AUTHORITY_HOSTS: Mapping[str, str] = {
    "high.api.bap.microsoft.us": "https://login.microsoftonline.us",
    "api.bap.appsplatform.us": "https://login.microsoftonline.us",
    "api.bap.partner.microsoftonline.cn": "https://login.chinacloudapi.cn",
}
_PUBLIC_AUTHORITY = "https://login.microsoftonline.com"


def _matches(host: str, base: str) -> bool:
    # Regional hosts (europe.api.bap.microsoft.com) and tenant/environment-scoped PP API hosts
    # (<x>.tenant.api.powerplatform.com) share their base host's audience.
    return host == base or host.endswith("." + base)


def token_host(url: str) -> str | None:
    """The host a token for `url` would go to, lower-cased; None for loopback (the local
    simulator, which takes no token). ValueError for plain http anywhere else."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if is_loopback_host(host):
        return None
    if parts.scheme != "https":
        raise ValueError(f"refusing to send a token over {parts.scheme or 'no scheme'} to {host}")
    return host


def scope_for_url(url: str) -> str | None:
    """The token scope for a request to `url`; None for loopback (the local simulator).

    Raises ValueError for any other host, or for plain http off loopback: a token must never be
    sent somewhere its audience does not belong, whatever a status URL or nextLink says.
    """
    host = token_host(url)
    if host is None:
        return None
    # Most specific first: "api.bap.appsplatform.us" would otherwise match "api.appsplatform.us".
    for base, scope in _BAP_SCOPES.items():
        if _matches(host, base):
            return scope
    for base in _PP_API_HOSTS:
        if _matches(host, base):
            return f"https://{base}/.default"
    raise ValueError(f"no known Power Platform token audience for host {host!r}")


def authority_host_for(bap_url: str) -> str:
    host = (urlsplit(bap_url).hostname or "").lower()
    for base, authority in _AUTHORITY_HOSTS.items():
        if _matches(host, base):
            return authority
    return _PUBLIC_AUTHORITY


# --- providers -----------------------------------------------------------------------------------


class NoTokenProvider:
    """For the local simulator: requests to loopback carry no token, so none is ever asked for."""

    def get_token(self, scope: str, *, force_refresh: bool = False) -> str:
        raise AuthenticationFailed(
            f"PP_AUTH=none has no credentials, but a token for {scope} was needed; "
            "PP_AUTH=none works only against the local simulator"
        )


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


class MsalTokenProvider:
    """Client-credentials tokens from msal (client secret, PEM or PFX certificate).

    msal's in-memory cache serves repeated calls; the app object is built on first use because
    msal contacts the authority while building it.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        *,
        client_secret: Secret | None = None,
        certificate_path: str | None = None,
        certificate_password: Secret | None = None,
        authority_host: str = _PUBLIC_AUTHORITY,
        app_factory: Callable[..., Any] | None = None,
    ) -> None:
        if (client_secret is None) == (certificate_path is None):
            raise ValueError("give exactly one of client_secret or certificate_path")
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._secret = client_secret
        self._certificate_path = certificate_path
        self._certificate_password = certificate_password
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._app_factory = app_factory
        self._app: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MsalTokenProvider(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"

    def _secrets(self) -> tuple[str, ...]:
        return tuple(s.reveal() for s in (self._secret, self._certificate_password) if s)

    def _credential(self) -> str | dict[str, str]:
        if self._secret is not None:
            return self._secret.reveal()
        assert self._certificate_path is not None  # guaranteed by __init__
        password = self._certificate_password.reveal() if self._certificate_password else None
        return _certificate_credential(Path(self._certificate_path), password)

    def _get_app(self) -> Any:
        with self._lock:
            if self._app is None:
                factory = self._app_factory
                if factory is None:
                    import msal  # lazy: cold start

                    factory = msal.ConfidentialClientApplication
                try:
                    self._app = factory(
                        self.client_id,
                        client_credential=self._credential(),
                        authority=self._authority,
                    )
                except Exception as exc:  # noqa: BLE001  (msal raises ValueError, requests errors...)
                    raise AuthenticationFailed(
                        "Could not set up token acquisition for client "
                        f"{self.client_id} in tenant {self.tenant_id}: "
                        f"{_redact(f'{type(exc).__name__}: {exc}', self._secrets())}"
                    ) from None
            return self._app

    def get_token(self, scope: str, *, force_refresh: bool = False) -> str:
        app = self._get_app()
        if force_refresh:
            _drop_cached_tokens(app, scope)
        try:
            result = app.acquire_token_for_client(scopes=[scope])
        except Exception as exc:  # noqa: BLE001  (network errors surface as requests exceptions)
            raise AuthenticationFailed(
                f"Token request for {scope} failed: "
                f"{_redact(f'{type(exc).__name__}: {exc}', self._secrets())}"
            ) from None
        token = result.get("access_token") if isinstance(result, Mapping) else None
        if isinstance(token, str) and token:
            return token
        error = result.get("error", "unknown_error") if isinstance(result, Mapping) else "no result"
        description = result.get("error_description", "") if isinstance(result, Mapping) else ""
        raise AuthenticationFailed(
            _redact(
                f"No token for {scope} (client {self.client_id}, tenant {self.tenant_id}): "
                f"{error}: {description}".rstrip(": "),
                self._secrets(),
            )
        )


def _drop_cached_tokens(app: Any, scope: str) -> None:
    """Make msal fetch a fresh token: acquire_token_for_client refuses force_refresh itself."""
    cache = getattr(app, "token_cache", None)
    if cache is None:
        return
    # `search` replaced the deprecated `find` in newer msal versions; both take the same query.
    search = getattr(cache, "search", None) or cache.find
    for item in list(search("AccessToken", target=[scope])):
        cache.remove_at(item)


def _certificate_credential(path: Path, password: str | None) -> dict[str, str]:
    """msal's credential dict from a PEM (key + certificate) or PFX/PKCS#12 file.

    Both are converted here, rather than handing msal the PFX path, so every msal version the
    project allows (>= 1.28; PFX support came in 1.29) behaves the same. msal derives the
    thumbprint from `public_certificate`.
    """
    # Lazy: cryptography is only needed for certificate auth.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    data = path.read_bytes()
    secret = password.encode() if password else None
    if b"-----BEGIN" in data:
        key: Any = serialization.load_pem_private_key(data, secret)
        certificates = x509.load_pem_x509_certificates(data)
        certificate = certificates[0] if certificates else None
    else:
        key, certificate, _ = pkcs12.load_key_and_certificates(data, secret)
    if key is None or certificate is None:
        raise ValueError(f"{path.name} must hold both the private key and its certificate")
    return {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


class ManagedIdentityTokenProvider:
    """Tokens from the Functions host's managed identity (system- or user-assigned)."""

    def __init__(self, client_id: str | None = None) -> None:
        self.client_id = client_id
        self._credential: ManagedIdentityCredential | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ManagedIdentityTokenProvider(client_id={self.client_id!r})"

    def _new_credential(self) -> ManagedIdentityCredential:
        from azure.identity import ManagedIdentityCredential  # lazy: cold start

        if self.client_id:
            return ManagedIdentityCredential(client_id=self.client_id)
        return ManagedIdentityCredential()

    def get_token(self, scope: str, *, force_refresh: bool = False) -> str:
        with self._lock:
            # A new credential has an empty cache: the only way to force a fresh token.
            if self._credential is None or force_refresh:
                self._credential = self._new_credential()
            credential = self._credential
        try:
            token: str = credential.get_token(scope).token
        except Exception as exc:  # noqa: BLE001  (azure-core ClientAuthenticationError and kin)
            which = f"user-assigned {self.client_id}" if self.client_id else "system-assigned"
            raise AuthenticationFailed(
                f"The {which} managed identity could not get a token for {scope}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        return token


# --- one provider per process --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _AuthKey:
    """The settings a token provider depends on; nothing else splits the cache."""

    mode: AuthMode
    tenant_id: str | None
    client_id: str | None
    client_secret: Secret | None
    certificate_path: str | None
    certificate_password: Secret | None
    authority_host: str


_provider_lock = threading.Lock()


@functools.cache
def _provider_for(key: _AuthKey) -> TokenProvider:
    if key.mode is AuthMode.NONE:
        return NoTokenProvider()
    if key.mode is AuthMode.MANAGED_IDENTITY:
        return ManagedIdentityTokenProvider(key.client_id)
    if key.tenant_id is None or key.client_id is None:
        raise ValueError(f"PP_AUTH={key.mode.value} needs a tenant id and a client id")
    return MsalTokenProvider(
        key.tenant_id,
        key.client_id,
        client_secret=key.client_secret if key.mode is AuthMode.CLIENT_SECRET else None,
        certificate_path=key.certificate_path if key.mode is AuthMode.CERTIFICATE else None,
        certificate_password=key.certificate_password,
        authority_host=key.authority_host,
    )


def token_provider_from_settings(settings: Settings) -> TokenProvider:
    """The process-wide provider for these settings, so msal's token cache is shared."""
    key = _AuthKey(
        mode=settings.auth_mode,
        tenant_id=settings.tenant_id,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        certificate_path=settings.client_certificate_path,
        certificate_password=settings.client_certificate_password,
        authority_host=authority_host_for(settings.pp_bap_url),
    )
    # functools.cache may run the factory twice under a race; the lock makes "one" exact.
    with _provider_lock:
        return _provider_for(key)


def clear_token_provider_cache() -> None:
    """For tests: forget every cached provider."""
    with _provider_lock:
        _provider_for.cache_clear()
