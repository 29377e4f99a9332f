"""Audit events and the setup card of the apps clients register themselves (RFC 7591, metadata documents)."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core.cache import cache

from idp.audit import AuditEvent
from idp.models import Application, Consent
from idp.services.consents import consent_record
from tests.metadata_documents import MetadataDocumentServer
from tests.oauth_flow import authorize

pytestmark = pytest.mark.django_db

CALLBACK = "http://127.0.0.1:33418/callback"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # rate limits, DOT's fetch backoff, consent_mark_used's minute
    yield
    cache.clear()


def test_a_dynamic_registration_is_recorded_with_the_address_it_came_from(client):
    response = client.post(
        "/idp/register",
        {"client_name": "An MCP client", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"},
        content_type="application/json",
        REMOTE_ADDR="198.51.100.4",
    )

    assert response.status_code == HTTPStatus.CREATED
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.APP_REGISTERED)
    assert event.application == Application.objects.get(client_id=response.json()["client_id"])
    assert event.ip_address == "198.51.100.4"
    assert event.details == {"source": "dcr"}


def test_a_refused_registration_records_nothing(client):
    client.post(
        "/idp/register",
        {"client_name": "Bad", "redirect_uris": ["http://example.com/cb"]},
        content_type="application/json",
    )

    assert not AuditEvent.objects.exists()
    assert not Application.objects.exists()


def test_a_metadata_documents_first_sight_is_recorded_once(logged_in_client, settings):
    settings.IDP_CIMD_ALLOW_LOOPBACK = True
    with MetadataDocumentServer() as documents:
        client_id = documents.publish(
            "/oauth/client.json",
            client_name="A metadata document client",
            redirect_uris=[CALLBACK],
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        )
        for _ in range(2):
            page = authorize(logged_in_client, client_id=client_id, redirect_uri=CALLBACK)
            assert page.status_code == HTTPStatus.OK

    event = AuditEvent.objects.get(kind=AuditEvent.Kind.APP_REGISTERED)
    assert event.application == Application.objects.get(client_id=client_id)
    assert event.details == {"source": "cimd"}


def test_a_self_registered_apps_admin_page_shows_the_mcp_card_without_a_secret_to_rotate(admin_client):
    application = Application.objects.create(
        name="An MCP client",
        redirect_uris=CALLBACK,
        client_type=Application.CLIENT_PUBLIC,
        registration_source=Application.RegistrationSource.DCR,
    )

    page = admin_client.get(f"/admin/idp/selfregisteredapplication/{application.pk}/change/").content.decode()

    assert 'id="setup-mcp_url">http://127.0.0.1:8000/mcp</code>' in page
    assert "As a custom GPT" not in page
    assert 'value="rotate_secret"' not in page
    assert '<input type="hidden" name="CHANGE_FORM-action" value="disable">' in page


def test_the_self_registered_apps_disable_button_works_and_is_recorded(admin_client):
    application = Application.objects.create(
        name="An MCP client",
        redirect_uris=CALLBACK,
        client_type=Application.CLIENT_PUBLIC,
        registration_source=Application.RegistrationSource.DCR,
    )

    response = admin_client.post(
        f"/admin/idp/selfregisteredapplication/{application.pk}/change/",
        {"CHANGE_FORM-action": "disable", "_selected_action": application.pk},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert Application.objects.get(pk=application.pk).is_enabled is False
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.APP_DISABLED, application=application).exists()


@pytest.mark.django_db(transaction=True)
def test_a_tool_call_at_mcp_marks_the_consent_used(mcp, user, application):
    from datetime import timedelta

    from django.utils import timezone

    from tests.fixtures import mcp_token

    consent_record(user=user, application=application, scopes=["tasks:read"])
    long_ago = timezone.now() - timedelta(days=2)
    Consent.objects.update(last_used_at=long_ago)

    response = mcp.rpc("tools/list", token=mcp_token(user, application))

    assert response.status_code == HTTPStatus.OK
    assert Consent.objects.get().last_used_at > long_ago


def test_a_registration_updated_by_its_client_is_recorded_as_changed_and_a_refused_update_is_not(client):
    metadata = {"client_name": "An MCP client", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}
    data = client.post("/idp/register", metadata, content_type="application/json").json()
    uri = f"/idp/register/{data['client_id']}"
    auth = {"Authorization": f"Bearer {data['registration_access_token']}"}

    updated = client.put(
        uri, {**metadata, "client_name": "Renamed", "client_id": data["client_id"]}, "application/json", headers=auth
    )
    auth = {"Authorization": f"Bearer {updated.json()['registration_access_token']}"}
    refused = client.put(
        uri, {**metadata, "redirect_uris": ["http://evil.example/cb"]}, "application/json", headers=auth
    )

    assert updated.status_code == HTTPStatus.OK
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    (event,) = AuditEvent.objects.filter(kind=AuditEvent.Kind.APP_CHANGED)
    assert event.application.client_id == data["client_id"]
    assert event.details == {"changed": ["client metadata (RFC 7592)"]}
    assert data["registration_access_token"] not in repr(list(AuditEvent.objects.values()))
