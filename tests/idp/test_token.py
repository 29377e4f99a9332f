"""The token endpoint and friends: RFC 6749 §4.1.3 and §5, RFC 7009, RFC 7662, OIDC Core §3.1.3 and §5.3."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from tests.fixtures import issue_access_token, pkce_pair
from tests.oauth_flow import (
    authorize_url,
    basic,
    consent_form_data,
    exchange,
    obtain_code,
    redirect_params,
    verify_id_token,
)


@pytest.fixture
def tokens(logged_in_client, application):
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge, nonce="n-0S6_WzA2Mj")
    response = exchange(logged_in_client, application, code, verifier)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


def test_the_code_exchange_returns_bearer_tokens_of_the_promised_lifetimes(tokens, application):
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "openid profile email"
    assert tokens["refresh_token"]

    from oauth2_provider.models import get_refresh_token_model

    refresh = get_refresh_token_model().objects.get(application=application)
    assert refresh.token == "", "tokens are stored as checksums only (RFC 9700 token storage)"


def test_token_values_carry_256_random_bits_as_base64url(client, tokens, application):
    """RFC 6749 §10.10: guessing a token MUST have a probability of at most 2^-128 (SHOULD: 2^-160).
    Each value is 32 random bytes, base64url without padding (idp.oauth2_server.token_value)."""
    refreshed = client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic(application),
    ).json()

    values = [tokens["access_token"], tokens["refresh_token"], refreshed["access_token"], refreshed["refresh_token"]]
    assert len(set(values)) == 4
    for value in values:
        assert len(base64.urlsafe_b64decode(value + "=")) == 32
        assert len(value) == 43


def test_the_id_token_is_rs256_signed_and_names_the_user_by_their_public_sub(client, tokens, user, application):
    """OIDC Core §2 and §3.1.3.7: iss, aud, sub, nonce; claims by scope (§5.4)."""
    claims = verify_id_token(client, tokens["id_token"])

    assert claims["iss"] == "http://127.0.0.1:8000"
    assert claims["aud"] == application.client_id
    assert claims["sub"] == str(user.sub)
    assert claims["sub"] != str(user.pk)
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["email"] == user.email
    assert claims["email_verified"] is True
    assert claims["name"] == user.get_full_name()
    assert claims["preferred_username"] == user.username
    assert claims["exp"] > claims["iat"]


def test_the_id_token_header_names_the_published_key_and_a_refresh_gives_one_for_the_same_login(
    client, tokens, application
):
    """RFC 7515 §4.1.4 and OIDC Core §10.1: `kid` is the key's in /idp/jwks (RFC 7638 thumbprint);
    OIDC Core §12.2: a refresh's ID token has the same iss, sub, aud and auth_time as the first.
    The signature is ours (PyJWT over a key loaded once), not DOT's jwcrypto path."""
    published = [key["kid"] for key in client.get("/idp/jwks").json()["keys"]]
    header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))

    assert header == {"alg": "RS256", "typ": "JWT", "kid": published[0]}

    refreshed = client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic(application),
    ).json()
    first, again = verify_id_token(client, tokens["id_token"]), verify_id_token(client, refreshed["id_token"])
    assert [again[c] for c in ("iss", "sub", "aud", "auth_time")] == [
        first[c] for c in ("iss", "sub", "aud", "auth_time")
    ]
    assert again["jti"] != first["jti"]


def test_userinfo_carries_claims_by_scope(logged_in_client, client, user, application):
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, scope="openid email", challenge=challenge)
    access = exchange(logged_in_client, application, code, verifier).json()["access_token"]

    claims = client.get("/idp/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").json()

    assert claims == {"sub": str(user.sub), "email": user.email, "email_verified": True}


def test_userinfo_refuses_an_access_token_in_the_query_string(client, tokens):
    """RFC 9700 §4.3.2 / OAuth 2.1 §5.2: access tokens are not accepted in URLs."""
    response = client.get(f"/idp/userinfo?access_token={tokens['access_token']}")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_request"


def test_refresh_rotates_the_refresh_token(client, tokens, application):
    response = client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic(application),
    )

    assert response.status_code == HTTPStatus.OK
    refreshed = response.json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["access_token"] != tokens["access_token"]


