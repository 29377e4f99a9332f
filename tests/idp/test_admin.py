"""Connected apps in the Django admin: the secret shown once, tokens seen and revoked."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.contrib.auth.hashers import check_password

from idp.models import Application
from tests.fixtures import add_form, issue_access_token

# The secret as the credentials page shows it, once.
SECRET_ON_PAGE = r'<code class="setup-value" id="setup-client_secret">([^<]+)</code>'


def test_creating_an_app_shows_its_secret_once_and_stores_only_a_hash(admin_client):
    response = admin_client.post("/admin/idp/application/add/", add_form())

    assert response.status_code == HTTPStatus.OK
    assert "no-store" in response["Cache-Control"]
    application = Application.objects.get(name="Admin-made GPT")
    page = response.content.decode()
    secret = re.search(SECRET_ON_PAGE, page).group(1)
    assert check_password(secret, application.client_secret)
    assert application.client_id in page
    assert "http://127.0.0.1:8000/idp/token" in page
    assert secret not in admin_client.get(f"/admin/idp/application/{application.pk}/change/").content.decode()


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"redirect_uris": "http://example.com/cb"}, b"uses http on a host other than"),
        (
            {"client_type": Application.CLIENT_PUBLIC, "require_pkce_if_confidential": ""},
            b"PKCE is its only proof",
        ),
        # The rules of create_connected_app (idp.services.apps.application_validate), scopes included.
        ({"allowed_scopes": "tasks:read tasks:everything"}, b"Unknown scope &#x27;tasks:everything&#x27;"),
    ],
    ids=["http redirect URI off loopback", "public client without PKCE", "unknown scope"],
)
def test_an_app_the_services_refuse_is_refused_in_the_admin_with_nothing_written(admin_client, fields, sentence):
    response = admin_client.post("/admin/idp/application/add/", add_form(**fields))

    assert response.status_code == HTTPStatus.OK
    assert sentence in response.content
    assert not Application.objects.exists()


def test_an_app_made_in_the_admin_is_recorded_as_created_by_the_admin(admin_client):
    from idp.audit import AuditEvent

    admin_client.post("/admin/idp/application/add/", add_form(post_logout_redirect_uris="https://example.com/bye"))

    application = Application.objects.get(name="Admin-made GPT")
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.APP_CREATED)
    assert event.user.is_superuser
    assert (event.application, event.details) == (application, {"source": "manual"})
    assert application.post_logout_redirect_uris == "https://example.com/bye"
    assert application.is_gpt_action


def test_the_app_page_lists_its_tokens_and_revoke_all_ends_them(admin_client, user, application):
    raw, token = issue_access_token(user=user, application=application, scope="tasks:read")

    page = admin_client.get(f"/admin/idp/application/{application.pk}/change/")
    response = admin_client.post(
        "/admin/idp/application/", {"action": "revoke_all_tokens", "_selected_action": [application.pk]}, follow=True
    )

    assert user.email in page.content.decode()
    assert raw not in page.content.decode()
    assert b"Revoked 1 access token" in response.content
    from oauth2_provider.models import get_access_token_model

    assert not get_access_token_model().objects.filter(pk=token.pk).exists()


def test_rotating_the_secret_shows_the_new_one_once_and_the_old_one_stops_working(admin_client, application):
    old = application.client_secret_plain

    response = admin_client.post(
        "/admin/idp/application/", {"action": "rotate_secret", "_selected_action": [application.pk]}
    )

    new = re.search(SECRET_ON_PAGE, response.content.decode()).group(1)
    stored = Application.objects.get(pk=application.pk).client_secret
    assert check_password(new, stored)
    assert not check_password(old, stored)


def test_disabling_an_app_stops_its_authorizations(admin_client, application):
    admin_client.post("/admin/idp/application/", {"action": "disable", "_selected_action": [application.pk]})

    assert Application.objects.get(pk=application.pk).is_enabled is False


def test_an_app_deleted_by_an_admin_is_in_the_audit_log_with_its_name(admin_client, application):
    from idp.audit import AuditEvent

    response = admin_client.post(f"/admin/idp/application/{application.pk}/delete/", {"post": "yes"})

    assert response.status_code == HTTPStatus.FOUND
    assert not Application.objects.filter(pk=application.pk).exists()
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.APP_DELETED)
    assert event.application_label.startswith(application.name)
    assert event.user.is_staff


def test_apps_deleted_from_the_list_are_each_in_the_audit_log(admin_client, application, public_application):
    from idp.audit import AuditEvent

    response = admin_client.post(
        "/admin/idp/application/",
        {"action": "delete_selected", "_selected_action": [application.pk, public_application.pk], "post": "yes"},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.APP_DELETED).count() == 2
