"""Who may call /mcp (MCP authorization; RFC 6750 §3, RFC 8707, RFC 9728 §5.1)."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from tasks.models import Task
from tests.fixtures import issue_access_token, mcp_token

ORIGIN = "http://127.0.0.1:8000"
MCP = f"{ORIGIN}/mcp"
METADATA = f"{ORIGIN}/.well-known/oauth-protected-resource/mcp"
BOTH = "tasks:read tasks:write"


def test_a_request_without_a_token_gets_401_naming_the_metadata_and_the_scopes(mcp):
    """MCP authorization: "MCP servers MUST use the HTTP header WWW-Authenticate when returning
    a 401 Unauthorized to indicate the location of the resource server metadata URL"."""
    response = mcp.rpc("tools/list", token=None)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.headers["WWW-Authenticate"] == f'Bearer resource_metadata="{METADATA}", scope="{BOTH}"'
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("make_token", "problem"),
    [
        (lambda user, app: "not-a-token", "The access token is not valid: unknown or revoked."),
        (lambda user, app: mcp_token(user, app, expires_in=-1), "The access token has expired."),
        (lambda user, app: mcp_token(user, app, resource=[]), f"The access token was not issued for {MCP}"),
        (
            lambda user, app: mcp_token(user, app, resource=[f"{ORIGIN}/api"]),
            f"The access token was not issued for {MCP}",
        ),
        (
            lambda user, app: mcp_token(user, app, resource=[MCP, f"{ORIGIN}/api"]),
            f"The access token was not issued for {MCP}",
        ),
    ],
    ids=["unknown", "expired", "without-resource", "for-the-api", "for-two-resources"],
)
def test_a_refused_token_gets_401_invalid_token_with_the_challenge(mcp, user, application, make_token, problem):
    """RFC 8707 / MCP: "MCP servers MUST validate that access tokens were issued specifically
    for them as the intended audience" and "MUST NOT accept ... tokens" issued for others."""
    response = mcp.rpc("tools/list", token=make_token(user, application))

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(
        f'Bearer resource_metadata="{METADATA}", scope="{BOTH}", error="invalid_token", error_description="'
    )
    assert problem in challenge
    assert response.json() == {
        "error": "invalid_token",
        "error_description": challenge.split('error_description="')[1][:-1],
    }


def test_a_revoked_token_is_refused(mcp, user, application):
    raw, token = issue_access_token(user=user, application=application, scope=BOTH, resource=[MCP])
    assert mcp.rpc("tools/list", token=raw).status_code == HTTPStatus.OK

    token.revoke()

    assert mcp.rpc("tools/list", token=raw).status_code == HTTPStatus.UNAUTHORIZED


def test_a_token_of_an_inactive_user_or_a_disabled_app_is_refused(mcp, user, application, other_user):
    of_inactive = mcp_token(other_user, application)
    other_user.is_active = False
    other_user.save()
    from tests.factories import ApplicationFactory

    disabled = ApplicationFactory(is_enabled=False)
    of_disabled_app = mcp_token(user, disabled)

    assert mcp.rpc("tools/list", token=of_inactive).status_code == HTTPStatus.UNAUTHORIZED
    assert mcp.rpc("tools/list", token=of_disabled_app).status_code == HTTPStatus.UNAUTHORIZED


def test_a_token_sent_another_way_than_the_bearer_header_is_refused(mcp, user, application):
    raw = mcp_token(user, application)

    as_basic = mcp.rpc("tools/list", token=None, headers={"Authorization": f"Basic {raw}"})
    in_query = mcp.rpc("tools/list", token=None, path=f"/mcp?access_token={raw}")

    assert as_basic.status_code == HTTPStatus.UNAUTHORIZED
    assert 'error="invalid_token"' in as_basic.headers["WWW-Authenticate"]
    assert in_query.status_code == HTTPStatus.UNAUTHORIZED


