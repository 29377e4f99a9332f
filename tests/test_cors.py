"""CORS for MCP clients that run in a browser: the public endpoints only, never with credentials."""

from __future__ import annotations

from http import HTTPStatus

import pytest

pytestmark = pytest.mark.django_db

ORIGIN = "http://127.0.0.1:6274"  # MCP Inspector's origin

PUBLIC = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/idp/jwks",
    "/idp/register",
    "/idp/token",
    "/idp/revoke",
]
SAME_ORIGIN_ONLY = ["/accounts/login/", "/idp", "/account", "/admin/", "/api/tasks", "/idp/introspect"]


@pytest.mark.parametrize("path", PUBLIC)
def test_a_browser_client_may_call_the_public_endpoints_from_any_origin_without_credentials(client, path):
    """Fetch standard (CORS protocol): a preflight names what may be sent; no Allow-Credentials, so no cookies."""
    preflight = client.options(
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
        },
    )

    assert preflight.status_code == HTTPStatus.OK
    assert preflight["Access-Control-Allow-Origin"] == "*"
    allowed = preflight["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "content-type", "mcp-protocol-version", "mcp-session-id", "last-event-id"} <= {
        name.strip() for name in allowed.split(",")
    }
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in preflight


def test_actual_responses_carry_the_origin_header_and_expose_the_challenge(client):
    response = client.get("/.well-known/oauth-authorization-server", headers={"Origin": ORIGIN})

    assert response["Access-Control-Allow-Origin"] == "*"
    exposed = {name.strip().lower() for name in response["Access-Control-Expose-Headers"].split(",")}
    assert {"www-authenticate", "mcp-session-id", "mcp-protocol-version"} <= exposed
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize("path", SAME_ORIGIN_ONLY)
def test_what_uses_the_session_cookie_gets_no_cors_headers(client, path):
    response = client.get(path, headers={"Origin": ORIGIN})
    preflight = client.options(path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})

    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in preflight


@pytest.mark.django_db(transaction=True)
def test_mcp_answers_a_preflight_and_exposes_its_challenge_to_any_origin(mcp):
    """A browser MCP client must read WWW-Authenticate of /mcp's 401 to find the provider (RFC 9728 §5.1)."""
    preflight = mcp.portal.call(
        mcp._send,
        "OPTIONS",
        "/mcp",
        None,
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
        },
    )
    unauthorized = mcp.rpc("tools/list", token=None, headers={"Origin": ORIGIN})

    assert preflight.status_code == HTTPStatus.OK
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "mcp-protocol-version" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    assert unauthorized.status_code == HTTPStatus.UNAUTHORIZED
    assert unauthorized.headers["Access-Control-Allow-Origin"] == "*"
    assert "www-authenticate" in unauthorized.headers["Access-Control-Expose-Headers"].lower()
