"""/docs/mcp, the MCP endpoint's `resource_documentation` (RFC 9728 §2)."""

from __future__ import annotations

from http import HTTPStatus

import pytest

pytestmark = pytest.mark.django_db


def test_the_mcp_docs_page_gives_the_url_to_connect_and_lists_every_tool_with_its_scope(client):
    documentation = client.get("/.well-known/oauth-protected-resource/mcp").json()["resource_documentation"]

    page = client.get(documentation.removeprefix("http://127.0.0.1:8000"))

    assert page.status_code == HTTPStatus.OK
    assert '<code class="mcp-url">http://127.0.0.1:8000/mcp</code>' in page.text
    for tool in ("list_tasks", "get_task", "create_task", "update_task", "complete_task", "delete_task"):
        assert f"<code>{tool}</code>" in page.text
    assert "Needs <code>tasks:write</code>" in page.text


def test_the_home_page_links_to_the_mcp_docs(client):
    assert 'href="/docs/mcp"' in client.get("/").text
