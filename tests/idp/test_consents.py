"""A person's consents: recorded when an app is allowed, kept fresh when it is used, revoked in one go."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.cache import cache
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from idp.models import Consent
from idp.services.consents import consent_forget_noted_uses, consent_mark_used, consent_revoke
from tests.fixtures import pkce_pair
from tests.oauth_flow import authorize_url, basic, consent_form_data, exchange, obtain_code


def forget_noted_uses() -> None:
    """consent_mark_used remembers its last write in the process and in the cache."""
    cache.clear()
    consent_forget_noted_uses()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Start each test without a noted use."""
    forget_noted_uses()
    yield
    forget_noted_uses()


def allow(client, application, scope: str) -> tuple[dict, str]:
    verifier, challenge = pkce_pair()
    code = obtain_code(client, application, scope=scope, challenge=challenge)
    response = exchange(client, application, code, verifier)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json(), code


def test_allowing_an_app_records_the_consent_with_its_scopes(logged_in_client, user, application):
    allow(logged_in_client, application, "openid tasks:read")

    consent = Consent.objects.get()
    assert (consent.user, consent.application) == (user, application)
    assert consent.scopes == ["openid", "tasks:read"]
    assert consent.first_allowed_at <= consent.last_used_at


def test_a_later_authorization_adds_scopes_and_keeps_the_first_allowed_time(logged_in_client, application):
    allow(logged_in_client, application, "openid tasks:read")
    first = Consent.objects.get().first_allowed_at

    allow(logged_in_client, application, "tasks:write openid")

    consent = Consent.objects.get()
    assert consent.scopes == ["openid", "tasks:read", "tasks:write"], "in the order of the SCOPES setting"
    assert consent.first_allowed_at == first


def test_a_first_party_app_is_recorded_though_it_skips_the_consent_page(logged_in_client, application):
    application.first_party = True
    application.save()

    response = logged_in_client.get(authorize_url(application, scope="openid"))

    assert response.status_code == HTTPStatus.FOUND
    assert Consent.objects.filter(application=application).exists()


def test_using_a_token_at_userinfo_marks_the_consent_used(logged_in_client, client, application):
    tokens, _ = allow(logged_in_client, application, "openid")
    long_ago = timezone.now() - timedelta(days=3)
    Consent.objects.update(last_used_at=long_ago)
    forget_noted_uses()

    response = client.get("/idp/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    assert response.status_code == HTTPStatus.OK
    assert Consent.objects.get().last_used_at > long_ago


def test_last_used_is_written_at_most_once_a_minute_per_person_and_app(logged_in_client, application, user):
    allow(logged_in_client, application, "openid")
    long_ago = timezone.now() - timedelta(days=3)
    Consent.objects.update(last_used_at=long_ago)
    forget_noted_uses()

    consent_mark_used(user_id=user.pk, application_id=application.pk)
    written = Consent.objects.get().last_used_at
    Consent.objects.update(last_used_at=long_ago)
    consent_mark_used(user_id=user.pk, application_id=application.pk)

    assert written > long_ago
    assert Consent.objects.get().last_used_at == long_ago, "the second call within the minute wrote nothing"


def test_revoking_ends_the_apps_tokens_and_codes_for_the_person_and_forgets_the_consent(
    logged_in_client, client, user, other_user, application
):
    tokens, _ = allow(logged_in_client, application, "openid tasks:read")
    # A code issued but not yet exchanged, and another person's token, which must survive.
    pending = logged_in_client.get(authorize_url(application, scope="openid"))
    assert "code=" in pending["Location"], "consent is remembered: a code at once"
    client.force_login(other_user)
    others, _ = allow(client, application, "openid")
    client.logout()

    ended = consent_revoke(consent=Consent.objects.get(user=user))

    assert ended == 1
    assert not Consent.objects.filter(user=user).exists()
    assert not get_access_token_model().objects.filter(user=user).exists()
    assert not get_grant_model().objects.filter(user=user).exists()
    assert not get_refresh_token_model().objects.filter(user=user, revoked__isnull=True).exists()
    userinfo = client.get("/idp/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert userinfo.status_code == HTTPStatus.UNAUTHORIZED
    refresh = client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic(application),
    )
    assert refresh.status_code == HTTPStatus.BAD_REQUEST
    assert refresh.json()["error"] == "invalid_grant"
    assert Consent.objects.filter(user=other_user).exists()
    still = client.get("/idp/userinfo", HTTP_AUTHORIZATION=f"Bearer {others['access_token']}")
    assert still.status_code == HTTPStatus.OK


def test_after_revoking_the_next_authorization_shows_the_consent_page_again(logged_in_client, user, application):
    allow(logged_in_client, application, "openid")
    remembered = logged_in_client.get(authorize_url(application, scope="openid"))
    assert remembered.status_code == HTTPStatus.FOUND, "consent is remembered while a token lives"

    consent_revoke(consent=Consent.objects.get(user=user))
    page = logged_in_client.get(authorize_url(application, scope="openid"))

    assert page.status_code == HTTPStatus.OK
    assert consent_form_data(page)["client_id"] == application.client_id