def test_a_read_token_gets_403_insufficient_scope_naming_the_scope_to_ask_for_on_create_task(mcp, user, application):
    """RFC 6750 §3.1 and MCP scope challenges: 403 with error="insufficient_scope" and the
    scopes needed, before the tool runs; the body is the tool error ChatGPT reads."""
    response = mcp.call_tool("create_task", {"title": "Not allowed"}, token=mcp_token(user, application, "tasks:read"))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{BOTH}", resource_metadata="{METADATA}", '
        'error_description="This needs the tasks:write scope, which the access token was not granted."'
    )
    result = response.json()["result"]
    assert result["isError"] is True
    assert result["_meta"]["mcp/www_authenticate"] == [
        f'Bearer resource_metadata="{METADATA}", error="insufficient_scope", '
        f'error_description="This needs the tasks:write scope.", scope="{BOTH}"'
    ]
    assert not Task.objects.exists()


def test_a_read_token_reads(mcp, user, application):
    response = mcp.call_tool("list_tasks", token=mcp_token(user, application, "tasks:read"))

    assert response.status_code == HTTPStatus.OK
    assert response.json()["result"]["isError"] is False


def test_a_write_only_token_gets_403_asking_for_both_scopes_on_a_read(mcp, user, application):
    response = mcp.call_tool("list_tasks", token=mcp_token(user, application, "tasks:write"))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert f'scope="{BOTH}"' in response.headers["WWW-Authenticate"]


def test_the_tool_itself_refuses_a_missing_scope_with_the_www_authenticate_meta(
    mcp_portal, transactional_db, user, application
):
    """Behind the HTTP check, the server checks the scope of each tool call again and answers as ChatGPT Apps expect:
    isError with _meta["mcp/www_authenticate"]."""
    from config.asgi import mcp_lifespan
    from tasks.mcp_auth import BearerAuth
    from tests.mcp_http import McpHttp

    without_http_check = McpHttp(portal=mcp_portal, app=BearerAuth(mcp_lifespan, tool_scopes={}))

    response = without_http_check.call_tool(
        "create_task", {"title": "Not allowed"}, token=mcp_token(user, application, "tasks:read")
    )

    assert response.status_code == HTTPStatus.OK
    result = response.json()["result"]
    assert result["isError"] is True
    assert 'error="insufficient_scope"' in result["_meta"]["mcp/www_authenticate"][0]
    assert "tasks:write" in result["content"][0]["text"]
    assert not Task.objects.exists()


def test_the_mcp_endpoint_answers_at_mcp_with_a_trailing_slash_too(mcp, user, application):
    response = mcp.rpc("tools/list", token=mcp_token(user, application), path="/mcp/")

    assert response.status_code == HTTPStatus.OK
    assert len(response.json()["result"]["tools"]) == 6


def test_everything_else_is_still_served_by_django(mcp):
    metadata = mcp.get("/.well-known/oauth-protected-resource/mcp")
    home = mcp.get("/")

    assert metadata.json()["resource"] == MCP
    assert home.status_code == HTTPStatus.OK
    assert "Taskgate" in home.text


def test_a_host_django_does_not_serve_is_refused(mcp, user, application):
    """DNS rebinding protection: the Host header must be one of ALLOWED_HOSTS."""
    response = mcp.rpc("tools/list", token=mcp_token(user, application), headers={"Host": "evil.example"})

    assert response.status_code == HTTPStatus.MISDIRECTED_REQUEST


def test_an_expiring_token_works_until_it_expires(mcp, user, application):
    raw, token = issue_access_token(user=user, application=application, scope=BOTH, resource=[MCP])
    assert mcp.rpc("tools/list", token=raw).status_code == HTTPStatus.OK

    token.expires = timezone.now() - timedelta(seconds=1)
    token.save()

    assert mcp.rpc("tools/list", token=raw).status_code == HTTPStatus.UNAUTHORIZED
