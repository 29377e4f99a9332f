"""The login page, with and without an upstream provider."""

from __future__ import annotations

import html
from http import HTTPStatus
from urllib.parse import urlencode

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

NEXT = "/idp?client_id=some-client&response_type=code"


def test_without_upstream_variables_the_page_offers_only_the_password_form(client):
    response = client.get(reverse("login"), {"next": NEXT})

    page = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert "Sign in with" not in page
    assert 'name="password"' in page
    assert "Forgot your password?" in page


def test_without_upstream_variables_password_login_returns_to_next(client, user, password, settings):
    assert settings.AUTHENTICATION_BACKENDS == [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]

    response = client.post(reverse("login"), {"username": user.email.upper(), "password": password, "next": NEXT})

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == NEXT
    assert client.session["_auth_user_id"] == str(user.pk)


def test_with_an_upstream_the_page_offers_its_button_keeping_next_and_the_password_form(client, upstream_settings):
    response = client.get(reverse("login"), {"next": NEXT})

    page = html.unescape(response.content.decode())
    assert f'href="/accounts/upstream/login/?{urlencode({"next": NEXT})}"' in page
    assert "Sign in with Acme ID" in page
    assert 'name="password"' in page


def test_with_an_upstream_password_login_still_works(client, user, password, upstream_settings, fake_upstream):
    response = client.post(reverse("login"), {"username": user.email, "password": password, "next": NEXT})

    assert response["Location"] == NEXT
    assert client.session["_auth_user_id"] == str(user.pk)
    assert fake_upstream.requests == [], "a password login must not call the upstream"


def test_upstream_only_hides_the_password_form(client, upstream_settings):
    upstream_settings.UPSTREAM_OIDC_ONLY = True

    response = client.get(reverse("login"), {"next": NEXT})

    page = response.content.decode()
    assert "Sign in with Acme ID" in page
    assert 'name="password"' not in page
    assert "Forgot your password?" not in page


def test_upstream_only_refuses_a_posted_password_with_a_sentence(client, user, password, upstream_settings):
    upstream_settings.UPSTREAM_OIDC_ONLY = True
    upstream_settings.AUTHENTICATION_BACKENDS = ["accounts.upstream.UpstreamOIDCBackend"]

    response = client.post(reverse("login"), {"username": user.email, "password": password, "next": NEXT})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Passwords are not used here: sign in with Acme ID." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_upstream_only_leaves_no_backend_that_accepts_a_password(rf, user, password, upstream_settings):
    """Django's other password forms (the admin's login) go through the same backends."""
    from django.contrib.auth import authenticate

    upstream_settings.AUTHENTICATION_BACKENDS = ["accounts.upstream.UpstreamOIDCBackend"]

    assert authenticate(rf.post("/"), username=user.email, password=password) is None


def test_with_upstream_login_only_the_admin_login_sends_staff_to_the_upstream(client, upstream_settings):
    upstream_settings.UPSTREAM_OIDC_ONLY = True

    response = client.get("/admin/login/", {"next": "/admin/idp/application/"})

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/accounts/upstream/login/?next=%2Fadmin%2Fidp%2Fapplication%2F"
    assert "password" not in response.content.decode().lower()


def test_with_password_login_the_admin_login_is_the_admins_own(client, db):
    response = client.get("/admin/login/")

    assert response.status_code == HTTPStatus.OK
    assert 'name="password"' in response.content.decode()
