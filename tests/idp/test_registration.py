"""Dynamic Client Registration (RFC 7591) and its management (RFC 7592) at /idp/register."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core.cache import cache
from django.test import Client

from idp.models import Application
from idp.ratelimit import RateLimit
from idp.views import registration
from tests.oauth_flow import authorization_code, redirect_params, token_request

pytestmark = pytest.mark.django_db

CHATGPT_REDIRECT_URIS = [
    "https://chatgpt.com/connector_platform_oauth_redirect",
    "https://chatgpt.com/connector/oauth/abc123",
]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


def register(client, metadata, **headers):
    return client.post("/idp/register", metadata, content_type="application/json", headers=headers)


def public_metadata(**changes):
    """What the MCP Python SDK sends."""
    return {
        "client_name": "An MCP client",
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "tasks:read tasks:write",
        **changes,
    }


def test_an_anonymous_client_registers_a_public_app(client):
    response = register(client, public_metadata())

    assert response.status_code == HTTPStatus.CREATED
    assert response["Cache-Control"] == "no-store"
    data = response.json()
    assert data["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in data
    assert data["redirect_uris"] == ["http://127.0.0.1:33418/callback"]
    assert data["grant_types"] == ["authorization_code", "refresh_token"]
    assert data["registration_client_uri"] == f"http://testserver/idp/register/{data['client_id']}"
    assert data["registration_access_token"]
    assert isinstance(data["client_id_issued_at"], int)
    application = Application.objects.get(client_id=data["client_id"])
    assert application.name == "An MCP client"
    assert application.is_public


def test_a_registered_app_requires_pkce_is_never_first_party_and_is_marked_dynamic(client):
    response = register(client, public_metadata(token_endpoint_auth_method="client_secret_post"))

    application = Application.objects.get(client_id=response.json()["client_id"])
    assert application.registration_source == Application.RegistrationSource.DCR
    assert application.require_pkce_if_confidential
    assert application.pkce_required
    assert not application.first_party
    assert not application.skip_authorization
    assert application.user is None
    assert application.is_enabled


def test_a_confidential_registration_gets_a_secret_that_never_expires(client):
    """RFC 7591 §3.2.1: client_secret_expires_at is "REQUIRED if client_secret is issued"; 0 means never."""
    response = register(client, public_metadata(token_endpoint_auth_method="client_secret_basic"))

    data = response.json()
    assert data["client_secret"]
    assert data["client_secret_expires_at"] == 0
    assert data["token_endpoint_auth_method"] == "client_secret_basic"


@pytest.mark.parametrize(
    ("redirect_uri", "complaint"),
    [
        ("http://client.example.com/callback", "use https"),
        ("https://client.example.com/callback#frag", "fragment"),
        ("https://user:pw@client.example.com/callback", "user name or password"),
        ("ftp://client.example.com/callback", "absolute https URL"),
        ("/callback", "absolute https URL"),
        ("https://*.example.com/callback", "wildcards"),
    ],
)
def test_a_bad_redirect_uri_is_refused_with_invalid_redirect_uri_and_nothing_is_written(
    client, redirect_uri, complaint
):
    """RFC 7591 §3.2.2: "invalid_redirect_uri: The value of one or more redirection URIs is invalid." """
    response = register(client, public_metadata(redirect_uris=["http://127.0.0.1:1/ok", redirect_uri]))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_redirect_uri"
    assert complaint in response.json()["error_description"]
    assert not Application.objects.exists()


def test_a_redirect_uri_that_is_not_a_string_is_refused_with_invalid_redirect_uri(client):
    response = register(client, public_metadata(redirect_uris=[{"uri": "https://a.example/cb"}]))

    assert response.json()["error"] == "invalid_redirect_uri"
    assert not Application.objects.exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"grant_types": ["client_credentials"]},
        {"grant_types": ["refresh_token"]},
        {"grant_types": "authorization_code"},
        {"response_types": ["token"]},
        {"token_endpoint_auth_method": "tls_client_auth"},
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://keys.example.com/jwks.json"},
        {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
        {"redirect_uris": []},
        {"client_name": "x" * 300},
    ],
)
def test_unsupported_metadata_is_refused_with_invalid_client_metadata_and_nothing_is_written(client, changes):
    """RFC 7591 §3.2.2: "invalid_client_metadata: The value of one of the client metadata fields is invalid"."""
    response = register(client, public_metadata(**changes))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_client_metadata"
    assert response.json()["error_description"]
    assert not Application.objects.exists()


@pytest.mark.parametrize("body", ["not json", "[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_refused(client, body):
    response = client.post("/idp/register", body, content_type="application/json")

    assert response.json()["error"] == "invalid_client_metadata"
    assert not Application.objects.exists()


def test_registrations_are_rate_limited_per_address(client, monkeypatch):
    monkeypatch.setattr(registration, "REGISTRATION_RATE_LIMIT", RateLimit(name="registration", count=2, seconds=3600))
    for _ in range(2):
        assert register(client, public_metadata()).status_code == HTTPStatus.CREATED

    refused = register(client, public_metadata())
    elsewhere = register(Client(REMOTE_ADDR="10.0.0.9"), public_metadata())

    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert refused.json()["error"] == "too_many_requests"
    assert elsewhere.status_code == HTTPStatus.CREATED
    assert Application.objects.count() == 3


def test_the_registration_can_be_read_updated_and_deleted_with_its_token(client):
    """RFC 7592 §2.1-2.3."""
    data = register(client, public_metadata()).json()
    uri = f"/idp/register/{data['client_id']}"
    auth = {"Authorization": f"Bearer {data['registration_access_token']}"}

    read = client.get(uri, headers=auth)
    updated = client.put(
        uri, public_metadata(client_name="Renamed", client_id=data["client_id"]), "application/json", headers=auth
    )
    new_auth = {"Authorization": f"Bearer {updated.json()['registration_access_token']}"}
    refused_update = client.put(
        uri, public_metadata(redirect_uris=["http://evil.example/cb"]), "application/json", headers=new_auth
    )
    deleted = client.delete(uri, headers=new_auth)

    assert read.status_code == HTTPStatus.OK
    assert read.json()["client_id"] == data["client_id"]
    assert updated.status_code == HTTPStatus.OK
    assert updated.json()["client_name"] == "Renamed"
    assert refused_update.json()["error"] == "invalid_redirect_uri"
    assert deleted.status_code == HTTPStatus.NO_CONTENT
    assert not Application.objects.exists()


def test_the_registration_cannot_be_managed_without_its_token(client):
    data = register(client, public_metadata()).json()

    response = client.get(f"/idp/register/{data['client_id']}", headers={"Authorization": "Bearer wrong"})

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_registration_answers_not_found_when_turned_off(client, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "DCR_ENABLED": False}

    assert register(client, public_metadata()).status_code == HTTPStatus.NOT_FOUND


def test_chatgpt_registers_with_its_redirect_uris_and_gets_a_code_on_each(client, logged_in_client):
    """ChatGPT's connector callbacks: the legacy one and the per-connector one."""
    data = register(client, public_metadata(redirect_uris=CHATGPT_REDIRECT_URIS)).json()
    application = Application.objects.get(client_id=data["client_id"])

    for redirect_uri in CHATGPT_REDIRECT_URIS:
        code, verifier = authorization_code(
            logged_in_client,
            client_id=data["client_id"],
            redirect_uri=redirect_uri,
            scope="tasks:read tasks:write",
            resource="http://127.0.0.1:8000/mcp",
        )
        token = token_request(
            client,
            application,
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=verifier,
            resource="http://127.0.0.1:8000/mcp",
        )
        assert token.status_code == HTTPStatus.OK, token.content
        assert token.json()["scope"] == "tasks:read tasks:write"


