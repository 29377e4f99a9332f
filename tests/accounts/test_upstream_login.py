"""Logging in through an upstream OpenID provider, against a fake upstream on a loopback port.

Every refusal ends on our login page with a sentence, leaves a log record,
and creates or links nothing.
"""

from __future__ import annotations

import html
import logging
import time
from http import HTTPStatus
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.urls import reverse

from accounts.models import ExternalIdentity, User
from tests.factories import UserFactory
from tests.upstream import FORGER_KEY, NEXT, start_login, upstream_login

LOGIN_PAGE = reverse("login") + "?" + urlencode({"next": NEXT})

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def upstream_log(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "accounts.upstream"]


def assert_refused(client, response, caplog, *, sentence: str, reason: str, users_before: int = 0) -> None:
    """The refusal ends on our login page (keeping `next`) with the sentence, is logged, and writes nothing."""
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == LOGIN_PAGE
    page = client.get(response["Location"])
    assert page.status_code == HTTPStatus.OK
    assert sentence in page_text(page)
    assert "_auth_user_id" not in client.session
    assert any(f"refused: {reason} " in record.getMessage() for record in upstream_log(caplog)), caplog.text
    assert User.objects.count() == users_before
    assert ExternalIdentity.objects.count() == 0


# --- Logging in ----------------------------------------------------------------------


def test_first_upstream_login_creates_a_user_and_returns_to_the_pending_authorization(
    client, upstream_settings, fake_upstream
):
    response = upstream_login(client, fake_upstream)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == NEXT
    user = User.objects.get()
    assert client.session["_auth_user_id"] == str(user.pk)
    assert user.email == "ada@upstream.example"
    assert user.email_verified is True
    assert (user.first_name, user.last_name, user.username) == ("Ada", "Lovelace", "ada")
    assert not user.has_usable_password(), "a brokered account must not be taken over by a password reset"
    identity = ExternalIdentity.objects.get()
    assert (identity.user, identity.issuer, identity.subject) == (user, fake_upstream.issuer, "upstream-subject-1")


def test_authentication_request_carries_state_nonce_pkce_s256_and_the_site_url_callback(
    client, settings, upstream_settings, fake_upstream
):
    location = start_login(client)

    parts = urlsplit(location)
    params = dict(parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake_upstream.issuer}/authorize"
    assert params["response_type"] == "code"
    assert params["client_id"] == fake_upstream.client_id
    assert params["scope"] == "openid email profile"
    assert params["redirect_uri"] == settings.SITE_URL + "/accounts/upstream/callback/"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32
    assert len(params["nonce"]) >= 32


def test_token_request_sends_the_pkce_verifier_and_authenticates_with_http_basic(
    client, upstream_settings, fake_upstream
):
    upstream_login(client, fake_upstream)

    [(_, _, headers, body)] = [request for request in fake_upstream.requests if request[1] == "/token"]
    form = dict(parse_qsl(body))
    assert headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in form
    assert len(form["code_verifier"]) >= 43  # the fake upstream checked it against the challenge
    assert form["redirect_uri"].endswith("/accounts/upstream/callback/")


def test_token_request_can_authenticate_with_client_secret_post(client, upstream_settings, fake_upstream):
    upstream_settings.OIDC_TOKEN_USE_BASIC_AUTH = False

    response = upstream_login(client, fake_upstream)

    assert response["Location"] == NEXT
    [(_, _, headers, body)] = [request for request in fake_upstream.requests if request[1] == "/token"]
    assert "Authorization" not in headers
    assert dict(parse_qsl(body))["client_secret"] == fake_upstream.client_secret


def test_second_login_reuses_the_linked_user_found_by_issuer_and_subject_even_with_a_new_email(
    client, upstream_settings, fake_upstream
):
    upstream_login(client, fake_upstream)
    user = User.objects.get()
    client.logout()
    fake_upstream.claims["email"] = "ada.lovelace@elsewhere.example"

    response = upstream_login(client, fake_upstream)

    assert response["Location"] == NEXT
    assert client.session["_auth_user_id"] == str(user.pk)
    assert User.objects.count() == 1
    assert ExternalIdentity.objects.count() == 1
    assert ExternalIdentity.objects.get().last_login is not None


