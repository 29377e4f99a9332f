"""Property-based fuzzing (hypothesis) of the token and authorization endpoints.

Whatever form fields or JSON arrive, the answer is never a 5xx (RFC 6749
§5.2: errors are answered, as JSON at the token endpoint) and nothing is
written: no token, code, app or redeemed-code record appears.
"""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.oauth_flow import basic

pytestmark = pytest.mark.django_db

EXAMPLES = 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any text a form may carry, NUL and control characters included (no lone surrogates: not encodable).
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)
TOKEN_FIELDS = [
    "grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "refresh_token",
    "scope", "resource", "username", "password", "device_code", "assertion", "audience", "token",
]  # fmt: skip
AUTHORIZE_FIELDS = [
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "prompt", "max_age", "resource", "request", "request_uri", "response_mode",
    "claims", "id_token_hint", "login_hint", "ui_locales",
]  # fmt: skip
GRANT_TYPES = st.sampled_from(
    ["authorization_code", "refresh_token", "password", "client_credentials", "implicit", "", "\x00"]
)


def form(fields: list[str], known: dict[str, st.SearchStrategy]) -> st.SearchStrategy[dict[str, str]]:
    value_of = {name: st.one_of(known[name], TEXT) if name in known else TEXT for name in fields}
    return st.lists(st.sampled_from(fields), unique=True, max_size=len(fields)).flatmap(
        lambda names: st.fixed_dictionaries({name: value_of[name] for name in names})
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(TEXT, children, max_size=5),
    max_leaves=20,
)


def counts() -> dict[str, int]:
    from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

    from idp.models import Application, RedeemedCode
    from tasks.models import Task

    return {
        "access tokens": get_access_token_model().objects.count(),
        "refresh tokens": get_refresh_token_model().objects.count(),
        "grants": get_grant_model().objects.count(),
        "applications": Application.objects.count(),
        "redeemed codes": RedeemedCode.objects.count(),
        "tasks": Task.objects.count(),
    }


def _known(application) -> dict[str, st.SearchStrategy]:
    return {
        "client_id": st.just(application.client_id),
        "redirect_uri": st.just(application.redirect_uri_list()[0]),
        "grant_type": GRANT_TYPES,
        "response_type": st.sampled_from(["code", "token", "id_token", "code id_token", "none", ""]),
        "code_challenge_method": st.sampled_from(["S256", "plain", "s256", ""]),
        "scope": st.sampled_from(["openid", "openid tasks:read", "tasks:write offline_access", "\x00"]),
    }


def test_the_token_endpoint_answers_any_form_with_a_json_4xx_and_writes_nothing(client, application, settings):
    settings.IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT = "100000/m"
    before = counts()

    @FUZZ
    @given(data=form(TOKEN_FIELDS, _known(application)), authenticate=st.booleans())
    def check(data, authenticate):
        headers = {"HTTP_AUTHORIZATION": basic(application)} if authenticate else {}
        response = client.post("/idp/token", data, **headers)
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (data, response.content)
        assert response["Content-Type"].startswith("application/json"), (data, response.content)
        assert "error" in response.json()

    check()
    assert counts() == before


def test_the_token_and_introspection_endpoints_answer_any_json_body_without_a_5xx(client, application):
    before = counts()

    @FUZZ
    @given(body=JSON, path=st.sampled_from(["/idp/token", "/idp/introspect", "/idp/revoke", "/idp/userinfo"]))
    def check(body, path):
        response = client.post(
            path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=basic(application)
        )
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (path, body, response.content)

    check()
    assert counts() == before


def test_the_authorization_endpoint_answers_any_query_or_form_without_a_5xx_and_writes_nothing(
    logged_in_client, application
):
    before = counts()

    @FUZZ
    @given(data=form(AUTHORIZE_FIELDS, _known(application)), method=st.sampled_from(["get", "post"]))
    def check(data, method):
        # Without "allow", a POST is never a consent: nothing may be issued.
        response = getattr(logged_in_client, method)("/idp", data)
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (method, data, response.content)

    check()
    assert counts() == before
