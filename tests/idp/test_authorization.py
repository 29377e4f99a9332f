"""The authorization endpoint `/idp` and its consent page (RFC 6749 §4.1, RFC 7636, RFC 9207, RFC 9700)."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.oauth_flow import ISSUER, authorize_url, consent_form_data, redirect_params


def test_a_visitor_who_is_not_logged_in_goes_to_login_and_comes_back_to_the_same_request(client, application):
    url = authorize_url(application)

    response = client.get(url)

    assert response.status_code == HTTPStatus.FOUND
    location = urlsplit(response["Location"])
    assert location.path == "/accounts/login/"
    assert parse_qs(location.query)["next"] == [url]


@pytest.mark.django_db
def test_an_unknown_client_id_shows_an_error_page_and_never_redirects(client):
    response = client.get("/idp?response_type=code&client_id=nobody&redirect_uri=https://attacker.example/cb&state=s")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in response
    assert b"not registered with Taskgate" in response.content


@pytest.mark.parametrize("logged_in", [False, True])
def test_an_unregistered_redirect_uri_shows_an_error_page_and_never_redirects(client, user, application, logged_in):
    """RFC 6749 §4.1.2.1: the AS MUST NOT redirect to an invalid redirection URI."""
    if logged_in:
        client.force_login(user)

    response = client.get(authorize_url(application, redirect_uri="https://attacker.example/callback"))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in response
    assert b"has not registered" in response.content


def test_the_consent_page_says_who_asks_for_what_and_where_the_person_goes_back(logged_in_client, application):
    application.logo_url = "https://client.example.com/logo.png"
    application.save()

    response = logged_in_client.get(authorize_url(application, scope="openid email tasks:read"))

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert application.name in page
    assert application.description in page
    assert 'src="https://client.example.com/logo.png"' in page
    assert "client.example.com" in page
    assert "See your email address" in page
    assert "See your tasks" in page
    assert "Confirm who you are" in page


def test_the_consent_page_cannot_be_framed_nor_cached(logged_in_client, application):
    response = logged_in_client.get(authorize_url(application))

    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_consent_form_is_csrf_protected(user, application):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(authorize_url(application))

    response = client.post("/idp", {**consent_form_data(page), "allow": "Authorize"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Location" not in response


def test_allow_answers_303_with_a_code_the_state_and_iss(logged_in_client, application):
    """RFC 9207 §2: `iss` in the authorization response; RFC 9700 §4.12: 303 after the POST."""
    page = logged_in_client.get(authorize_url(application))

    response = logged_in_client.post("/idp", {**consent_form_data(page), "allow": "Authorize"})

    assert response.status_code == HTTPStatus.SEE_OTHER
    assert response["Location"].startswith("https://client.example.com/callback?")
    params = redirect_params(response)
    assert params["code"]
    assert params["state"] == "xyz-state"
    assert params["iss"] == ISSUER


def test_deny_answers_access_denied_with_the_state_and_iss(logged_in_client, application):
    """RFC 6749 §4.1.2.1 access_denied; RFC 9207 §2 requires `iss` in error responses too."""
    page = logged_in_client.get(authorize_url(application))

    response = logged_in_client.post("/idp", {**consent_form_data(page), "deny": "1"})

    assert response.status_code == HTTPStatus.SEE_OTHER
    params = redirect_params(response)
    assert params["error"] == "access_denied"
    assert params["state"] == "xyz-state"
    assert params["iss"] == ISSUER
    assert "code" not in params


def test_pkce_is_required_for_an_app_that_requires_it(logged_in_client, application):
    """OAuth 2.1 §4.1.1: the code_challenge is required unless the app was allowed to skip it."""
    response = logged_in_client.get(authorize_url(application, code_challenge=None, code_challenge_method=None))

    assert response.status_code == HTTPStatus.FOUND
    params = redirect_params(response)
    assert params["error"] == "invalid_request"
    assert params["iss"] == ISSUER


def test_pkce_is_required_for_a_public_client_even_if_the_flag_was_turned_off(logged_in_client, public_application):
    """A public client has no secret: PKCE is its only proof (OAuth 2.1 §7.5.1)."""
    public_application.require_pkce_if_confidential = False
    public_application.save()

    response = logged_in_client.get(authorize_url(public_application, code_challenge=None, code_challenge_method=None))

    assert redirect_params(response)["error"] == "invalid_request"


def test_a_confidential_app_with_pkce_turned_off_may_omit_it(logged_in_client, application):
    """GPT Actions send no PKCE; their app authenticates with its secret instead."""
    application.require_pkce_if_confidential = False
    application.save()

    response = logged_in_client.get(authorize_url(application, code_challenge=None, code_challenge_method=None))

    assert response.status_code == HTTPStatus.OK
    assert "form" in response.context


def test_the_plain_pkce_method_is_refused(logged_in_client, application):
    """RFC 9700 §2.1.1: S256 only; `plain` is refused."""
    response = logged_in_client.get(authorize_url(application, code_challenge="a" * 43, code_challenge_method="plain"))

    params = redirect_params(response)
    assert params["error"] == "invalid_request"


@pytest.mark.parametrize("response_type", ["token", "id_token", "code token"])
def test_implicit_and_hybrid_response_types_are_refused(logged_in_client, application, response_type):
    """RFC 9700 §2.1.2: no implicit grant."""
    response = logged_in_client.get(authorize_url(application, response_type=response_type))

    assert response.status_code in (HTTPStatus.FOUND, HTTPStatus.BAD_REQUEST)
    if response.status_code == HTTPStatus.FOUND:
        assert "access_token" not in response["Location"]
        assert "error=" in response["Location"]


def test_first_party_apps_skip_the_consent_page(logged_in_client, application):
    application.first_party = True
    application.save()

    response = logged_in_client.get(authorize_url(application))

    assert response.status_code == HTTPStatus.FOUND
    assert redirect_params(response)["code"]


def test_a_consent_once_given_is_remembered_for_the_same_scopes_but_not_for_more(logged_in_client, user, application):
    from tests.fixtures import issue_access_token

    issue_access_token(user=user, application=application, scope="openid profile email")

    same = logged_in_client.get(authorize_url(application, scope="openid email"))
    more = logged_in_client.get(authorize_url(application, scope="openid email tasks:write"))

    assert same.status_code == HTTPStatus.FOUND
    assert redirect_params(same)["code"]
    assert more.status_code == HTTPStatus.OK
    assert "form" in more.context


def test_a_disabled_app_cannot_start_an_authorization(logged_in_client, application):
    application.is_enabled = False
    application.save()

    response = logged_in_client.get(authorize_url(application))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in response


def test_an_app_may_only_ask_for_the_scopes_it_was_allowed(logged_in_client, application):
    application.allowed_scopes = "openid tasks:read"
    application.save()

    response = logged_in_client.get(authorize_url(application, scope="openid tasks:write"))

    assert redirect_params(response)["error"] == "invalid_scope"