def test_same_email_from_another_subject_is_not_logged_in_as_the_linked_user(
    client, upstream_settings, fake_upstream, caplog
):
    upstream_login(client, fake_upstream)
    client.logout()
    fake_upstream.claims["sub"] = "someone-else"

    response = upstream_login(client, fake_upstream)

    assert response["Location"] == LOGIN_PAGE
    assert "_auth_user_id" not in client.session
    assert ExternalIdentity.objects.count() == 1
    assert any("refused: email_taken" in record.getMessage() for record in upstream_log(caplog))


def test_first_login_links_to_the_local_user_with_the_same_verified_email_when_enabled(
    client, upstream_settings, fake_upstream
):
    upstream_settings.UPSTREAM_OIDC_LINK_BY_VERIFIED_EMAIL = True
    local = UserFactory(email="Ada@Upstream.example", email_verified=True)

    response = upstream_login(client, fake_upstream)

    assert response["Location"] == NEXT
    assert client.session["_auth_user_id"] == str(local.pk)
    assert User.objects.count() == 1
    assert ExternalIdentity.objects.get().user == local
    local.refresh_from_db()
    assert local.has_usable_password(), "linking leaves the local password as it was"


def test_first_login_with_a_local_users_email_is_refused_when_linking_is_off(
    client, upstream_settings, fake_upstream, caplog
):
    UserFactory(email="ada@upstream.example", password=None)

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client,
        response,
        caplog,
        sentence="An account with the address ada@upstream.example already exists here, and your Acme ID login "
        "is not linked to it.",
        reason="email_taken",
        users_before=1,
    )


@pytest.mark.parametrize("email_verified", [False, "false", None])
def test_unverified_upstream_email_is_never_linked_to_a_local_user(
    client, upstream_settings, fake_upstream, caplog, email_verified
):
    upstream_settings.UPSTREAM_OIDC_LINK_BY_VERIFIED_EMAIL = True
    UserFactory(email="ada@upstream.example", email_verified=True, password=None)
    fake_upstream.claims["email_verified"] = email_verified
    if email_verified is None:
        del fake_upstream.claims["email_verified"]

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client,
        response,
        caplog,
        sentence="Acme ID has not confirmed that ada@upstream.example is yours",
        reason="email_unverified",
        users_before=1,
    )


def test_verified_upstream_email_is_not_linked_to_a_local_account_that_never_verified_it(
    client, upstream_settings, fake_upstream, caplog
):
    upstream_settings.UPSTREAM_OIDC_LINK_BY_VERIFIED_EMAIL = True
    UserFactory(email="ada@upstream.example", email_verified=False, password=None)

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client,
        response,
        caplog,
        sentence="The account here with the address ada@upstream.example has not confirmed it",
        reason="local_email_unverified",
        users_before=1,
    )


def test_first_login_is_refused_when_creating_users_is_off(client, upstream_settings, fake_upstream, caplog):
    upstream_settings.UPSTREAM_OIDC_CREATE_USERS = False

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client,
        response,
        caplog,
        sentence="There is no account here for your Acme ID login, and new accounts are not created automatically.",
        reason="create_disabled",
    )


def test_login_without_an_email_claim_is_refused(client, upstream_settings, fake_upstream, caplog):
    del fake_upstream.claims["email"]

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client,
        response,
        caplog,
        sentence="Acme ID did not share a usable email address, which an account here needs.",
        reason="email_missing",
    )


def test_disabled_local_user_cannot_log_in_through_the_upstream(client, upstream_settings, fake_upstream, caplog):
    upstream_login(client, fake_upstream)
    client.logout()
    User.objects.update(is_active=False)

    response = upstream_login(client, fake_upstream)

    assert response["Location"] == LOGIN_PAGE
    assert "_auth_user_id" not in client.session
    assert "This account is disabled." in page_text(client.get(LOGIN_PAGE))
    assert any("refused: inactive" in record.getMessage() for record in upstream_log(caplog))


# --- Refusals of the authorization response --------------------------------------------


