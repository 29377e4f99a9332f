"""The attack suite: what RFC 9700, OAuth 2.1 and the OpenID conformance plans say must be refused.

Only what tests/idp/ and tests/tasks/ do not already prove is here; README.md
beside this file maps every line of the claim list to its test.
"""

from __future__ import annotations

import json
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone

from tests.fixtures import issue_access_token, pkce_pair
from tests.oauth_flow import (
    ISSUER,
    authorize_url,
    basic,
    consent_form_data,
    exchange,
    obtain_code,
    redirect_params,
    verify_id_token,
)

REGISTERED = "https://client.example.com/callback"


@pytest.fixture
def tokens(logged_in_client, application):
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge, nonce="n-42")
    response = exchange(logged_in_client, application, code, verifier)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


def refresh(client, application, refresh_token: str, **extra):
    return client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra},
        HTTP_AUTHORIZATION=basic(application),
    )


# --- Redirect URI ---------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://client.example.com/callback/../evil",
        "https://client.example.com/%2E%2E/evil/callback",
        "https://client.example.com/Callback",
        "https://CLIENT.example.com/callback",
        "https://client.example.com/callback?next=https://attacker.example",
        "https://client.example.com/callback#fragment",
        "https://client.example.com:8443/callback",
        "http://client.example.com/callback",
        "https://client.example.com/callback/",
        "https://evil.client.example.com/callback",
        "https://client.example.com.attacker.example/callback",
        "https://client.example.com@attacker.example/callback",
        "//attacker.example/callback",
        "javascript:alert(1)",
    ],
)
def test_a_redirect_uri_that_is_not_exactly_a_registered_one_shows_an_error_page(
    logged_in_client, application, redirect_uri
):
    """RFC 9700 §2.1 / §4.1.3: "exact string matching"; RFC 6749 §4.1.2.1: "MUST NOT automatically redirect"."""
    response = logged_in_client.get(authorize_url(application, redirect_uri=redirect_uri))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in response
    assert b"has not registered" in response.content


def test_a_challenge_without_a_method_is_plain_and_refused(logged_in_client, application):
    """RFC 7636 §4.3: no method means `plain`; RFC 9700 §2.1.1: use S256."""
    response = logged_in_client.get(authorize_url(application, code_challenge_method=None))

    assert response.status_code == HTTPStatus.FOUND
    assert redirect_params(response)["error"] == "invalid_request"


# --- Authorization code ------------------------------------------------------------


def test_an_expired_code_is_refused(logged_in_client, application):
    """RFC 6749 §4.1.2: "the authorization code MUST expire shortly after it is issued"."""
    from oauth2_provider.models import get_grant_model

    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)
    get_grant_model().objects.update(expires=timezone.now() - timedelta(seconds=1))

    response = exchange(logged_in_client, application, code, verifier)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


def test_a_code_used_with_another_registered_redirect_uri_is_refused(logged_in_client, application):
    """RFC 6749 §4.1.3: redirect_uri must be identical to the one of the authorization request."""
    application.redirect_uris = f"{REGISTERED} https://client.example.com/other"
    application.save()
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)

    response = exchange(logged_in_client, application, code, verifier, redirect_uri="https://client.example.com/other")
    after = exchange(logged_in_client, application, code, verifier)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"
    assert after.status_code == HTTPStatus.OK


def _exchange_without_redirect_uri(client, application, code, verifier=None):
    data = {"grant_type": "authorization_code", "code": code}
    if verifier:
        data["code_verifier"] = verifier
    return client.post("/idp/token", data, HTTP_AUTHORIZATION=basic(application))


def test_a_pkce_code_may_be_exchanged_without_redirect_uri_as_oauth_2_1_clients_do(logged_in_client, application):
    """OAuth 2.1 (draft 15) §10.2: "authorization code injection is prevented by the code_challenge and
    code_verifier parameters, making the inclusion of the redirect_uri parameter serve no purpose in the
    token request. As such, it has been removed." """
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)

    response = _exchange_without_redirect_uri(logged_in_client, application, code, verifier)

    assert response.status_code == HTTPStatus.OK, response.content


def test_a_code_issued_without_pkce_needs_the_redirect_uri_of_its_authorization_request(logged_in_client, application):
    """RFC 6749 §4.1.3: redirect_uri is "REQUIRED, if the "redirect_uri" parameter was included in the
    authorization request"; OAuth 2.1 §10.2: the server "MUST enforce the parameter as described in
    [RFC6749]" for OAuth 2.0 clients, which a code issued without PKCE marks (a GPT Action, say)."""
    application.require_pkce_if_confidential = False
    application.save()
    page = logged_in_client.get(authorize_url(application, code_challenge=None, code_challenge_method=None))
    code = redirect_params(logged_in_client.post("/idp", {**consent_form_data(page), "allow": "Authorize"}))["code"]

    response = _exchange_without_redirect_uri(logged_in_client, application, code)
    after = logged_in_client.post(
        "/idp/token",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REGISTERED},
        HTTP_AUTHORIZATION=basic(application),
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_request"
    assert "redirect_uri" in response.json()["error_description"]
    assert after.status_code == HTTPStatus.OK, "the refusal did not spend the code"


