"""/account: profile, password, and the connected apps a person can revoke."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse
from oauth2_provider.models import get_access_token_model

from accounts.models import User
from idp.audit import AuditEvent
from idp.models import Consent
from idp.services.consents import consent_record
from tests.fixtures import issue_access_token


@pytest.fixture
def connected(user, application):
    """The person allowed the app, which holds a live token."""
    application.name = "Task Helper GPT"
    application.logo_url = "https://client.example.com/logo.png"
    application.save()
    consent_record(user=user, application=application, scopes=["openid", "tasks:read"])
    raw, token = issue_access_token(user=user, application=application, scope="openid tasks:read")
    return token


@pytest.mark.django_db
def test_the_account_page_needs_a_login(client):
    response = client.get("/account")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{reverse('login')}?next=/account"


def test_the_account_page_shows_the_profile_and_each_connected_app_in_plain_words(logged_in_client, user, connected):
    response = logged_in_client.get("/account")

    page = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert user.email in page
    assert 'value="Ada Tester' in page
    assert "Change your password" in page
    assert "Task Helper GPT" in page
    assert 'src="https://client.example.com/logo.png"' in page
    assert "Confirm who you are" in page
    assert "See your tasks" in page
    assert "First allowed" in page
    assert "Last used" in page
    consent = Consent.objects.get()
    assert f'action="/account/apps/{consent.pk}/revoke"' in page
    assert 'Revoke<span class="visually-hidden"> Task Helper GPT</span>' in page


def test_with_no_app_the_page_says_none_acts_for_the_person(logged_in_client):
    page = logged_in_client.get("/account").content.decode()

    assert "No app acts for you." in page


def test_another_persons_apps_are_not_listed(logged_in_client, other_user, application):
    consent_record(user=other_user, application=application, scopes=["openid"])

    page = logged_in_client.get("/account").content.decode()

    assert application.name not in page


def test_revoke_ends_the_apps_tokens_forgets_the_consent_and_says_so(logged_in_client, user, connected):
    consent = Consent.objects.get()

    response = logged_in_client.post(f"/account/apps/{consent.pk}/revoke", follow=True)

    assert response.redirect_chain[-1][0] == "/account#connected-apps"
    assert "Task Helper GPT can no longer act for you" in response.content.decode()
    assert not Consent.objects.exists()
    assert not get_access_token_model().objects.filter(user=user).exists()
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.TOKEN_REVOKED)
    assert event.user == user
    assert event.details["count"] == 1


def test_revoking_another_persons_consent_is_not_found_and_revokes_nothing(client, other_user, connected):
    client.force_login(other_user)
    consent = Consent.objects.get()

    response = client.post(f"/account/apps/{consent.pk}/revoke")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert Consent.objects.filter(pk=consent.pk).exists()
    assert get_access_token_model().objects.filter(pk=connected.pk).exists()


def test_revoke_answers_only_a_post(logged_in_client, connected):
    consent = Consent.objects.get()

    response = logged_in_client.get(f"/account/apps/{consent.pk}/revoke")

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert Consent.objects.exists()


def test_revoke_without_the_csrf_token_is_refused(client, user, connected):
    client = type(client)(enforce_csrf_checks=True)
    client.force_login(user)
    consent = Consent.objects.get()

    response = client.post(f"/account/apps/{consent.pk}/revoke")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Consent.objects.exists()


def test_the_name_can_be_changed(logged_in_client, user):
    response = logged_in_client.post("/account", {"name": "  Grace   Hopper "})

    assert response.status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert user.display_name == "Grace Hopper"


def test_an_empty_name_is_refused_with_a_sentence_and_nothing_changes(logged_in_client, user):
    response = logged_in_client.post("/account", {"name": "   "})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Enter your name" in response.content.decode()
    assert User.objects.get(pk=user.pk).display_name == user.display_name


def test_a_person_without_a_password_is_not_offered_to_change_one(client, db):
    from tests.factories import UserFactory

    person = UserFactory(password=None)
    client.force_login(person)

    page = client.get("/account").content.decode()

    assert "Change your password" not in page
    assert "Set one by email" in page