def test_a_reused_refresh_token_revokes_its_whole_family(client, tokens, application):
    """RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the active one too."""
    from oauth2_provider.models import get_refresh_token_model

    auth = basic(application)
    first = client.post(
        "/idp/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, HTTP_AUTHORIZATION=auth
    ).json()
    # Reused later than a concurrent retry would be (IDP_REFRESH_RETRY_SECONDS).
    get_refresh_token_model().objects.filter(revoked__isnull=False).update(
        revoked=timezone.now() - timedelta(seconds=60)
    )

    reuse = client.post(
        "/idp/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, HTTP_AUTHORIZATION=auth
    )
    after = client.post(
        "/idp/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, HTTP_AUTHORIZATION=auth
    )

    assert reuse.status_code == HTTPStatus.BAD_REQUEST
    assert reuse.json()["error"] == "invalid_grant"
    assert after.status_code == HTTPStatus.BAD_REQUEST
    assert after.json()["error"] == "invalid_grant"


def test_a_refresh_token_of_another_client_is_refused(client, tokens):
    from tests.factories import ApplicationFactory

    other = ApplicationFactory()

    response = client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic(other),
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


def test_revocation_ends_the_access_token(client, tokens, application):
    """RFC 7009 §2.2: the token is invalid at once; the answer is 200 either way."""
    response = client.post("/idp/revoke", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=basic(application))

    assert response.status_code == HTTPStatus.OK
    userinfo = client.get("/idp/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert userinfo.status_code == HTTPStatus.UNAUTHORIZED


def test_the_client_secret_is_hashed_at_rest_with_the_cheap_secret_hasher(application):
    from idp.models import Application

    stored = Application.objects.get(pk=application.pk).client_secret

    assert stored.startswith("client_secret_sha256$")
    assert application.client_secret_plain not in stored


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "nope", "redirect_uri": "https://client.example.com/callback"},
         "invalid_grant"),
        ({"grant_type": "password", "username": "a@example.com", "password": "x"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, "invalid_grant"),
        ({"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x"}, "unsupported_grant_type"),
    ],
)  # fmt: skip
def test_malformed_token_requests_get_rfc6749_json_errors(client, application, data, error):
    """RFC 6749 §5.2: a JSON error object, never a 500."""
    response = client.post("/idp/token", data, HTTP_AUTHORIZATION=basic(application))

    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED)
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == error
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("how", ["wrong secret", "no authentication", "stored hash as secret"])
def test_client_authentication_failures_get_invalid_client(client, application, how):
    from idp.models import Application

    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://client.example.com/callback"}
    headers = {}
    if how == "wrong secret":
        headers["HTTP_AUTHORIZATION"] = basic(application, secret="not-the-secret")
    elif how == "stored hash as secret":
        headers["HTTP_AUTHORIZATION"] = basic(application, Application.objects.get(pk=application.pk).client_secret)
    else:
        data["client_id"] = application.client_id

    response = client.post("/idp/token", data, **headers)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_client"


def test_a_code_is_bound_to_its_pkce_verifier(logged_in_client, application):
    """RFC 7636 §4.6: a wrong code_verifier is invalid_grant."""
    _, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)
    wrong_verifier, _ = pkce_pair()

    response = exchange(logged_in_client, application, code, wrong_verifier)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


def test_the_token_endpoint_accepts_client_secret_post(logged_in_client, application):
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)

    response = logged_in_client.post(
        "/idp/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": application.redirect_uri_list()[0],
            "code_verifier": verifier,
            "client_id": application.client_id,
            "client_secret": application.client_secret_plain,
        },
    )

    assert response.status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({}, HTTPStatus.BAD_REQUEST, "invalid_request"),
        ({"token": ""}, HTTPStatus.BAD_REQUEST, "invalid_request"),
    ],
)
def test_malformed_revocation_requests_get_json_errors(client, application, data, status, error):
    response = client.post("/idp/revoke", data, HTTP_AUTHORIZATION=basic(application))

    assert response.status_code == status
    assert response.json()["error"] == error


def test_revoking_an_unknown_token_answers_200(client, application):
    """RFC 7009 §2.2: invalid tokens do not cause an error response."""
    response = client.post("/idp/revoke", {"token": "not-a-token"}, HTTP_AUTHORIZATION=basic(application))

    assert response.status_code == HTTPStatus.OK