# --- Refresh tokens ---------------------------------------------------------------


def test_scope_cannot_grow_on_refresh(client, tokens, application):
    """RFC 6749 §6: the requested scope "MUST NOT include any scope not originally granted"."""
    response = refresh(client, application, tokens["refresh_token"], scope="openid profile email tasks:write")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_scope"


def test_scope_may_shrink_on_refresh(client, tokens, application):
    """RFC 6749 §6: a narrower scope may be asked for."""
    response = refresh(client, application, tokens["refresh_token"], scope="openid")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["scope"] == "openid"


# --- Tokens -------------------------------------------------------------------------


def _used_everywhere(client, application, raw: str) -> dict[str, int | bool]:
    return {
        "api": client.get("/api/tasks", headers={"Authorization": f"Bearer {raw}"}).status_code,
        "userinfo": client.get("/idp/userinfo", headers={"Authorization": f"Bearer {raw}"}).status_code,
        "introspect": client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application)).json()[
            "active"
        ],
    }


def test_a_revoked_access_token_is_refused_everywhere(client, user, application):
    """RFC 7009 §2.2: after revocation the token is invalid at every resource and at introspection."""
    raw, _ = issue_access_token(user=user, application=application, scope="openid tasks:read")
    assert _used_everywhere(client, application, raw) == {"api": 200, "userinfo": 200, "introspect": True}

    client.post("/idp/revoke", {"token": raw}, HTTP_AUTHORIZATION=basic(application))

    assert _used_everywhere(client, application, raw) == {"api": 401, "userinfo": 401, "introspect": False}


def test_an_expired_access_token_is_refused_everywhere(client, user, application):
    """RFC 6749 §1.4 / RFC 6750 §3.1: an expired token is `invalid_token`."""
    raw, _ = issue_access_token(user=user, application=application, scope="openid tasks:read", expires_in=-1)

    assert _used_everywhere(client, application, raw) == {"api": 401, "userinfo": 401, "introspect": False}


def test_a_revoked_refresh_token_is_refused(client, tokens, application):
    """RFC 7009 §2.1: revoking a refresh token ends it (and its access token may be revoked too)."""
    client.post("/idp/revoke", {"token": tokens["refresh_token"]}, HTTP_AUTHORIZATION=basic(application))

    response = refresh(client, application, tokens["refresh_token"])

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


def test_the_id_token_expires_with_the_configured_lifetime_and_is_bound_to_its_nonce(client, tokens, application):
    """OIDC Core §3.1.3.7: iss, aud, exp, nonce; signature checked against the JWKS (verify_id_token)."""
    claims = verify_id_token(client, tokens["id_token"])

    assert claims["iss"] == ISSUER
    assert claims["aud"] == application.client_id
    assert claims["nonce"] == "n-42"
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - timezone.now().timestamp()) < 60