def test_callback_with_a_state_this_browser_did_not_start_is_refused(client, upstream_settings, fake_upstream, caplog):
    response = upstream_login(client, fake_upstream, state="forged-state")

    assert_refused(
        client,
        response,
        caplog,
        sentence="That sign-in with Acme ID does not match this browser",
        reason="state_mismatch",
    )


def test_callback_in_another_browser_than_the_one_that_started_is_refused(
    client, django_user_model, upstream_settings, fake_upstream, caplog
):
    from django.test import Client

    query = fake_upstream.authorize(start_login(client))
    other_browser = Client()

    response = other_browser.get(reverse("upstream_callback"), query)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("login")
    assert "does not match this browser" in page_text(other_browser.get(response["Location"]))
    assert any("refused: state_mismatch" in record.getMessage() for record in upstream_log(caplog))
    assert django_user_model.objects.count() == 0
    assert ExternalIdentity.objects.count() == 0


def test_a_replayed_callback_is_refused_without_using_the_code_again(client, upstream_settings, fake_upstream, caplog):
    query = fake_upstream.authorize(start_login(client))
    assert client.get(reverse("upstream_callback"), query)["Location"] == NEXT

    response = client.get(reverse("upstream_callback"), query)

    assert response["Location"] == LOGIN_PAGE
    assert any("refused: state_mismatch" in record.getMessage() for record in upstream_log(caplog))
    assert fake_upstream.hits("/token") == 1
    assert ExternalIdentity.objects.count() == 1


@pytest.mark.parametrize(
    ("error", "sentence", "logged"),
    [
        (
            "access_denied",
            "The sign-in at Acme ID was cancelled or refused, so you are not logged in.",
            "access_denied",
        ),
        ("temporarily_unavailable", "Acme ID could not sign you in (it answered “temporarily_unavailable”).", ""),
        ("<script>", "Acme ID could not sign you in (it answered “unknown error”).", "unknown error"),
    ],
)
def test_an_error_from_the_upstream_is_reported_without_its_description(
    client, upstream_settings, fake_upstream, caplog, error, sentence, logged
):
    response = upstream_login(client, fake_upstream, code=None, error=error, error_description="Call 555-0100 now")

    reason = "upstream_denied" if error == "access_denied" else "upstream_error"
    assert_refused(client, response, caplog, sentence=sentence, reason=reason)
    assert "555-0100" not in caplog.text
    assert logged in caplog.text


def test_callback_without_a_code_is_refused(client, upstream_settings, fake_upstream, caplog):
    response = upstream_login(client, fake_upstream, code=None)

    assert_refused(
        client, response, caplog, sentence="Acme ID sent you back without a sign-in result.", reason="missing_code"
    )


@pytest.mark.parametrize("iss", ["https://attacker.example", None])
def test_authorization_response_from_another_issuer_is_refused(client, upstream_settings, fake_upstream, caplog, iss):
    """RFC 9207 §2.4: `iss` must be the upstream's, and present when its discovery promises it."""
    response = upstream_login(client, fake_upstream, iss=iss)

    assert_refused(
        client, response, caplog, sentence="The sign-in response did not come from Acme ID", reason="wrong_issuer"
    )
    assert fake_upstream.hits("/token") == 0, "the code must not be used"


def test_authorization_response_without_iss_is_accepted_when_the_upstream_does_not_promise_it(
    client, upstream_settings, fake_upstream
):
    fake_upstream.discovery_overrides["authorization_response_iss_parameter_supported"] = None

    response = upstream_login(client, fake_upstream, iss=None)

    assert response["Location"] == NEXT


# --- Refusals of the ID token --------------------------------------------------------------


def test_id_token_signed_with_another_key_is_refused(client, upstream_settings, fake_upstream, caplog):
    fake_upstream.sign_with = FORGER_KEY

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client,
        response,
        caplog,
        sentence="The sign-in response from Acme ID failed its signature check",
        reason="bad_signature",
    )


