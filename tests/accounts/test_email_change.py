"""Changing the login email on /account: confirmed by a link to the new address, the old one told."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.core import mail

from accounts.models import User
from idp.audit import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NEW = "ada.new@example.com"


def ask(client, password, new_email=NEW, django_capture_on_commit_callbacks=None):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/accounts/email/change/", {"new_email": new_email, "password": password})


def link_in(message) -> str:
    return re.search(r"https?://\S+/accounts/email/change/\S+/", message.body).group(0)


def test_a_new_email_is_confirmed_by_a_link_before_it_replaces_the_old_one(
    logged_in_client, user, password, django_capture_on_commit_callbacks
):
    old = user.email

    response = ask(logged_in_client, password, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert response.status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert user.email == old, "nothing changes until the link is opened"
    assert user.pending_email == NEW
    assert [message.to for message in mail.outbox] == [[NEW]]
    path = link_in(mail.outbox[0]).split("://", 1)[1].split("/", 1)[1]

    page = logged_in_client.get(f"/{path}")
    assert page.status_code == HTTPStatus.OK
    assert NEW in page.text
    user.refresh_from_db()
    assert user.email == old, "opening the link (a mail scanner) changes nothing"

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = logged_in_client.post(f"/{path}")

    assert confirmed.status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert (user.email, user.email_verified, user.pending_email) == (NEW, True, "")
    assert mail.outbox[-1].to == [old], "the old address is told"
    assert NEW in mail.outbox[-1].body
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EMAIL_CHANGED, user=user).exists()
    assert logged_in_client.post(f"/{path}").status_code == HTTPStatus.BAD_REQUEST, "a link works once"


def test_email_verified_in_tokens_follows_the_change(
    logged_in_client, user, password, django_capture_on_commit_callbacks
):
    from idp.oauth2_validators import TaskgateOAuth2Validator

    User.objects.filter(pk=user.pk).update(email_verified=False)
    ask(logged_in_client, password, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    path = link_in(mail.outbox[0]).split("://", 1)[1].split("/", 1)[1]
    logged_in_client.post(f"/{path}")
    user.refresh_from_db()

    claims = TaskgateOAuth2Validator().get_additional_claims()
    request = type("Request", (), {"user": user})()

    assert claims["email"](request) == NEW
    assert claims["email_verified"](request) is True


@pytest.mark.parametrize(
    ("new_email", "password_ok", "error"),
    [
        (NEW, False, "That is not your password."),
        ("not-an-address", True, "Enter a valid email address."),
        ("taken@example.com", True, "An account already uses this email address."),
    ],
)
def test_a_bad_request_says_what_to_fix_and_changes_nothing(
    logged_in_client, user, password, new_email, password_ok, error, django_capture_on_commit_callbacks
):
    UserFactory(email="taken@example.com")

    response = ask(
        logged_in_client,
        password if password_ok else "wrong password",
        new_email=new_email,
        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error in response.text
    user.refresh_from_db()
    assert user.pending_email == ""
    assert mail.outbox == []


def test_an_older_link_stops_working_once_another_change_is_asked(
    logged_in_client, user, password, django_capture_on_commit_callbacks
):
    ask(logged_in_client, password, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    first = link_in(mail.outbox[0]).split("://", 1)[1].split("/", 1)[1]
    ask(
        logged_in_client,
        password,
        new_email="ada.other@example.com",
        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
    )

    response = logged_in_client.post(f"/{first}")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "no longer asked for" in response.text
    user.refresh_from_db()
    assert user.email != NEW