def test_an_id_token_with_a_changed_payload_fails_its_signature(client, tokens):
    """OIDC Core §3.1.3.7 (6): the client MUST validate the signature; a forged claim must not verify."""
    import base64

    from jwcrypto.common import JWException

    header, payload, signature = tokens["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    with pytest.raises(JWException, match="Missing Key|Verification failed"):
        verify_id_token(client, f"{header}.{forged_payload}.{signature}")


# --- Client authentication --------------------------------------------------------


@pytest.mark.parametrize("method", ["basic", "post"])
@pytest.mark.parametrize("secret", ["wrong", "stored hash", "none"])
def test_client_authentication_is_refused_by_either_method(client, application, method, secret):
    """RFC 6749 §2.3.1 and §5.2: a confidential client that fails to authenticate gets `invalid_client`."""
    from idp.models import Application

    sent = {
        "wrong": "not-the-secret",
        "stored hash": Application.objects.get(pk=application.pk).client_secret,
        "none": "",
    }[secret]
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": REGISTERED}
    headers = {}
    if method == "basic" and sent:
        headers["HTTP_AUTHORIZATION"] = basic(application, sent)
    else:
        data["client_id"] = application.client_id
        if sent:
            data["client_secret"] = sent

    response = client.post("/idp/token", data, **headers)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_client"


# --- Responses ----------------------------------------------------------------------


def test_an_error_redirect_carries_iss_and_the_state(logged_in_client, application):
    """RFC 9207 §2: `iss` in every authorization response, error responses included."""
    response = logged_in_client.get(authorize_url(application, scope="openid no-such-scope"))

    assert response.status_code == HTTPStatus.FOUND
    params = redirect_params(response)
    assert params["error"] == "invalid_scope"
    assert params["iss"] == ISSUER
    assert params["state"] == "xyz-state"


@pytest.mark.parametrize("state", ["a", "x" * 2000, "a b+c/d=e&f?g#h%20i~j", "ünïcødé-☃"])
def test_the_state_is_echoed_exactly_even_long_or_with_reserved_characters(logged_in_client, application, state):
    """RFC 6749 §4.1.2: state is returned "exactly" as the client sent it."""
    page = logged_in_client.get(authorize_url(application, state=state))

    response = logged_in_client.post("/idp", {**consent_form_data(page), "allow": "Authorize"})

    assert response.status_code == HTTPStatus.SEE_OTHER
    assert parse_qs(urlsplit(response["Location"]).query)["state"] == [state]


# --- Pages and headers ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts/login/", "consent"])
def test_login_and_consent_pages_send_no_referrer_and_cannot_be_framed(client, user, application, path):
    """RFC 9700 §4.2.4 (no Referer leaks) and §4.16 (clickjacking: frame-ancestors)."""
    if path == "consent":
        client.force_login(user)
        path = authorize_url(application)

    response = client.get(path)

    assert response.status_code == HTTPStatus.OK
    assert response["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_token_answers_are_not_cached(logged_in_client, application):
    """RFC 6749 §5.1: "Cache-Control: no-store" on every response with tokens."""
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)

    response = exchange(logged_in_client, application, code, verifier)

    assert response.status_code == HTTPStatus.OK
    assert "no-store" in response["Cache-Control"]


def test_logout_does_not_redirect_to_an_unregistered_post_logout_redirect_uri(logged_in_client, tokens, application):
    """OIDC RP-Initiated Logout §3: the URI "MUST have been previously registered"."""
    application.post_logout_redirect_uris = "https://client.example.com/goodbye"
    application.save()
    query = urlencode(
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://attacker.example/goodbye"}
    )

    response = logged_in_client.get(f"/idp/logout?{query}")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "attacker.example" not in response.get("Location", "")


def test_logout_redirects_to_a_registered_post_logout_redirect_uri(logged_in_client, tokens, application):
    application.post_logout_redirect_uris = "https://client.example.com/goodbye"
    application.save()
    query = urlencode(
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://client.example.com/goodbye"}
    )

    response = logged_in_client.get(f"/idp/logout?{query}")

    assert response.status_code in (HTTPStatus.OK, HTTPStatus.FOUND)
    if response.status_code == HTTPStatus.FOUND:
        assert response["Location"].startswith("https://client.example.com/goodbye")


def test_a_refresh_token_presented_again_within_the_retry_window_is_refused_but_the_family_kept(
    client, tokens, application
):
    """RFC 9700 §4.14.2 leaves room for this: a duplicate of one refresh, sent at once, is a client's
    retry, not proof of theft. It is `invalid_grant`; the rotated pair stays valid (IDP_REFRESH_RETRY_SECONDS)."""
    first = refresh(client, application, tokens["refresh_token"]).json()

    retry = refresh(client, application, tokens["refresh_token"])
    after = refresh(client, application, first["refresh_token"])

    assert retry.status_code == HTTPStatus.BAD_REQUEST
    assert retry.json()["error"] == "invalid_grant"
    assert after.status_code == HTTPStatus.OK


def test_with_no_retry_window_any_reuse_revokes_the_family(client, tokens, application, settings):
    """RFC 9700 §4.14.2: "the authorization server ... revokes the active refresh token"."""
    settings.IDP_REFRESH_RETRY_SECONDS = 0
    first = refresh(client, application, tokens["refresh_token"]).json()

    refresh(client, application, tokens["refresh_token"])

    assert refresh(client, application, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_consent_form_posted_with_an_unknown_client_id_shows_an_error_page(logged_in_client, db):
    """RFC 6749 §4.1.2.1: an invalid client_id is reported to the person, never redirected; found by
    tests/security/test_property_fuzz.py (it was a 500)."""
    response = logged_in_client.post(
        "/idp",
        {
            "client_id": "nobody",
            "redirect_uri": "https://attacker.example/callback",
            "scope": "openid",
            "response_type": "code",
            "allow": "Authorize",
        },
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in response
    assert b"Bad request" in response.content or b"bad request" in response.content.lower()
