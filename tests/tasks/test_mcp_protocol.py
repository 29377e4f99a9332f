"""What /mcp declares and how it answers what it does not serve (MCP lifecycle, server/tools, server/prompts)."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from config import __version__
from tests.fixtures import issue_access_token

MCP = "http://127.0.0.1:8000/mcp"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(user, application) -> str:
    raw, _ = issue_access_token(user=user, application=application, scope="tasks:read tasks:write", resource=[MCP])
    return raw


def initialize(mcp, token):
    return mcp.rpc(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
        token=token,
    )


def test_the_server_declares_only_what_it_serves_and_names_its_version(mcp, token):
    """MCP lifecycle: capabilities are what the server offers; we have tools and resources, no prompts."""
    response = initialize(mcp, token)

    assert response.status_code == HTTPStatus.OK, response.text
    result = response.json()["result"]
    assert "tools" in result["capabilities"]
    assert "prompts" not in result["capabilities"]
    assert result["serverInfo"]["version"] == __version__


def test_a_prompt_request_is_method_not_found(mcp, token):
    """JSON-RPC 2.0: a method the server does not serve is -32601."""
    response = mcp.rpc("prompts/get", {"name": "anything"}, token=token)

    assert response.json()["error"]["code"] == -32601


def test_an_unknown_tool_is_invalid_params(mcp, token):
    """MCP server/tools, Error Handling: "Unknown tools" are a protocol error, -32602 (Invalid params)."""
    response = mcp.call_tool("no_such_tool", {}, token=token)

    assert response.json()["error"]["code"] == -32602
    assert "no_such_tool" in response.json()["error"]["message"]