def test_id_token_signed_with_an_unknown_key_id_is_refused(client, upstream_settings, fake_upstream, caplog):
    fake_upstream.sign_with = FORGER_KEY
    fake_upstream.id_token_header = {"kid": "forger-key"}

    response = upstream_login(client, fake_upstream)

    assert_refused(client, response, caplog, sentence="failed its signature check", reason="bad_signature")


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_id_token_not_signed_with_rs256_is_refused(client, upstream_settings, fake_upstream, caplog, algorithm):
    """mozilla-django-oidc's default is HS256 keyed with the client secret, which the upstream also knows."""
    fake_upstream.id_token_header = {"alg": algorithm}

    response = upstream_login(client, fake_upstream)

    assert_refused(client, response, caplog, sentence="failed its signature check", reason="bad_signature")


def test_id_token_from_another_issuer_is_refused(client, upstream_settings, fake_upstream, caplog):
    fake_upstream.id_token_overrides = {"iss": "https://attacker.example"}

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client, response, caplog, sentence="The sign-in response did not come from Acme ID", reason="wrong_issuer"
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "another-client"},
        {"aud": ["another-client", "taskgate-broker"], "azp": "another-client"},
        {"aud": ["another-client", "taskgate-broker"]},
        {"azp": "another-client"},
    ],
    ids=["other-audience", "our-audience-but-other-azp", "several-audiences-without-azp", "other-azp"],
)
def test_id_token_meant_for_another_client_is_refused(client, upstream_settings, fake_upstream, caplog, overrides):
    fake_upstream.id_token_overrides = overrides

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client,
        response,
        caplog,
        sentence="The sign-in response from Acme ID was meant for another site",
        reason="wrong_audience",
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900},
        {"iat": int(time.time()) + 600, "exp": int(time.time()) + 900},
    ],
    ids=["expired", "issued-in-the-future"],
)
def test_id_token_outside_its_validity_is_refused(client, upstream_settings, fake_upstream, caplog, overrides):
    fake_upstream.id_token_overrides = overrides

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client,
        response,
        caplog,
        sentence="The sign-in response from Acme ID has expired or is not valid yet",
        reason="expired",
    )


@pytest.mark.parametrize("nonce", ["another-login's-nonce", None])
def test_id_token_with_another_nonce_is_refused(client, upstream_settings, fake_upstream, caplog, nonce):
    fake_upstream.id_token_overrides = {"nonce": nonce}

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client,
        response,
        caplog,
        sentence="The sign-in response from Acme ID does not belong to this sign-in attempt",
        reason="nonce_mismatch",
    )


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
def test_id_token_without_a_required_claim_is_refused(client, upstream_settings, fake_upstream, caplog, claim):
    fake_upstream.id_token_overrides = {claim: None}

    response = upstream_login(client, fake_upstream)

    assert_refused(client, response, caplog, sentence="could not be understood", reason="invalid_response")


def test_userinfo_about_another_subject_is_refused(client, upstream_settings, fake_upstream, caplog):
    """OpenID Connect Core §5.3.4."""
    fake_upstream.userinfo_overrides = {"sub": "someone-else", "email": "victim@example.com"}

    response = upstream_login(client, fake_upstream)

    assert_refused(client, response, caplog, sentence="could not be understood", reason="invalid_response")


def test_code_refused_by_the_upstream_token_endpoint_is_reported(client, upstream_settings, fake_upstream, caplog):
    fake_upstream.token_status = HTTPStatus.BAD_REQUEST
    fake_upstream.token_body = {"error": "invalid_grant", "error_description": "secret-looking detail"}

    response = upstream_login(client, fake_upstream)

    assert_refused(
        client, response, caplog, sentence="Acme ID refused to complete the sign-in.", reason="token_refused"
    )
    assert "error=invalid_grant" in caplog.text
    assert "secret-looking detail" not in caplog.text


def test_token_response_without_an_id_token_is_refused(client, upstream_settings, fake_upstream, caplog):
    fake_upstream.token_body = {"access_token": "abc", "token_type": "Bearer"}

    response = upstream_login(client, fake_upstream)

    assert_refused(client, response, caplog, sentence="could not be understood", reason="invalid_response")


def test_upstream_that_stops_answering_mid_login_is_reported(client, upstream_settings, fake_upstream, caplog):
    query = fake_upstream.authorize(start_login(client))
    fake_upstream.stop()

    response = client.get(reverse("upstream_callback"), query)

    assert_refused(
        client,
        response,
        caplog,
        sentence="Acme ID could not be reached to complete the sign-in.",
        reason="upstream_unreachable",
    )


