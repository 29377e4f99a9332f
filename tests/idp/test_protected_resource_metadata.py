"""The MCP endpoint's protected resource metadata (RFC 9728), pinned whole."""

from __future__ import annotations

from http import HTTPStatus

import pytest

ORIGIN = "http://127.0.0.1:8000"

EXPECTED = {
    "resource": f"{ORIGIN}/mcp",
    "authorization_servers": [ORIGIN],
    "scopes_supported": ["tasks:read", "tasks:write"],
    "bearer_methods_supported": ["header"],
    "resource_name": "Taskgate MCP",
    "resource_documentation": f"{ORIGIN}/docs/mcp",
}


@pytest.mark.parametrize("path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"])
def test_protected_resource_metadata_is_pinned_whole(client, path):
    response = client.get(path)

    assert response.status_code == HTTPStatus.OK
    assert response.json() == EXPECTED
    assert response["Access-Control-Allow-Origin"] == "*"


def test_the_resource_is_the_mcp_url_and_its_server_the_issuer_of_our_discovery_document(client):
    """RFC 9728 §3.3: "The resource value returned MUST be identical to the protected
    resource's resource identifier value into which the well-known URI path suffix was inserted"."""
    metadata = client.get("/.well-known/oauth-protected-resource/mcp").json()
    discovery = client.get("/.well-known/oauth-authorization-server").json()

    assert metadata["resource"] == f"{ORIGIN}/mcp"
    assert metadata["authorization_servers"] == [discovery["issuer"]]
    assert "offline_access" not in metadata["scopes_supported"]
