"""Logging in through an upstream OpenID provider, with mozilla-django-oidc as the relying party.

Taskgate brokers the identity: the upstream's tokens are checked, used once to
learn who the person is, then dropped. They are never stored and never passed
on; the clients of our provider only ever see our own tokens.

mozilla-django-oidc's defaults are not safe for this (HS256, users matched by
email, no `aud` or `iss` check, no PKCE, no discovery). Settings turn on RS256,
PKCE and nonce (config/settings.py); this module adds what no setting can:

- the endpoints come from the issuer's discovery document (OpenID Connect
  Discovery 1.0 §4), cached, and checked to name the configured issuer;
- ID tokens are RS256 only, and `iss`, `aud`, `azp`, `exp` and `iat` are
  checked (OpenID Connect Core §3.1.3.7);
- userinfo must be about the same `sub` as the ID token (Core §5.3.4);
- accounts are linked by (issuer, subject), never by email alone
  (accounts.services.external_identity_login).

Every refusal is an UpstreamLoginError: a reason for the log and a sentence
for the person, neither ever containing a token, code or secret.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts.services import external_identity_login
from accounts.upstream_errors import ERROR_CODE, UpstreamLoginError
from idp.validators import is_loopback_host

logger = logging.getLogger(__name__)

# Seconds of clock difference tolerated between us and the upstream for `exp` and `iat`.
CLOCK_LEEWAY = 60


def upstream_enabled() -> bool:
    return bool(settings.UPSTREAM_OIDC_ISSUER)


def upstream_callback_url() -> str:
    """The redirect URI to register at the upstream.

    Built from SITE_URL rather than the request's Host header, so that it is
    the same behind a proxy and cannot be steered by a forged header.
    """
    return settings.SITE_URL + reverse("upstream_callback")


# --- Discovery -------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamProvider:
    """What we use of the upstream's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    # RFC 9207 §3: when true, every authorization response must carry `iss`.
    iss_parameter_required: bool


def discovery_url(issuer: str) -> str:
    """OpenID Connect Discovery 1.0 §4: the issuer, without a trailing slash, and the well-known path."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def upstream_provider(*, refresh: bool = False) -> UpstreamProvider:
    """The upstream's endpoints, from its discovery document, read at the first need and cached.

    Raises UpstreamLoginError("discovery_failed") with the cause in `detail`
    when the document cannot be read or does not fit; a failure is not cached,
    so the next login tries again.
    """
    issuer = settings.UPSTREAM_OIDC_ISSUER
    key = "accounts.upstream:" + hashlib.sha256(issuer.encode()).hexdigest()
    cached = None if refresh else cache.get(key)
    if cached is not None:
        return UpstreamProvider(**cached)
    provider = _read_discovery_document(issuer)
    cache.set(key, asdict(provider), timeout=settings.UPSTREAM_OIDC_DISCOVERY_CACHE_SECONDS)
    return provider


def _read_discovery_document(issuer: str) -> UpstreamProvider:
    url = discovery_url(issuer)

    def failed(cause: str) -> UpstreamLoginError:
        return UpstreamLoginError("discovery_failed", detail=f"{url}: {cause}")

    try:
        response = requests.get(
            url, timeout=settings.OIDC_TIMEOUT, headers={"Accept": "application/json"}, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise failed(f"cannot be fetched ({type(exc).__name__})") from None
    # A redirect is a failure too: the document's URL is fixed by the issuer.
    if response.status_code != HTTPStatus.OK:
        raise failed(f"answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        raise failed("is not JSON") from None
    if not isinstance(document, dict):
        raise failed("is not a JSON object")
    # OpenID Connect Discovery 1.0 §4.3: the issuer inside must be exactly the one we asked.
    if document.get("issuer") != issuer:
        raise failed(
            f"names the issuer {document.get('issuer')!r}, not {issuer!r}; set UPSTREAM_OIDC_ISSUER to "
            f"exactly the issuer the document names"
        )
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        value = document.get(name)
        if value is None and name == "userinfo_endpoint":
            endpoints[name] = None
            continue
        if not _is_acceptable_endpoint(value):
            raise failed(f"{name} is missing or not an https URL")
        endpoints[name] = value
    algorithms = document.get("id_token_signing_alg_values_supported")
    if isinstance(algorithms, list) and "RS256" not in algorithms:
        raise failed(f"does not offer RS256 ID tokens (only {algorithms!r})")
    auth_methods = document.get("token_endpoint_auth_methods_supported")
    wanted = "client_secret_basic" if settings.OIDC_TOKEN_USE_BASIC_AUTH else "client_secret_post"
    if isinstance(auth_methods, list) and wanted not in auth_methods:
        raise failed(f"does not accept {wanted} at its token endpoint; set UPSTREAM_OIDC_TOKEN_AUTH_METHOD")
    return UpstreamProvider(
        issuer=issuer,
        iss_parameter_required=document.get("authorization_response_iss_parameter_supported") is True,
        **endpoints,
    )


def _is_acceptable_endpoint(value: Any) -> bool:
    """https, or http on a loopback host (a test upstream), as for UPSTREAM_OIDC_ISSUER."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


