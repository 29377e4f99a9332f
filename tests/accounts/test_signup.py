"""Sign-up at /accounts/signup/ and email verification by link."""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core import mail, signing
from django.urls import reverse

from accounts.models import User
from accounts.services import _VERIFICATION_SALT as VERIFICATION_SALT
from accounts.services import email_verification_token
from idp.audit import AuditEvent

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "violet kettle 93 harbour"
NEXT = "/idp?client_id=some-client&response_type=code"


def signup_form(**overrides) -> dict[str, str]:
    data = {"email": "Ada@Example.com", "name": "Ada  Lovelace", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    data.update(overrides)
    return data


def sign_up(client, django_capture_on_commit_callbacks, **overrides):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("signup"), signup_form(**overrides))


def link_in(message) -> str:
    return re.search(r"http://\S+/accounts/verify-email/\S+/", message.body).group(0)


def test_signing_up_creates_an_unverified_account_logs_in_and_mails_a_link(client, django_capture_on_commit_callbacks):
    response = sign_up(client, django_capture_on_commit_callbacks)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("account")
    user = User.objects.get()
    assert user.email == "ada@example.com"
    assert user.get_full_name() == "Ada Lovelace"
    assert user.email_verified is False
    assert user.check_password(GOOD_PASSWORD)
    assert client.session["_auth_user_id"] == str(user.pk)
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    link = link_in(message)
    assert link.startswith("http://127.0.0.1:8000/accounts/verify-email/")
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert "example.com" not in repr(signing.loads(token, salt=VERIFICATION_SALT)), "no address in the link"
    assert list(AuditEvent.objects.values_list("kind", flat=True).order_by("id")) == [
        AuditEvent.Kind.SIGNED_UP,
        AuditEvent.Kind.LOGIN_SUCCEEDED,
    ]


def test_signing_up_from_an_authorization_request_returns_to_it(client, django_capture_on_commit_callbacks):
    page = client.get(reverse("signup"), {"next": NEXT})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("signup"), {**signup_form(), "next": NEXT})

    assert NEXT in page.content.decode().replace("&amp;", "&")
    assert response["Location"] == NEXT


def test_a_next_off_this_site_is_ignored(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("signup"), {**signup_form(), "next": "https://evil.example/"})

    assert response["Location"] == reverse("account")


@pytest.mark.parametrize(
    ("overrides", "field", "sentence"),
    [
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"name": "   "}, "name", "Enter your name"),
        ({"password2": "something else entirely"}, "password2", "The two passwords differ"),
        ({"password1": "password", "password2": "password"}, "password1", "This password is too common."),
        ({"password1": "ada@example.com1", "password2": "ada@example.com1"}, "password1", "too similar"),
    ],
)
def test_a_bad_sign_up_says_what_to_fix_and_creates_nothing(
    client, django_capture_on_commit_callbacks, overrides, field, sentence
):
    response = sign_up(client, django_capture_on_commit_callbacks, **overrides)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert any(sentence in error for error in response.context["form"].errors[field])
    assert not User.objects.exists()
    assert not mail.outbox
    assert "_auth_user_id" not in client.session
    assert not AuditEvent.objects.exists()


def test_signing_up_with_a_taken_email_says_so_plainly_and_changes_nothing(
    client, user, django_capture_on_commit_callbacks
):
    response = sign_up(client, django_capture_on_commit_callbacks, email=user.email.upper())

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "An account already uses this email address" in response.content.decode()
    assert User.objects.count() == 1
    assert not mail.outbox
    assert "_auth_user_id" not in client.session


def test_with_allow_signup_off_the_page_says_sign_up_is_closed_and_creates_nothing(
    client, settings, django_capture_on_commit_callbacks
):
    settings.ALLOW_SIGNUP = False

    page = client.get(reverse("signup"))
    response = sign_up(client, django_capture_on_commit_callbacks)
    login_page = client.get(reverse("login"))

    assert page.status_code == response.status_code == HTTPStatus.NOT_FOUND
    assert "Sign-up is closed" in page.content.decode()
    assert not User.objects.exists()
    assert "Create an account" not in login_page.content.decode()


