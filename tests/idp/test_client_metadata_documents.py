"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document)."""

from __future__ import annotations

import html
import runpy
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from oauth2_provider.models import get_refresh_token_model

from idp.models import Application, ClientKeys
from tests.metadata_documents import MetadataDocumentServer
from tests.oauth_flow import authorization_code, authorize, token_request
from tests.real_clients import CHATGPT, CLAUDE

pytestmark = pytest.mark.django_db

MCP = "http://127.0.0.1:8000/mcp"
CALLBACK = "http://127.0.0.1:33418/callback"
CHATGPT_REDIRECT_URIS = [
    "https://chatgpt.com/connector_platform_oauth_redirect",
    "https://chatgpt.com/connector/oauth/abc123",
]


@pytest.fixture
def documents(settings):
    settings.IDP_CIMD_ALLOW_LOOPBACK = True
    cache.clear()  # DOT backs off a URL whose fetch failed
    with MetadataDocumentServer() as server:
        yield server


def document(**changes):
    return {
        "client_name": "A metadata document client",
        "redirect_uris": [CALLBACK, *CHATGPT_REDIRECT_URIS],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **changes,
    }


def test_a_client_id_that_is_a_metadata_document_url_is_fetched_and_registered(logged_in_client, documents):
    client_id = documents.publish("/oauth/client.json", **document())

    page = authorize(logged_in_client, client_id=client_id, redirect_uri=CALLBACK, resource=MCP)

    assert page.status_code == HTTPStatus.OK
    assert "A metadata document client" in page.text
    assert "described by <strong>127.0.0.1</strong>" in page.text
    application = Application.objects.get(client_id=client_id)
    assert application.registration_source == Application.RegistrationSource.CIMD
    assert application.is_public
    assert application.pkce_required
    assert not application.first_party
    # The document's Cache-Control (max-age=600) sets when it is fetched again.
    assert timedelta(seconds=590) < application.cimd_expires_at - timezone.now() <= timedelta(seconds=600)


@pytest.mark.parametrize("redirect_uri", [CALLBACK, *CHATGPT_REDIRECT_URIS])
def test_a_metadata_document_client_gets_tokens_at_each_of_its_redirect_uris(
    client, logged_in_client, documents, redirect_uri
):
    client_id = documents.publish("/oauth/client.json", **document())

    code, verifier = authorization_code(
        logged_in_client, client_id=client_id, redirect_uri=redirect_uri, scope="tasks:read", resource=MCP
    )
    response = token_request(
        client,
        Application.objects.get(client_id=client_id),
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
        resource=MCP,
    )

    assert response.status_code == HTTPStatus.OK, response.content
    assert response.json()["refresh_token"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"client_id": "https://127.0.0.1:1/someone-else.json"}, "its client_id is not the URL it was fetched from"),
        ({"client_name": ""}, "it must include a client_name"),
        ({"redirect_uris": []}, "its redirect_uris must be a non-empty array of strings"),
        ({"redirect_uris": ["http://client.example.com/callback"]}, "uses http on a host other than"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "methods built on a shared secret are not allowed"),
        ({"client_secret": "s3cret"}, "it must not include a client_secret"),
        ({"grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"]}, "grant_types must include"),
        ({"response_types": ["token"]}, "response_types must include"),
        ({"token_endpoint_auth_method": "tls_client_auth"}, "is not one Taskgate serves"),
    ],
)
def test_a_bad_metadata_document_is_refused_with_its_reason_on_the_page_and_in_the_log(
    logged_in_client, documents, changes, reason, caplog
):
    """A refusal that remains names its reason, in one sentence, on the error page and in the log."""
    path = "/oauth/client.json"
    documents.publish(path, **document())
    documents.documents[path].update(changes)

    page = authorize(logged_in_client, client_id=documents.url(path), redirect_uri=CALLBACK, resource=MCP)

    assert page.status_code == HTTPStatus.BAD_REQUEST
    assert "which Taskgate could not accept" in page.text
    assert reason in html.unescape(page.text)
    assert any(reason in record.getMessage() for record in caplog.records if record.name == "idp.cimd")
    assert not Application.objects.exists()
    assert not ClientKeys.objects.exists()


def test_a_redirect_uri_missing_from_the_document_is_refused_and_not_redirected_to(logged_in_client, documents):
    client_id = documents.publish("/oauth/client.json", **document())

    page = authorize(logged_in_client, client_id=client_id, redirect_uri="https://evil.example/cb", resource=MCP)

    assert page.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in page
    assert "an address it has not registered with Taskgate" in page.text


def test_a_missing_document_makes_an_unknown_client(logged_in_client, documents):
    page = authorize(logged_in_client, client_id=documents.url("/nowhere.json"), redirect_uri=CALLBACK)

    assert page.status_code == HTTPStatus.BAD_REQUEST
    assert documents.fetches == ["/nowhere.json"]


