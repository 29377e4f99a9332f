"""/mcp's transport: stateless streamable HTTP with JSON responses, and no stream of its own (GET is 405)."""

from __future__ import annotations

from http import HTTPStatus

from tests.fixtures import mcp_token


def test_a_get_with_a_valid_token_gets_405_naming_post_and_no_stream(mcp, user, application):
    """MCP streamable HTTP: a server that offers no SSE stream at the endpoint answers GET with 405."""
    response = mcp.get("/mcp", token=mcp_token(user, application))

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response.headers["Allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"


def test_a_get_without_a_token_is_still_asked_for_one(mcp):
    response = mcp.get("/mcp")

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.headers["WWW-Authenticate"].startswith('Bearer resource_metadata="')
