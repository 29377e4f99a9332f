"""Logging in, out, and resetting a password through our own pages."""

from __future__ import annotations

from http import HTTPStatus

import pytest


def test_a_person_logs_in_with_their_email_in_any_case(client, user, password):
    response = client.post("/accounts/login/", {"username": user.email.upper(), "password": password})

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(user.pk)


def test_a_wrong_password_says_so_and_logs_nobody_in(client, user):
    response = client.post("/accounts/login/", {"username": user.email, "password": "wrong"})

    assert response.status_code == HTTPStatus.OK
    assert b"do not match an account" in response.content
    assert "_auth_user_id" not in client.session


def test_after_login_the_person_returns_to_next_on_this_site(client, user, password):
    next_url = "/idp?client_id=abc&response_type=code"

    response = client.post("/accounts/login/", {"username": user.email, "password": password, "next": next_url})

    assert response["Location"] == next_url


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/path", "http://127.0.0.1:9/x", "javascript:alert(1)"]
)
def test_login_never_sends_the_person_off_the_site(client, user, password, next_url):
    response = client.post("/accounts/login/", {"username": user.email, "password": password, "next": next_url})

    assert response["Location"] == "/"


def test_the_login_page_cannot_be_framed(client, db):
    response = client.get("/accounts/login/")

    assert response.status_code == HTTPStatus.OK
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_logout_is_a_post(logged_in_client):
    response = logged_in_client.post("/accounts/logout/")

    assert response.status_code == HTTPStatus.FOUND
    assert "_auth_user_id" not in logged_in_client.session


def test_password_reset_mails_a_link_that_sets_a_new_password(client, user, mailoutbox):
    client.post("/accounts/password/reset/", {"email": user.email})

    assert len(mailoutbox) == 1
    link = next(word for word in mailoutbox[0].body.split() if "/accounts/reset/" in word)
    path = link.split("127.0.0.1:8000", 1)[-1] if "://" in link else link
    form_page = client.get(path, follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a brand new passphrase 7", "new_password2": "a brand new passphrase 7"},
    )

    assert response.status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert user.check_password("a brand new passphrase 7")


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, db, mailoutbox):
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})

    assert response.status_code == HTTPStatus.FOUND
    assert mailoutbox == []


def test_email_addresses_are_unique_whatever_their_case(user):
    from django.db import IntegrityError, transaction

    from tests.factories import UserFactory

    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email=user.email.upper())


def test_a_browser_form_post_with_origin_null_passes_on_its_csrf_token(user, password):
    """Pages are served with Referrer-Policy: no-referrer, so browsers post them with `Origin: null`."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value

    with_token = client.post(
        "/accounts/login/",
        {"username": user.email, "password": password, "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="null",
    )

    assert with_token.status_code == HTTPStatus.FOUND


def test_a_post_with_origin_null_but_no_csrf_token_is_refused(user, password):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": user.email, "password": password}, HTTP_ORIGIN="null")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "_auth_user_id" not in client.session


def test_a_post_from_another_origin_is_refused_even_with_a_token(user, password):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value

    response = client.post(
        "/accounts/login/",
        {"username": user.email, "password": password, "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