# --- The relying party --------------------------------------------------------------


class UpstreamOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, made safe for brokering identity (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        # The parent reads the endpoints from settings here; ours come from the
        # discovery document, read in authenticate() when a login needs them.
        # Django also makes a backend on every request that loads a logged-in
        # user, which must cost no network call. What the parent's would set is
        # pinned by tests/accounts/test_upstream_library.py.
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        # Only the upstream callback authenticates with a nonce. Password logins
        # pass by untouched (ModelBackend handles them) and cost no network call.
        if request is None or "nonce" not in kwargs:
            return None
        self.provider = upstream_provider()
        self.OIDC_OP_TOKEN_ENDPOINT = self.provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = self.provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = self.provider.jwks_uri
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None
        try:
            return super().authenticate(request, **kwargs)
        except UpstreamLoginError:
            raise
        except (SuspiciousOperation, jwt.PyJWTError, KeyError, ValueError) as exc:
            # Exception messages may quote a token: log the type only.
            raise UpstreamLoginError("invalid_response", detail=type(exc).__name__) from None
        except requests.RequestException as exc:
            raise UpstreamLoginError("upstream_unreachable", detail=type(exc).__name__) from None

    def get_token(self, payload):
        """RFC 6749 §4.1.3: the code for tokens, with the PKCE verifier and our client authentication."""
        payload["redirect_uri"] = upstream_callback_url()
        try:
            token_info = super().get_token(payload)
        except requests.HTTPError as exc:
            # The parent puts the response body in the message: log the status and OAuth error code only.
            response = exc.response
            raise UpstreamLoginError(
                "token_refused", detail=f"token endpoint answered HTTP {response.status_code} {_oauth_error(response)}"
            ) from None
        except ValueError:  # requests' JSONDecodeError is a RequestException too: catch it first
            raise UpstreamLoginError("invalid_response", detail="token response is not JSON") from None
        except requests.RequestException as exc:
            raise UpstreamLoginError("upstream_unreachable", detail=f"token endpoint: {type(exc).__name__}") from None
        if not isinstance(token_info, dict) or not isinstance(token_info.get("id_token"), str):
            raise UpstreamLoginError("invalid_response", detail="token response has no id_token")
        return token_info

    def retrieve_matching_jwk(self, token):
        try:
            return super().retrieve_matching_jwk(token)
        except jwt.DecodeError:
            raise UpstreamLoginError("invalid_response", detail="ID token is not a JWT") from None
        except ValueError:  # before RequestException, for requests' JSONDecodeError
            raise UpstreamLoginError("invalid_response", detail="JWKS is not JSON") from None
        except requests.RequestException as exc:
            raise UpstreamLoginError("upstream_unreachable", detail=f"JWKS: {type(exc).__name__}") from None
        except (SuspiciousOperation, KeyError, jwt.PyJWKError):
            # No key of the upstream's JWKS has the token's `kid` and `alg`.
            raise UpstreamLoginError("bad_signature", detail="no matching key in the upstream's JWKS") from None

    def get_payload_data(self, token, key):
        """OpenID Connect Core §3.1.3.7: validate the ID token, and return its claims.

        Replaces the parent's check (its private _verify_jws, and unsigned
        tokens when OIDC_ALLOW_UNSECURED_JWT is set), which accepts any
        audience and issuer:
        RS256 only, signed by the upstream's key, `iss` exactly the configured
        issuer, our client among `aud` (and in `azp` when there are several),
        `exp` and `iat` present and current.
        """
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.DecodeError:
            raise UpstreamLoginError("invalid_response", detail="ID token is not a JWT") from None
        if algorithm != "RS256":
            raise UpstreamLoginError("bad_signature", detail=f"ID token alg is {algorithm!r}, not RS256")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=self.provider.issuer,
                leeway=CLOCK_LEEWAY,
                options={"require": ["iss", "aud", "sub", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise UpstreamLoginError("expired", detail="ID token exp has passed") from None
        except jwt.ImmatureSignatureError:
            raise UpstreamLoginError("expired", detail="ID token iat or nbf is in the future") from None
        except jwt.InvalidIssuerError:
            raise UpstreamLoginError("wrong_issuer", detail="ID token iss is not the configured issuer") from None
        except jwt.InvalidAudienceError:
            raise UpstreamLoginError("wrong_audience", detail="ID token aud does not name our client") from None
        except jwt.MissingRequiredClaimError as exc:
            raise UpstreamLoginError("invalid_response", detail=f"ID token has no {exc.claim}") from None
        except jwt.InvalidSignatureError:
            raise UpstreamLoginError("bad_signature", detail="ID token signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise UpstreamLoginError("invalid_response", detail=f"ID token: {type(exc).__name__}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise UpstreamLoginError("wrong_audience", detail="ID token azp does not name our client")
        if not isinstance(claims["sub"], str) or not claims["sub"] or len(claims["sub"]) > 255:
            raise UpstreamLoginError("invalid_response", detail="ID token sub is not a 1-255 character string")
        return claims

    def verify_token(self, token, **kwargs):
        try:
            return super().verify_token(token, **kwargs)
        except SuspiciousOperation:
            # The signature and claims were checked above (their failures are
            # UpstreamLoginErrors); what the parent still refuses is the nonce.
            raise UpstreamLoginError("nonce_mismatch", detail="ID token nonce is not this login's") from None

    def get_userinfo(self, access_token, id_token, payload):
        """The person's claims: the ID token's, completed by the userinfo endpoint's when there is one."""
        if not self.OIDC_OP_USER_ENDPOINT:
            return dict(payload)
        try:
            userinfo = super().get_userinfo(access_token, id_token, payload)
        except ValueError:  # before RequestException, for requests' JSONDecodeError
            raise UpstreamLoginError("invalid_response", detail="userinfo is not JSON") from None
        except requests.RequestException as exc:
            raise UpstreamLoginError("upstream_unreachable", detail=f"userinfo: {type(exc).__name__}") from None
        # OpenID Connect Core §5.3.4: a userinfo response about someone else must not be used.
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload["sub"]:
            raise UpstreamLoginError("invalid_response", detail="userinfo sub differs from the ID token's")
        # The signed ID token wins where both say something.
        return {**userinfo, **payload}

    def get_or_create_user(self, access_token, id_token, payload):
        """Replaces the parent's matching by email with linking by (issuer, subject)."""
        claims = self.get_userinfo(access_token, id_token, payload)
        return external_identity_login(
            issuer=self.provider.issuer,
            claims=claims,
            create_users=settings.UPSTREAM_OIDC_CREATE_USERS,
            link_by_verified_email=settings.UPSTREAM_OIDC_LINK_BY_VERIFIED_EMAIL,
        )

    def store_tokens(self, access_token, id_token):
        """Upstream tokens are used once, here, and never kept: not even in the session."""


def _oauth_error(response: requests.Response) -> str:
    """RFC 6749 §5.2: the `error` code of a token error response, if it is a plain one."""
    try:
        code = response.json().get("error", "")
    except (ValueError, AttributeError):
        return "(no OAuth error code)"
    return f"error={code}" if isinstance(code, str) and ERROR_CODE.fullmatch(code) else "(no OAuth error code)"


def log_upstream_refusal(error: UpstreamLoginError) -> None:
    """The reason and a detail written here, never a token, code or secret."""
    logger.log(error.log_level, "Upstream login refused: %s (%s)", error.reason, error.detail)


def log_upstream_login(user) -> None:
    logger.info("Upstream login: user %s", user.sub)
