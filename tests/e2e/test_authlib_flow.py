"""The whole authorization code + PKCE flow over real HTTP, with Authlib's OAuth2Session as the client."""

from __future__ import annotations

from http import HTTPStatus

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.people import answer_consent, log_in

pytestmark = pytest.mark.live

REDIRECT_URI = "https://client.example.com/callback"


@pytest.fixture
def authlib_env(monkeypatch):
    # The live server speaks plain http on loopback; Authlib refuses that unless told.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def client_app(live_server):
    from tests.factories import ApplicationFactory

    return ApplicationFactory(redirect_uris=REDIRECT_URI, name="Authlib test client")


def test_authorization_code_with_pkce_through_login_consent_tokens_refresh_and_revocation(
    live_server, client_app, user, password, authlib_env
):
    base = live_server.url
    metadata = requests.get(f"{base}/.well-known/openid-configuration", timeout=10).json()
    assert metadata["issuer"] == base
    client = OAuth2Session(
        client_app.client_id,
        client_app.client_secret_plain,
        scope="openid profile email",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = "v" * 20 + "erifier-" + "x" * 30
    authorization_url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="nonce-123"
    )
    assert create_s256_code_challenge(verifier) in authorization_url

    # The person: the login page, then back to the same authorization request, then consent.
    browser = requests.Session()
    login = log_in(browser, base, user.email, password, next_url=authorization_url.removeprefix(base))
    assert login.status_code == HTTPStatus.FOUND
    assert login.headers["Location"] == authorization_url.removeprefix(base)
    callback = answer_consent(browser, authorization_url)
    assert callback["_status"] == str(HTTPStatus.SEE_OTHER)
    assert callback["state"] == state
    assert callback["iss"] == metadata["issuer"], "RFC 9207: the issuer of the response"

    token = client.fetch_token(
        metadata["token_endpoint"], authorization_response=callback["_location"], code_verifier=verifier
    )
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600

    # The ID token's signature, checked against the published JWKS.
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(exp={"essential": True}, iat={"essential": True}).validate(decoded.claims)
    claims = decoded.claims
    assert claims["iss"] == metadata["issuer"]
    assert claims["aud"] == client_app.client_id
    assert claims["nonce"] == "nonce-123"
    assert claims["sub"] == str(user.sub)
    assert claims["email"] == user.email

    userinfo = client.get(metadata["userinfo_endpoint"], timeout=10)
    assert userinfo.status_code == HTTPStatus.OK
    assert userinfo.json()["sub"] == str(user.sub)
    assert userinfo.json()["preferred_username"] == user.username

    # Refresh rotates the refresh token.
    first_refresh = token["refresh_token"]
    refreshed = client.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    assert refreshed["refresh_token"] != first_refresh
    assert refreshed["access_token"] != token["access_token"]

    # Reusing the rotated one is refused and revokes the whole family (RFC 9700 §4.14.2):
    # later than a concurrent retry would be (IDP_REFRESH_RETRY_SECONDS).
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_refresh_token_model

    get_refresh_token_model().objects.filter(revoked__isnull=False).update(
        revoked=timezone.now() - timedelta(seconds=60)
    )
    reuse = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": first_refresh},
        auth=(client_app.client_id, client_app.client_secret_plain),
        timeout=10,
    )
    assert reuse.status_code == HTTPStatus.BAD_REQUEST
    assert reuse.json()["error"] == "invalid_grant"
    family = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=(client_app.client_id, client_app.client_secret_plain),
        timeout=10,
    )
    assert family.json()["error"] == "invalid_grant"


def test_revocation_ends_an_access_token_at_once(live_server, client_app, user, password, authlib_env):
    base = live_server.url
    client = OAuth2Session(
        client_app.client_id,
        client_app.client_secret_plain,
        scope="openid",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )
    verifier = "w" * 64
    authorization_url, _ = client.create_authorization_url(f"{base}/idp", code_verifier=verifier)
    browser = requests.Session()
    log_in(browser, base, user.email, password)
    callback = answer_consent(browser, authorization_url)
    token = client.fetch_token(
        f"{base}/idp/token", authorization_response=callback["_location"], code_verifier=verifier
    )

    revoked = client.revoke_token(f"{base}/idp/revoke", token=token["access_token"], token_type_hint="access_token")

    assert revoked.status_code == HTTPStatus.OK
    userinfo = requests.get(
        f"{base}/idp/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    )
    assert userinfo.status_code == HTTPStatus.UNAUTHORIZED
