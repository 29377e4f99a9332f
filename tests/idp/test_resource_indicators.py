"""Resource indicators (RFC 8707): which service a token is for."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from oauth2_provider.models import get_access_token_model, get_grant_model

from tests.oauth_flow import authorization_code, authorize, consent, redirect_params, token_request

SITE = "http://127.0.0.1:8000"
MCP = f"{SITE}/mcp"
API = f"{SITE}/api"
REDIRECT_URI = "https://client.example.com/callback"

pytestmark = pytest.mark.django_db


def exchange(client, application, code, verifier, **extra):
    return token_request(
        client,
        application,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
        **extra,
    )


def issued_token(response):
    assert response.status_code == HTTPStatus.OK, response.content
    return get_access_token_model().objects.latest("created")


@pytest.mark.parametrize("resource", [MCP, API])
def test_a_resource_asked_for_at_authorization_becomes_the_token_audience(logged_in_client, application, resource):
    code, verifier = authorization_code(
        logged_in_client, client_id=application.client_id, redirect_uri=REDIRECT_URI, resource=resource
    )

    token = issued_token(exchange(logged_in_client, application, code, verifier, resource=resource))

    assert token.resource == [resource]


def test_a_resource_asked_for_only_at_the_token_endpoint_becomes_the_audience(logged_in_client, application):
    """RFC 8707 §2.2: the client may name the resource in the token request alone."""
    code, verifier = authorization_code(logged_in_client, client_id=application.client_id, redirect_uri=REDIRECT_URI)

    token = issued_token(exchange(logged_in_client, application, code, verifier, resource=MCP))

    assert token.resource == [MCP]


def test_a_token_asked_for_without_resource_has_no_audience(logged_in_client, application):
    code, verifier = authorization_code(logged_in_client, client_id=application.client_id, redirect_uri=REDIRECT_URI)

    token = issued_token(exchange(logged_in_client, application, code, verifier))

    assert token.resource == []


@pytest.mark.parametrize(
    "resource",
    ["https://evil.example/mcp", f"{SITE}/mcp/", f"{SITE}/admin", "http://localhost:8000/mcp"],
)
def test_authorization_for_a_resource_we_do_not_serve_is_refused_with_invalid_target(
    logged_in_client, application, resource
):
    """RFC 8707 §2: "the authorization server ... SHOULD reject the request with an
    invalid_target error" for a resource it does not serve (and we compare exactly)."""
    response = authorize(
        logged_in_client, client_id=application.client_id, redirect_uri=REDIRECT_URI, resource=resource
    )

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(REDIRECT_URI + "?")
    params = redirect_params(response)
    assert params["error"] == "invalid_target"
    assert params["state"] == "xyz"
    assert params["iss"] == SITE
    assert not get_grant_model().objects.exists()


def test_an_unserved_resource_is_refused_before_anyone_is_asked_to_log_in(client, application):
    response = authorize(client, client_id=application.client_id, redirect_uri=REDIRECT_URI, resource="https://x.test/")

    assert redirect_params(response)["error"] == "invalid_target"


def test_an_unserved_resource_is_not_redirected_to_an_unregistered_redirect_uri(logged_in_client, application):
    """RFC 6749 §4.1.2.1: an invalid redirect URI is shown, never redirected to."""
    response = authorize(
        logged_in_client,
        client_id=application.client_id,
        redirect_uri="https://evil.example/cb",
        resource="https://x.test/",
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"evil.example" not in response.get("Location", "").encode()


def test_two_resources_in_one_request_are_refused(logged_in_client, application):
    response = logged_in_client.get(
        "/idp",
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "tasks:read",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "resource": [MCP, API],
        },
    )

    params = redirect_params(response)
    assert params["error"] == "invalid_target"
    assert "one resource per token" in params["error_description"]


def test_a_resource_changed_in_the_consent_form_is_refused(logged_in_client, application):
    page = authorize(logged_in_client, client_id=application.client_id, redirect_uri=REDIRECT_URI, resource=MCP)

    response = consent(logged_in_client, page, resource="https://evil.example/")

    assert redirect_params(response)["error"] == "invalid_target"
    assert not get_grant_model().objects.exists()


def test_the_token_endpoint_refuses_a_resource_we_do_not_serve(logged_in_client, application):
    code, verifier = authorization_code(logged_in_client, client_id=application.client_id, redirect_uri=REDIRECT_URI)

    response = exchange(logged_in_client, application, code, verifier, resource="https://evil.example/mcp")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_target"
    assert not get_access_token_model().objects.exists()
    # The code was not used up: the client may try again with a resource we serve.
    assert exchange(logged_in_client, application, code, verifier, resource=MCP).status_code == HTTPStatus.OK


def test_the_token_endpoint_refuses_another_resource_than_the_one_authorized(logged_in_client, application):
    """RFC 8707 §2.2: the token request may narrow the resources granted, never widen them."""
    code, verifier = authorization_code(
        logged_in_client, client_id=application.client_id, redirect_uri=REDIRECT_URI, resource=MCP
    )

    response = exchange(logged_in_client, application, code, verifier, resource=API)

    assert response.json()["error"] == "invalid_target"


def test_a_refreshed_token_keeps_its_audience_and_cannot_change_it(logged_in_client, application):
    code, verifier = authorization_code(
        logged_in_client, client_id=application.client_id, redirect_uri=REDIRECT_URI, resource=MCP
    )
    refresh_token = exchange(logged_in_client, application, code, verifier, resource=MCP).json()["refresh_token"]

    elsewhere = token_request(
        logged_in_client, application, grant_type="refresh_token", refresh_token=refresh_token, resource=API
    )
    refreshed = token_request(logged_in_client, application, grant_type="refresh_token", refresh_token=refresh_token)

    assert elsewhere.json()["error"] == "invalid_target"
    assert issued_token(refreshed).resource == [MCP]


def test_the_consent_page_names_the_service_the_token_is_for(logged_in_client, application):
    page = authorize(logged_in_client, client_id=application.client_id, redirect_uri=REDIRECT_URI, resource=MCP)

    assert page.status_code == HTTPStatus.OK
    assert "This permission works only with" in page.text
    assert "MCP endpoint" in page.text