class TestIntrospection:
    """RFC 7662."""

    def test_without_client_authentication_it_answers_a_json_invalid_client(self, client, db):
        response = client.post("/idp/introspect", {"token": "x"})

        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["error"] == "invalid_client"

    def test_with_a_wrong_secret_it_answers_a_json_invalid_client(self, client, application):
        response = client.post("/idp/introspect", {"token": "x"}, HTTP_AUTHORIZATION=basic(application, "wrong"))

        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["error"] == "invalid_client"

    def test_a_client_sees_its_own_active_token(self, client, user, application):
        raw, _ = issue_access_token(user=user, application=application, scope="tasks:read")

        data = client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application)).json()

        assert data["active"] is True
        assert data["scope"] == "tasks:read"
        assert data["client_id"] == application.client_id

    def test_another_clients_token_is_reported_inactive(self, client, user, application):
        from tests.factories import ApplicationFactory

        raw, _ = issue_access_token(user=user, application=ApplicationFactory(), scope="tasks:read")

        data = client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application)).json()

        assert data == {"active": False}

    def test_an_expired_token_is_inactive(self, client, user, application):
        raw, token = issue_access_token(user=user, application=application, scope="tasks:read")
        token.expires = timezone.now() - timedelta(seconds=1)
        token.save()

        data = client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application)).json()

        assert data == {"active": False}

    def test_a_missing_token_parameter_is_invalid_request(self, client, application):
        response = client.post("/idp/introspect", {}, HTTP_AUTHORIZATION=basic(application))

        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert response.json()["error"] == "invalid_request"

    def test_get_with_the_token_in_the_url_is_not_allowed(self, client, application):
        """RFC 7662 §2.1: the protected resource calls the endpoint with POST."""
        response = client.get("/idp/introspect?token=x", HTTP_AUTHORIZATION=basic(application))

        assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.parametrize("length", [42, 129])
def test_a_code_verifier_outside_43_to_128_characters_is_refused(logged_in_client, application, length):
    """RFC 7636 §4.1: code-verifier = 43*128unreserved."""
    import hashlib

    verifier = "a" * length
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = obtain_code(logged_in_client, application, challenge=challenge)

    response = exchange(logged_in_client, application, code, verifier)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


def test_a_code_verifier_for_a_code_issued_without_a_challenge_is_refused(logged_in_client, application):
    """OAuth 2.1 §4.1.3: no code_verifier when the authorization request had no code_challenge."""
    application.require_pkce_if_confidential = False
    application.save()
    page = logged_in_client.get(authorize_url(application, code_challenge=None, code_challenge_method=None))
    code = redirect_params(logged_in_client.post("/idp", {**consent_form_data(page), "allow": "Authorize"}))["code"]
    verifier, _ = pkce_pair()

    response = exchange(logged_in_client, application, code, verifier)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


def test_a_replayed_code_is_refused_and_the_tokens_of_its_first_use_are_revoked(logged_in_client, client, application):
    """RFC 6749 §4.1.2: used more than once, the code is denied and its tokens SHOULD be revoked."""
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)
    first = exchange(logged_in_client, application, code, verifier).json()
    rotated = client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        HTTP_AUTHORIZATION=basic(application),
    ).json()

    replay = exchange(logged_in_client, application, code, verifier)

    assert replay.status_code == HTTPStatus.BAD_REQUEST
    assert replay.json()["error"] == "invalid_grant"
    for access in (first["access_token"], rotated["access_token"]):
        assert client.get("/idp/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 401
    refresh = client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]},
        HTTP_AUTHORIZATION=basic(application),
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_a_code_of_another_client_is_refused(logged_in_client, application):
    from tests.factories import ApplicationFactory

    other = ApplicationFactory(redirect_uris=application.redirect_uris)
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)

    response = exchange(logged_in_client, other, code, verifier)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


def test_clear_expired_removes_old_redeemed_code_records(logged_in_client, application):
    from django.core.management import call_command

    from idp.models import RedeemedCode

    verifier, challenge = pkce_pair()
    exchange(logged_in_client, application, obtain_code(logged_in_client, application, challenge=challenge), verifier)
    RedeemedCode.objects.update(redeemed_at=timezone.now() - timedelta(days=2))

    call_command("clear_expired", stdout=None)

    assert not RedeemedCode.objects.exists()


@pytest.mark.parametrize("field", ["code", "redirect_uri", "code_verifier", "client_id", "refresh_token"])
def test_a_nul_character_in_a_token_request_is_a_json_invalid_request(client, application, field):
    """RFC 6749 §5.2: a malformed request is invalid_request, never a 500 (PostgreSQL refuses NUL in queries)."""
    data = {"grant_type": "authorization_code", "code": "c", "redirect_uri": "https://client.example.com/callback"}
    data[field] = "a\x00b"

    response = client.post("/idp/token", data, HTTP_AUTHORIZATION=basic(application))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_request"
