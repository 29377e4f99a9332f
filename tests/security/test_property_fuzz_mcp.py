"""Property-based fuzzing (hypothesis) of the MCP endpoint and client registration.

Arbitrary JSON and arbitrary JSON-RPC messages: never a 5xx, and nothing
written. At /mcp the token has `tasks:read` only, so that no generated call
may legitimately write; at /idp/register the values are arbitrary, so that
no generated document is a valid registration.
"""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures import issue_access_token
from tests.security.test_property_fuzz import FUZZ, JSON, TEXT, counts

MCP = "http://127.0.0.1:8000/mcp"
TOOLS = ["list_tasks", "get_task", "create_task", "update_task", "complete_task", "delete_task"]
METHODS = [
    "initialize",
    "tools/list",
    "tools/call",
    "resources/list",
    "prompts/list",
    "ping",
    "notifications/initialized",
]

RPC = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "1.0", ""]), "method": st.sampled_from(METHODS) | TEXT},
    optional={
        "id": st.integers() | TEXT | st.none(),
        "params": st.fixed_dictionaries(
            {}, optional={"name": st.sampled_from(TOOLS) | TEXT, "arguments": st.dictionaries(TEXT, JSON, max_size=6)}
        )
        | JSON,
    },
)


def test_mcp_answers_any_json_or_json_rpc_without_a_5xx_and_writes_nothing(mcp, user, application):
    raw, _ = issue_access_token(user=user, application=application, scope="tasks:read", resource=[MCP])
    before = counts()

    @FUZZ
    @given(body=st.one_of(RPC, JSON, st.lists(RPC, max_size=3)))
    def check(body):
        response = mcp.post(body, token=raw)
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (body, response.text[:500])

    check()
    assert counts() == before


@pytest.mark.django_db
def test_registration_answers_any_json_without_a_5xx_and_writes_nothing(client, monkeypatch):
    from idp.ratelimit import RateLimit
    from idp.views import registration

    monkeypatch.setattr(registration, "REGISTRATION_RATE_LIMIT", RateLimit.parse("registration", "100000/h"))
    keys = ["redirect_uris", "client_name", "grant_types", "response_types", "token_endpoint_auth_method", "scope"]
    document = st.dictionaries(st.sampled_from(keys) | TEXT, JSON, max_size=8)
    before = counts()

    @FUZZ
    @given(body=st.one_of(document, JSON))
    def check(body):
        response = client.post("/idp/register", json.dumps(body), content_type="application/json")
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (body, response.content[:500])

    check()
    assert counts() == before