def test_a_loopback_document_is_not_fetched_unless_tests_allow_it(logged_in_client, documents, settings):
    """The SSRF guard: "MUST NOT fetch ... loopback or private addresses" outside tests."""
    settings.IDP_CIMD_ALLOW_LOOPBACK = False
    client_id = documents.publish("/oauth/client.json", **document())

    page = authorize(logged_in_client, client_id=client_id, redirect_uri=CALLBACK)

    assert page.status_code == HTTPStatus.BAD_REQUEST
    assert documents.fetches == []


def test_a_disabled_metadata_document_app_cannot_authorize(logged_in_client, documents):
    client_id = documents.publish("/oauth/client.json", **document())
    assert authorize(logged_in_client, client_id=client_id, redirect_uri=CALLBACK).status_code == HTTPStatus.OK
    Application.objects.filter(client_id=client_id).update(is_enabled=False)

    page = authorize(logged_in_client, client_id=client_id, redirect_uri=CALLBACK)

    assert page.status_code == HTTPStatus.BAD_REQUEST


def test_the_loopback_allowance_is_refused_outside_debug(monkeypatch):
    monkeypatch.setenv("IDP_CIMD_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("DJANGO_DEBUG", "0")
    settings_file = Path(__file__).resolve().parents[2] / "config" / "settings.py"

    with pytest.raises(ImproperlyConfigured, match="IDP_CIMD_ALLOW_LOOPBACK=1 .* refused unless DJANGO_DEBUG=1"):
        runpy.run_path(str(settings_file))


# --- The documents real clients publish (tests/real_clients.py) ---------------------


def test_claudes_document_is_accepted_with_the_grant_we_do_not_serve_ignored(logged_in_client, documents, caplog):
    """RFC 7591 §2: the server "MAY ... replace any of the client's requested metadata values"."""
    client_id = documents.url(CLAUDE.path)
    documents.documents[CLAUDE.path] = CLAUDE.served_at(documents.url)

    page = authorize(
        logged_in_client, client_id=client_id, redirect_uri="https://claude.ai/api/mcp/auth_callback", resource=MCP
    )

    assert page.status_code == HTTPStatus.OK, page.content[:300]
    application = Application.objects.get(client_id=client_id)
    assert application.name == "Claude"
    assert application.is_public
    assert not ClientKeys.objects.exists()
    assert "urn:ietf:params:oauth:grant-type:jwt-bearer" in caplog.text, "the log says what was ignored"


def test_chatgpts_document_registers_a_client_that_authenticates_with_its_keys(logged_in_client, documents):
    client_id = documents.url(CHATGPT.path)
    documents.documents[CHATGPT.path] = CHATGPT.served_at(documents.url)

    page = authorize(logged_in_client, client_id=client_id, redirect_uri=CHATGPT_REDIRECT_URIS[0], resource=MCP)

    assert page.status_code == HTTPStatus.OK, page.content[:300]
    keys = ClientKeys.objects.get(client_id=client_id)
    assert keys.token_endpoint_auth_method == "private_key_jwt"
    assert keys.jwks_uri == documents.url("/oauth/jwks.json")
    assert keys.signing_alg == "RS256"


def test_without_private_key_jwt_chatgpts_document_falls_back_to_none(logged_in_client, documents, settings):
    """ChatGPT lists token_endpoint_auth_methods_supported ["none", "private_key_jwt"]: we take one we serve."""
    settings.IDP_PRIVATE_KEY_JWT = False
    client_id = documents.url(CHATGPT.path)
    documents.documents[CHATGPT.path] = CHATGPT.served_at(documents.url)

    page = authorize(logged_in_client, client_id=client_id, redirect_uri=CHATGPT_REDIRECT_URIS[0], resource=MCP)

    assert page.status_code == HTTPStatus.OK, page.content[:300]
    assert Application.objects.get(client_id=client_id).is_public
    assert not ClientKeys.objects.exists()


def test_a_document_that_stops_using_keys_revokes_the_refresh_tokens_got_with_them(
    client, logged_in_client, documents, user
):
    """A refresh token issued to the key holder must not become usable without the key."""
    from tests.fixtures import issue_access_token

    client_id = documents.url(CHATGPT.path)
    documents.documents[CHATGPT.path] = CHATGPT.served_at(documents.url)
    authorize(logged_in_client, client_id=client_id, redirect_uri=CHATGPT_REDIRECT_URIS[0], resource=MCP)
    application = Application.objects.get(client_id=client_id)
    _raw, access_token = issue_access_token(user=user, application=application, scope="tasks:read", resource=[MCP])
    get_refresh_token_model().objects.create(
        user=user, application=application, token="r" * 40, access_token=access_token
    )
    documents.documents[CHATGPT.path] = {
        **CHATGPT.served_at(documents.url),
        "token_endpoint_auth_method": "none",
    }
    Application.objects.filter(pk=application.pk).update(cimd_expires_at=timezone.now() - timedelta(seconds=1))

    page = authorize(logged_in_client, client_id=client_id, redirect_uri=CHATGPT_REDIRECT_URIS[0], resource=MCP)

    assert page.status_code == HTTPStatus.OK
    assert not ClientKeys.objects.exists()
    assert get_refresh_token_model().objects.get(application=application).revoked is not None