def test_the_login_page_offers_sign_up_keeping_next(client):
    page = client.get(reverse("login"), {"next": NEXT}).content.decode()

    assert "Create an account" in page
    assert "/accounts/signup/?next=%2Fidp%3Fclient_id%3Dsome-client%26response_type%3Dcode" in page


def test_opening_the_link_asks_to_confirm_and_confirming_verifies_the_email(client, django_capture_on_commit_callbacks):
    sign_up(client, django_capture_on_commit_callbacks)
    link = link_in(mail.outbox[0]).removeprefix("http://127.0.0.1:8000")

    page = client.get(link)
    assert User.objects.get().email_verified is False, "opening the link alone changes nothing"
    response = client.post(link)

    assert page.status_code == HTTPStatus.OK
    assert "Confirm ada@example.com" in page.content.decode()
    assert response["Location"] == reverse("account")
    assert User.objects.get().email_verified is True
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EMAIL_VERIFIED).count() == 1
    client.post(link)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EMAIL_VERIFIED).count() == 1, "a second click is harmless"


def test_a_verified_email_shows_in_the_id_token_claims_only_after_the_link(client, django_capture_on_commit_callbacks):
    from idp.oauth2_validators import TaskgateOAuth2Validator

    sign_up(client, django_capture_on_commit_callbacks)
    claims = TaskgateOAuth2Validator().get_additional_claims()

    class Request:
        user = User.objects.get()

    assert claims["email_verified"](Request) is False
    client.post(link_in(mail.outbox[0]).removeprefix("http://127.0.0.1:8000"))
    Request.user = User.objects.get()
    assert claims["email_verified"](Request) is True


def test_an_expired_link_says_so_and_verifies_nothing(client, user, settings):
    user.email_verified = False
    user.save()
    token = email_verification_token(user=user)
    settings.EMAIL_VERIFICATION_MAX_AGE = timedelta(seconds=-1)

    response = client.post(reverse("verify_email", args=[token]))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "This link has expired" in response.content.decode()
    assert User.objects.get(pk=user.pk).email_verified is False


@pytest.mark.parametrize("token", ["garbage", signing.dumps({"sub": "x", "email": "y"}, salt="another-purpose")])
def test_a_forged_or_mangled_link_is_refused(client, token):
    response = client.post(reverse("verify_email", args=[token]))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "This link is not valid" in response.content.decode()


def test_a_link_for_an_address_the_account_no_longer_has_is_refused(client, user):
    user.email_verified = False
    user.save()
    token = email_verification_token(user=user)
    user.email = "new-address@example.com"
    user.save()

    response = client.post(reverse("verify_email", args=[token]))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "no longer on an account" in response.content.decode()
    assert User.objects.get(pk=user.pk).email_verified is False


def test_the_account_page_sends_the_link_again_while_the_email_is_unconfirmed(logged_in_client, user):
    user.email_verified = False
    user.save()

    page = logged_in_client.get(reverse("account"))
    response = logged_in_client.post(reverse("verify_email_resend"), follow=True)

    assert "Not confirmed" in page.content.decode()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert f"We sent a new link to {user.email}" in response.content.decode()


def test_a_failing_mail_server_does_not_break_sign_up(client, settings, django_capture_on_commit_callbacks, caplog):
    from unittest import mock

    with mock.patch("accounts.services.send_mail", side_effect=ConnectionRefusedError):
        response = sign_up(client, django_capture_on_commit_callbacks)

    assert response.status_code == HTTPStatus.FOUND
    assert User.objects.exists()
    assert "Could not send the verification email" in caplog.text


def test_sign_ups_are_limited_per_address_with_a_429_page_and_retry_after(client, settings):
    """RFC 6585 §4: "429 Too Many Requests"; Retry-After says how long to wait. Nothing is created over it."""
    settings.SIGNUP_RATE_LIMIT = "2/h"
    for number in range(2):
        client.post("/accounts/signup/", signup_form(email=f"person{number}@example.com"))
        client.logout()

    response = client.post("/accounts/signup/", signup_form(email="one-too-many@example.com"))

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 0 < int(response["Retry-After"]) <= 3600
    assert "Too many sign-ups from your address" in response.text
    assert not User.objects.filter(email="one-too-many@example.com").exists()
