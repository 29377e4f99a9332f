"""How the person logged in, in ID tokens and userinfo (`amr`, RFC 8176; `auth_time`), and
fresh logins asked for with `prompt=login` or `max_age` (OpenID Connect Core §3.1.2.1)."""

from __future__ import annotations

import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.fixtures import password_step, pkce_pair, totp_of
from tests.oauth_flow import authorize_url, exchange, obtain_code, verify_id_token


def tokens_for(client, application) -> dict:
    verifier, challenge = pkce_pair()
    code = obtain_code(client, application, challenge=challenge)
    response = exchange(client, application, code, verifier)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


def test_a_password_login_says_pwd_and_when(client, user, password, application):
    before = int(time.time())
    password_step(client, user, password)

    tokens = tokens_for(client, application)

    claims = verify_id_token(client, tokens["id_token"])
    assert claims["amr"] == ["pwd"]
    assert before <= claims["auth_time"] <= int(time.time())
    userinfo = client.get("/idp/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").json()
    assert userinfo["amr"] == ["pwd"]
    assert userinfo["auth_time"] == claims["auth_time"]


def test_a_password_and_an_app_code_say_pwd_otp_mfa_also_after_a_refresh(client, user, password, application):
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    password_step(client, user, password)
    client.post("/accounts/login/verify/", {"code": totp_of(device).now()})

    tokens = tokens_for(client, application)
    first = verify_id_token(client, tokens["id_token"])
    refreshed = client.post(
        "/idp/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": application.client_id,
            "client_secret": application.client_secret_plain,
        },
    ).json()

    assert first["amr"] == ["pwd", "otp", "mfa"]
    again = verify_id_token(client, refreshed["id_token"])
    assert again["amr"] == ["pwd", "otp", "mfa"]
    assert again["auth_time"] == first["auth_time"]


def test_a_session_from_before_amr_was_kept_gets_no_amr_rather_than_a_wrong_one(logged_in_client, application):
    tokens = tokens_for(logged_in_client, application)

    claims = verify_id_token(logged_in_client, tokens["id_token"])
    assert "amr" not in claims
    assert "auth_time" in claims


def test_prompt_login_asks_a_logged_in_person_to_log_in_again_and_returns_once(client, user, password, application):
    password_step(client, user, password)

    response = client.get(authorize_url(application, scope="openid") + "&prompt=login")

    assert response.status_code == HTTPStatus.FOUND
    location = urlsplit(response["Location"])
    assert location.path == "/accounts/login/"
    query = parse_qs(location.query)
    assert query["fresh"] == ["1"]
    assert "prompt=login" not in query["next"][0]
    page = client.get(response["Location"])
    assert page.status_code == HTTPStatus.OK  # the form, not a redirect for the logged-in person
    assert b'name="fresh" value="1"' in page.content

    back = client.post(
        "/accounts/login/", {"username": user.email, "password": password, "next": query["next"][0], "fresh": "1"}
    )
    assert back["Location"] == query["next"][0]
    assert client.get(back["Location"]).status_code == HTTPStatus.OK  # the consent page


def test_prompt_login_goes_through_the_second_factor_when_the_person_has_one(client, user, password, application):
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    password_step(client, user, password)
    client.post("/accounts/login/verify/", {"code": totp_of(device).now()})
    login_url = client.get(authorize_url(application, scope="openid") + "&prompt=login")["Location"]
    next_url = parse_qs(urlsplit(login_url).query)["next"][0]

    response = client.post(
        "/accounts/login/", {"username": user.email, "password": password, "next": next_url, "fresh": "1"}
    )

    assert response["Location"] == "/accounts/login/verify/"
    assert client.post("/accounts/login/verify/", {"code": "000000"}).status_code == HTTPStatus.BAD_REQUEST


@pytest.mark.parametrize(("max_age", "fresh"), [("0", True), ("3600", False), ("nonsense", False)])
def test_max_age_asks_for_a_fresh_login_only_when_the_login_is_older(
    client, user, password, application, max_age, fresh
):
    password_step(client, user, password)
    session = client.session
    session["accounts.authentication"] = {**session["accounts.authentication"], "auth_time": int(time.time()) - 60}
    session.save()

    response = client.get(authorize_url(application, scope="openid") + f"&max_age={max_age}")

    if fresh:
        assert response.status_code == HTTPStatus.FOUND
        assert urlsplit(response["Location"]).path == "/accounts/login/"
    else:
        assert urlsplit(response.get("Location", "")).path != "/accounts/login/"
        assert response.status_code != HTTPStatus.INTERNAL_SERVER_ERROR


def test_prompt_login_with_a_bad_client_is_our_error_page_not_a_login(logged_in_client, db):
    response = logged_in_client.get(
        "/idp?response_type=code&client_id=nobody&redirect_uri=https://evil.example/cb&prompt=login"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_clear_expired_forgets_logins_older_than_a_refresh_token_lives(client, user, password, application):
    import io
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from idp.models import AuthenticationContext

    password_step(client, user, password)
    tokens_for(client, application)
    AuthenticationContext.objects.update(created=timezone.now() - timedelta(days=31))
    fresh = AuthenticationContext.objects.create(key="jti:fresh", user=user, auth_time=timezone.now(), amr=["pwd"])

    call_command("clear_expired", stdout=io.StringIO())

    assert list(AuthenticationContext.objects.all()) == [fresh]


def test_with_a_recorded_login_a_code_exchange_and_a_refresh_stay_within_the_statement_budget(
    client, user, password, application
):
    from tests.oauth_flow import TOKEN_REQUEST_STATEMENTS, at_most_statements_sent, next_code

    password_step(client, user, password)
    tokens_for(client, application)  # the app's first token of the minute also notes its last use
    verifier, challenge = pkce_pair()
    code = next_code(client, application, challenge)
    with at_most_statements_sent(TOKEN_REQUEST_STATEMENTS):
        tokens = exchange(client, application, code, verifier).json()
    body = {
        "grant_type": "refresh_token",
        "client_id": application.client_id,
        "client_secret": application.client_secret_plain,
    }
    first = client.post("/idp/token", {**body, "refresh_token": tokens["refresh_token"]}).json()

    with at_most_statements_sent(TOKEN_REQUEST_STATEMENTS):
        second = client.post("/idp/token", {**body, "refresh_token": first["refresh_token"]}).json()

    assert verify_id_token(client, second["id_token"])["amr"] == ["pwd"]
