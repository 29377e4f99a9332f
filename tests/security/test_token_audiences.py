"""A token works only at the service it was issued for (RFC 8707 audiences): REST API or /mcp."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from tests.fixtures import issue_access_token

ORIGIN = "http://127.0.0.1:8000"
BOTH = "tasks:read tasks:write"


def api_get(client, raw_token: str):
    # On the site's own host: DOT compares a token's audience with the URL it is used at.
    return client.get("/api/tasks", headers={"Authorization": f"Bearer {raw_token}", "Host": "127.0.0.1:8000"})


@pytest.mark.parametrize("resource", [[], [f"{ORIGIN}/api"]], ids=["no-resource", "api-resource"])
def test_a_token_for_the_rest_api_works_there_and_is_refused_at_mcp(mcp, client, user, application, resource):
    raw, _ = issue_access_token(user=user, application=application, scope=BOTH, resource=resource)

    at_api = api_get(client, raw)
    at_mcp = mcp.rpc("tools/list", token=raw)

    assert at_api.status_code == HTTPStatus.OK
    assert at_mcp.status_code == HTTPStatus.UNAUTHORIZED
    assert 'error="invalid_token"' in at_mcp.headers["WWW-Authenticate"]


def test_a_token_for_mcp_works_there_and_is_refused_by_the_rest_api(mcp, client, user, application):
    raw, _ = issue_access_token(user=user, application=application, scope=BOTH, resource=[f"{ORIGIN}/mcp"])

    at_mcp = mcp.rpc("tools/list", token=raw)
    at_api = api_get(client, raw)

    assert at_mcp.status_code == HTTPStatus.OK
    assert at_api.status_code == HTTPStatus.UNAUTHORIZED
    assert 'error="invalid_token"' in at_api["WWW-Authenticate"]


def test_a_token_for_mcp_is_refused_at_userinfo(client, user, application):
    """DOT checks the audience at userinfo too: an MCP token is not an OpenID Connect token."""
    raw, _ = issue_access_token(user=user, application=application, scope="openid " + BOTH, resource=[f"{ORIGIN}/mcp"])

    response = client.get("/idp/userinfo", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN)