# --- Discovery ------------------------------------------------------------------------------


def test_discovery_document_is_read_once_and_cached(client, upstream_settings, fake_upstream):
    upstream_login(client, fake_upstream)
    client.logout()
    upstream_login(client, fake_upstream)

    assert fake_upstream.hits("/.well-known/openid-configuration") == 1


@pytest.mark.parametrize(
    ("status", "overrides", "cause"),
    [
        (HTTPStatus.INTERNAL_SERVER_ERROR, {}, "answered HTTP 500"),
        (HTTPStatus.OK, {"issuer": "https://attacker.example"}, "names the issuer 'https://attacker.example'"),
        (HTTPStatus.OK, {"jwks_uri": None}, "jwks_uri is missing"),
        (
            HTTPStatus.OK,
            {"token_endpoint": "http://upstream.example/token"},
            "token_endpoint is missing or not an https",
        ),
        (HTTPStatus.OK, {"id_token_signing_alg_values_supported": ["HS256"]}, "does not offer RS256"),
        (HTTPStatus.OK, {"token_endpoint_auth_methods_supported": ["private_key_jwt"]}, "does not accept"),
    ],
)
def test_unusable_discovery_document_is_reported_on_the_login_page_and_logged_as_an_error(
    client, upstream_settings, fake_upstream, caplog, status, overrides, cause
):
    fake_upstream.discovery_status = status
    fake_upstream.discovery_overrides = overrides

    response = client.get(reverse("upstream_login"), {"next": NEXT})

    assert_refused(
        client,
        response,
        caplog,
        sentence="Signing in with Acme ID is not available right now: its configuration could not be read.",
        reason="discovery_failed",
    )
    [record] = upstream_log(caplog)
    assert record.levelno == logging.ERROR
    assert cause in record.getMessage()
    assert fake_upstream.hits("/authorize") == 0


def test_unreachable_discovery_document_is_not_cached(client, upstream_settings, fake_upstream, caplog):
    fake_upstream.discovery_status = HTTPStatus.SERVICE_UNAVAILABLE
    client.get(reverse("upstream_login"), {"next": NEXT})
    fake_upstream.discovery_status = HTTPStatus.OK

    response = upstream_login(client, fake_upstream)

    assert response["Location"] == NEXT


def test_deploy_check_reports_an_unreadable_discovery_document(upstream_settings, fake_upstream):
    from accounts.checks import upstream_discovery_check

    assert upstream_discovery_check(None) == []
    fake_upstream.stop()

    [error] = upstream_discovery_check(None)

    assert error.id == "accounts.E001"
    assert fake_upstream.issuer + "/.well-known/openid-configuration: cannot be fetched" in error.msg


def test_deploy_check_is_silent_without_an_upstream(settings):
    from accounts.checks import upstream_discovery_check

    settings.UPSTREAM_OIDC_ISSUER = ""

    assert upstream_discovery_check(None) == []


# --- What is logged, what is kept -------------------------------------------------------------


def test_logs_never_contain_codes_tokens_or_the_client_secret(client, upstream_settings, fake_upstream, caplog):
    caplog.set_level(logging.DEBUG)
    upstream_login(client, fake_upstream)
    client.logout()
    fake_upstream.id_token_overrides = {"aud": "another-client"}
    upstream_login(client, fake_upstream)
    fake_upstream.token_status = HTTPStatus.BAD_REQUEST
    upstream_login(client, fake_upstream)

    assert len(fake_upstream.issued) >= 5
    for value in [*fake_upstream.issued, fake_upstream.client_secret]:
        assert value not in caplog.text


def test_upstream_tokens_are_not_kept_in_the_session(client, upstream_settings, fake_upstream):
    upstream_login(client, fake_upstream)

    stored = str(dict(client.session.items()))
    for value in fake_upstream.issued:
        assert value not in stored


# --- Without configuration -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["upstream_login", "upstream_callback"])
def test_upstream_urls_do_not_exist_without_configuration(client, name):
    response = client.get(reverse(name), {"code": "x", "state": "y"})

    assert response.status_code == HTTPStatus.NOT_FOUND