def test_a_registered_app_is_always_asked_for_consent_and_the_page_says_it_registered_itself(logged_in_client):
    data = register(logged_in_client, public_metadata(redirect_uris=CHATGPT_REDIRECT_URIS)).json()

    page = logged_in_client.get(
        "/idp",
        {
            "response_type": "code",
            "client_id": data["client_id"],
            "redirect_uri": CHATGPT_REDIRECT_URIS[0],
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "scope": "tasks:read",
        },
    )

    assert page.status_code == HTTPStatus.OK
    assert "registered itself" in page.text


def test_a_registered_app_cannot_skip_pkce(logged_in_client):
    data = register(logged_in_client, public_metadata(token_endpoint_auth_method="client_secret_basic")).json()

    response = logged_in_client.get(
        "/idp",
        {
            "response_type": "code",
            "client_id": data["client_id"],
            "redirect_uri": "http://127.0.0.1:33418/callback",
            "scope": "tasks:read",
        },
    )

    assert redirect_params(response)["error"] == "invalid_request"
    assert redirect_params(response)["error_description"] == "Code challenge required."


def test_grant_and_response_types_we_do_not_serve_are_narrowed_and_the_answer_says_what_was_registered(client):
    """RFC 7591 §2: the server may replace requested values; §3.2.1: the response holds what was registered."""
    response = register(
        client,
        public_metadata(
            grant_types=["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
            response_types=["code", "code id_token"],
        ),
    )

    assert response.status_code == HTTPStatus.CREATED, response.content
    data = response.json()
    assert data["grant_types"] == ["authorization_code", "refresh_token"]
    assert data["response_types"] == ["code"]
    assert data["token_endpoint_auth_method"] == "none"


def test_an_authentication_method_we_do_not_serve_falls_back_to_one_the_client_offers(client):
    response = register(
        client,
        public_metadata(
            token_endpoint_auth_method="tls_client_auth",
            token_endpoint_auth_methods_supported=["tls_client_auth", "client_secret_post"],
        ),
    )

    assert response.status_code == HTTPStatus.CREATED, response.content
    assert response.json()["token_endpoint_auth_method"] == "client_secret_post"
    assert response.json()["client_secret"]


def test_a_client_with_keys_registers_without_a_secret_and_the_answer_names_its_keys(client):
    response = register(
        client,
        public_metadata(
            token_endpoint_auth_method="private_key_jwt",
            jwks_uri="https://client.example.com/jwks.json",
            token_endpoint_auth_signing_alg="ES256",
        ),
    )

    assert response.status_code == HTTPStatus.CREATED, response.content
    data = response.json()
    assert data["token_endpoint_auth_method"] == "private_key_jwt"
    assert data["jwks_uri"] == "https://client.example.com/jwks.json"
    assert data["token_endpoint_auth_signing_alg"] == "ES256"
    assert "client_secret" not in data


def test_the_sdk_default_of_no_authentication_method_registers_a_confidential_client(client):
    """RFC 7591 §2: an omitted token_endpoint_auth_method means client_secret_basic."""
    metadata = public_metadata()
    del metadata["token_endpoint_auth_method"]

    response = register(client, metadata)

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["token_endpoint_auth_method"] == "client_secret_basic"
    assert response.json()["client_secret"]


def test_reading_a_registration_with_keys_names_its_keys(client):
    """RFC 7592 §2.1: the client read request returns the registration as it is."""
    registered = register(
        client,
        public_metadata(token_endpoint_auth_method="private_key_jwt", jwks_uri="https://client.example.com/jwks.json"),
    ).json()

    response = client.get(
        registered["registration_client_uri"].removeprefix("http://testserver"),
        headers={"Authorization": f"Bearer {registered['registration_access_token']}"},
    )

    assert response.status_code == HTTPStatus.OK, response.content
    assert response.json()["token_endpoint_auth_method"] == "private_key_jwt"
    assert response.json()["jwks_uri"] == "https://client.example.com/jwks.json"
