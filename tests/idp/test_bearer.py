"""One bearer-token rule (idp.bearer) for the task API, /mcp, userinfo and introspection."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.conf import settings

from idp.bearer import APP_DISABLED, EXPIRED, UNKNOWN, USER_INACTIVE, audience_allows, bearer_verify
from tests.fixtures import issue_access_token
from tests.oauth_flow import basic

MCP = f"{settings.SITE_URL}/mcp"
API = f"{settings.SITE_URL}/api"
USERINFO = f"{settings.SITE_URL}/idp/userinfo"


def used_everywhere(client, mcp, application, api_token: str, mcp_token: str) -> dict:
    def introspected(raw: str) -> bool:
        return client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application)).json()["active"]

    return {
        "api": client.get("/api/tasks", headers={"Authorization": f"Bearer {api_token}"}).status_code,
        "userinfo": client.get("/idp/userinfo", headers={"Authorization": f"Bearer {api_token}"}).status_code,
        "mcp": mcp.rpc("tools/list", token=mcp_token).status_code,
        "introspect": (introspected(api_token), introspected(mcp_token)),
    }


def test_a_token_of_a_person_made_inactive_is_refused_everywhere_and_introspects_as_inactive(
    client, mcp, user, application
):
    """RFC 7662 §2.2: "active" says whether the token "is currently active"; one rule answers
    at every entry point, so a token the API refuses is refused at userinfo and /mcp too."""
    api_token, _ = issue_access_token(user=user, application=application, scope="openid tasks:read")
    mcp_token, _ = issue_access_token(user=user, application=application, scope="tasks:read", resource=[MCP])
    assert used_everywhere(client, mcp, application, api_token, mcp_token) == {
        "api": HTTPStatus.OK,
        "userinfo": HTTPStatus.OK,
        "mcp": HTTPStatus.OK,
        "introspect": (True, True),
    }

    user.is_active = False
    user.save()

    assert used_everywhere(client, mcp, application, api_token, mcp_token) == {
        "api": HTTPStatus.UNAUTHORIZED,
        "userinfo": HTTPStatus.UNAUTHORIZED,
        "mcp": HTTPStatus.UNAUTHORIZED,
        "introspect": (False, False),
    }


def test_introspection_reports_the_tokens_audience_scope_expiry_client_and_person(client, user, application):
    """RFC 7662 §2.2: scope, client_id, username, exp, and aud (RFC 8707 resource)."""
    raw, token = issue_access_token(user=user, application=application, scope="tasks:read openid", resource=[MCP])

    answer = client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application)).json()

    assert answer == {
        "active": True,
        "scope": "tasks:read openid",
        "exp": int(token.expires.timestamp()),
        "client_id": application.client_id,
        "username": user.get_username(),
        "aud": [MCP],
    }


@pytest.mark.parametrize(
    ("audience", "resource", "allowed"),
    [
        ([], API, True),
        ([], USERINFO, True),
        ([], MCP, False),
        ([API], API, True),
        ([MCP], MCP, True),
        ([MCP], API, False),
        ([API], USERINFO, False),
        ([MCP, API], MCP, False),
        ([settings.SITE_URL], API, False),
    ],
)
def test_a_token_is_for_the_one_resource_it_names_or_without_one_for_any_but_mcp(audience, resource, allowed):
    """RFC 8707 §2 and MCP authorization: servers "MUST validate that access tokens were issued
    specifically for them as the intended audience"."""
    assert audience_allows(audience, resource) is allowed


def test_each_refusal_says_why(db, user, other_user, application):
    from tests.factories import ApplicationFactory

    expired, _ = issue_access_token(user=user, application=application, scope="tasks:read", expires_in=-1)
    of_inactive, _ = issue_access_token(user=other_user, application=application, scope="tasks:read")
    other_user.is_active = False
    other_user.save()
    of_disabled, _ = issue_access_token(user=user, application=ApplicationFactory(is_enabled=False), scope="tasks:read")
    for_mcp, _ = issue_access_token(user=user, application=application, scope="tasks:read", resource=[MCP])

    assert bearer_verify(raw_token="not-a-token", resource=API).problem == UNKNOWN
    assert bearer_verify(raw_token=expired, resource=API).problem == EXPIRED
    assert bearer_verify(raw_token=of_inactive, resource=API).problem == USER_INACTIVE
    assert bearer_verify(raw_token=of_disabled, resource=API).problem == APP_DISABLED
    assert bearer_verify(raw_token=for_mcp, resource=API).problem == (
        f"The access token was not issued for {API} (RFC 8707 resource): it was issued for another resource."
    )
    assert bearer_verify(raw_token=for_mcp, resource=None).grant is not None, "introspection: any audience"


@pytest.mark.parametrize("raw", ["\x00", "\ud800", "é" * 5000, ""])
def test_a_malformed_token_is_unknown_not_an_error(db, raw):
    assert bearer_verify(raw_token=raw, resource=API).problem == UNKNOWN


def test_a_cached_grant_is_handed_out_with_a_user_of_its_own(db, token_cache_live, user, application):
    raw, _ = issue_access_token(user=user, application=application, scope="tasks:read")

    first = bearer_verify(raw_token=raw, resource=API).grant
    first.user.first_name = "changed by one request"

    assert bearer_verify(raw_token=raw, resource=API).grant.user.first_name != "changed by one request"
