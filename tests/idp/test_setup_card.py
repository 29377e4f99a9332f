"""The setup card on a connected app's admin page: what to paste into the GPT editor or an MCP client."""

from __future__ import annotations

import html
import re
from http import HTTPStatus

import pytest
from django.contrib.auth.hashers import check_password
from oauth2_provider.models import get_access_token_model

from idp.audit import AuditEvent
from idp.models import Application
from idp.selectors import application_setup_card
from tests.factories import ApplicationFactory
from tests.fixtures import issue_access_token

SITE = "http://127.0.0.1:8000"
GPT_CALLBACKS = "https://chatgpt.com/aip/g-abc123/oauth/callback https://chat.openai.com/aip/g-abc123/oauth/callback"


def card_values(page: str) -> dict[str, str]:
    """The copyable values on the page, by their key."""
    return {key: html.unescape(value) for key, value in re.findall(r'id="setup-([a-z_]+)">([^<]*)</code>', page)}


def change_page(admin_client, application) -> str:
    response = admin_client.get(f"/admin/idp/application/{application.pk}/change/")
    assert response.status_code == HTTPStatus.OK
    return response.content.decode()


@pytest.fixture
def gpt_app(db):
    return ApplicationFactory(
        name="Tasks GPT",
        redirect_uris=GPT_CALLBACKS,
        require_pkce_if_confidential=False,
        allowed_scopes="tasks:read tasks:write",
    )


def test_a_gpt_actions_page_shows_each_field_of_the_gpt_editors_oauth_form(admin_client, gpt_app):
    page = change_page(admin_client, gpt_app)

    assert card_values(page) == {
        "schema_url": f"{SITE}/api/schema",
        "client_id": gpt_app.client_id,
        "authorization_url": f"{SITE}/idp",
        "token_url": f"{SITE}/idp/token",
        "scope": "tasks:read tasks:write",
        "token_exchange_method": "Default (POST request)",
        "privacy_url": f"{SITE}/privacy",
    }
    assert "Client Secret" in page
    assert "Shown once, when the app was created. Rotate the secret to get a new one." in page
    assert "Basic authorization header" in page
    assert "As an MCP client" not in page
    assert gpt_app.client_secret not in page, "not even the hash"
    assert gpt_app.client_secret_plain not in page


def test_a_gpt_app_still_waiting_for_its_callback_url_gets_the_gpt_card(db):
    waiting = ApplicationFactory(redirect_uris="", require_pkce_if_confidential=False)

    card = application_setup_card(application=waiting)

    assert card.gpt_action
    assert not card.mcp


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"registration_source": Application.RegistrationSource.DCR}, "registered itself"),
        ({"registration_source": Application.RegistrationSource.CIMD}, "metadata document"),
        ({"redirect_uris": "http://127.0.0.1:6276/oauth/callback"}, "loopback redirect"),
        ({"redirect_uris": "https://chatgpt.com/connector/oauth/cb-1"}, "ChatGPT connector callback"),
    ],
)
def test_an_mcp_clients_page_shows_the_mcp_url_only(admin_client, db, overrides, why):
    application = ApplicationFactory(**overrides)

    card = application_setup_card(application=application)

    assert [value.value for value in card.mcp][0] == f"{SITE}/mcp", why
    assert not card.gpt_action, why


def test_an_unclear_app_shows_both_cards(admin_client, application):
    page = change_page(admin_client, application)

    values = card_values(page)
    assert values["mcp_url"] == f"{SITE}/mcp"
    assert values["schema_url"] == f"{SITE}/api/schema"
    assert "As a custom GPT’s action" in page
    assert "As an MCP client" in page


def test_a_public_client_is_never_offered_as_a_gpt_action(public_application):
    card = application_setup_card(application=public_application)

    assert not card.gpt_action
    assert card.mcp


def test_the_values_are_selectable_text_and_the_copy_buttons_come_with_javascript(admin_client, gpt_app):
    page = change_page(admin_client, gpt_app)

    assert re.search(r'<button type="button" class="copy-button" data-copy="setup-client_id"[^>]* hidden>', page)
    assert "/static/idp/copy-buttons." in page
    assert "<script>" not in page.replace(" ", ""), "no inline script: the CSP allows only our static files"


def test_the_card_counts_the_apps_active_and_revoked_tokens(admin_client, user, other_user, gpt_app):
    issue_access_token(user=user, application=gpt_app, scope="tasks:read")
    issue_access_token(user=other_user, application=gpt_app, scope="tasks:read")
    issue_access_token(user=user, application=gpt_app, scope="tasks:read", expires_in=-10)

    card = application_setup_card(application=gpt_app)

    assert card.tokens.active_access_tokens == 2
    assert card.tokens.people_with_access == 2
    assert "Active: <strong>2</strong> access tokens" in " ".join(change_page(admin_client, gpt_app).split())


def test_the_cards_revoke_button_ends_every_token_and_returns_to_the_page(admin_client, user, gpt_app):
    _, token = issue_access_token(user=user, application=gpt_app, scope="tasks:read")

    response = admin_client.post(
        f"/admin/idp/application/{gpt_app.pk}/change/",
        {"CHANGE_FORM-action": "revoke_all_tokens", "_selected_action": gpt_app.pk},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"/admin/idp/application/{gpt_app.pk}/change/"
    assert not get_access_token_model().objects.filter(pk=token.pk).exists()
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.TOKEN_REVOKED, application=gpt_app).exists()


def test_the_cards_rotate_button_shows_the_new_secret_once_in_the_card(admin_client, gpt_app):
    response = admin_client.post(
        f"/admin/idp/application/{gpt_app.pk}/change/",
        {"CHANGE_FORM-action": "rotate_secret", "_selected_action": gpt_app.pk},
    )

    page = response.content.decode()
    new = card_values(page)["client_secret"]
    assert check_password(new, Application.objects.get(pk=gpt_app.pk).client_secret)
    assert "no-store" in response["Cache-Control"]
    assert "Copy it now" in page
    assert new not in change_page(admin_client, gpt_app)


def test_the_cards_disable_button_disables_the_app_and_the_page_says_so(admin_client, gpt_app):
    response = admin_client.post(
        f"/admin/idp/application/{gpt_app.pk}/change/",
        {"CHANGE_FORM-action": "disable", "_selected_action": gpt_app.pk},
        follow=True,
    )

    assert Application.objects.get(pk=gpt_app.pk).is_enabled is False
    page = response.content.decode()
    assert "This app is disabled" in page
    assert '<input type="hidden" name="CHANGE_FORM-action" value="disable">' not in page, "no button to disable again"
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.APP_DISABLED, application=gpt_app).count() == 1


def test_a_card_action_for_another_app_than_the_page_is_refused(admin_client, gpt_app, application):
    response = admin_client.post(
        f"/admin/idp/application/{gpt_app.pk}/change/",
        {"CHANGE_FORM-action": "disable", "_selected_action": application.pk},
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Application.objects.get(pk=application.pk).is_enabled is True
    assert Application.objects.get(pk=gpt_app.pk).is_enabled is True
