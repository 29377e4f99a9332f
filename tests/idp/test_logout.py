"""RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0) at /idp/logout."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from oauth2_provider.models import get_access_token_model

from idp.audit import AuditEvent
from idp.models import Application
from tests.fixtures import issue_access_token

pytestmark = pytest.mark.django_db


def test_a_logout_naming_an_app_that_no_longer_exists_is_a_400_on_our_page(logged_in_client):
    """§2: the OP validates client_id; an unknown one is `invalid_request`, never a 500."""
    response = logged_in_client.get("/idp/logout", {"client_id": "an-app-that-was-deleted"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "This logout request cannot continue" in response.text
    assert "not registered with Taskgate" in response.text


def test_a_logout_naming_a_known_app_asks_the_person(logged_in_client, application):
    response = logged_in_client.get("/idp/logout", {"client_id": application.client_id})

    assert response.status_code == HTTPStatus.OK
    assert "Log out" in response.text


def test_the_tokens_a_logout_deletes_are_in_the_audit_log(logged_in_client, user, application):
    issue_access_token(user=user, application=application, scope="tasks:read")
    issue_access_token(user=user, application=application, scope="openid")

    response = logged_in_client.post("/idp/logout", {"client_id": application.client_id, "allow": "Logout"})

    assert response.status_code == HTTPStatus.FOUND
    assert not get_access_token_model().objects.filter(user=user).exists()
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.TOKEN_REVOKED)
    assert event.user == user
    assert event.details["count"] == 2
    assert "logged out" in event.details["reason"]
    assert Application.objects.filter(pk=application.pk).exists()
