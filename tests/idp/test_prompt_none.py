"""prompt=none (OpenID Connect Core §3.1.2.1): never a page, and never a 500."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.oauth_flow import authorize

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("logged_in", [True, False])
def test_prompt_none_answers_the_client_with_an_error_it_can_act_on(client, user, application, logged_in):
    """§3.1.2.6: "login_required" or "consent_required" when the OP would need to show a page.
    We never authorize silently, so the client is sent back with one of those."""
    if logged_in:
        client.force_login(user)

    response = authorize(
        client,
        client_id=application.client_id,
        redirect_uri=application.redirect_uri_list()[0],
        scope="openid tasks:read",
        prompt="none",
    )

    assert response.status_code in (HTTPStatus.FOUND, HTTPStatus.SEE_OTHER), response.content[:300]
    params = parse_qs(urlsplit(response["Location"]).query)
    assert params["error"][0] in ("login_required", "consent_required", "interaction_required")
    assert params["state"] == ["xyz"]
