"""An authorization code flow with Django's test client: the browser's part, then the client's at the token endpoint."""

from __future__ import annotations

import base64
import json
import re
from contextlib import contextmanager
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

from django.db import connection
from django.test.utils import CaptureQueriesContext
from jwcrypto import jwk, jwt

from tests.fixtures import pkce_pair


def redirect_params(response) -> dict[str, str]:
    """The query of a redirect to the client, one value per name."""
    return {name: values[0] for name, values in parse_qs(urlsplit(response["Location"]).query).items()}


def authorize(client, *, client_id: str, redirect_uri: str, scope: str = "tasks:read", resource=None, **extra):
    """GET the consent page as the client's user; returns the response."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    if resource is not None:
        params["resource"] = resource
    response = client.get("/idp", params)
    response.code_verifier = verifier
    return response


def consent(client, consent_page, **changes):
    """POST the consent form as shown, pressing Allow; `changes` alter its hidden fields."""
    assert consent_page.status_code == HTTPStatus.OK, consent_page.content[:500]
    data = consent_form_data(consent_page)
    data.update(changes, allow="Authorize")
    return client.post("/idp", data)


def authorization_code(client, **kwargs) -> tuple[str, str]:
    """Authorize and consent (unless consent was given before); returns (code, code_verifier)."""
    page = authorize(client, **kwargs)
    if page.status_code == HTTPStatus.FOUND:  # the same scopes were allowed before (REQUEST_APPROVAL_PROMPT)
        return redirect_params(page)["code"], page.code_verifier
    response = consent(client, page)
    assert response.status_code == HTTPStatus.SEE_OTHER, response.content[:500]
    return redirect_params(response)["code"], page.code_verifier


def token_request(client, application, **data):
    """POST to the token endpoint as `application` (client_secret_post when it has a secret)."""
    body = {"client_id": application.client_id, **data}
    secret = getattr(application, "client_secret_plain", None)
    if secret and not application.is_public:
        body["client_secret"] = secret
    return client.post("/idp/token", body)


ISSUER = "http://127.0.0.1:8000"


def authorize_url(application, **overrides) -> str:
    """The authorization request's URL for `application`, with PKCE; an override of None leaves a parameter out."""
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": application.client_id,
        "redirect_uri": application.redirect_uri_list()[0],
        "scope": "openid profile email",
        "state": "xyz-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return "/idp?" + urlencode({key: value for key, value in params.items() if value is not None})


def consent_form_data(response) -> dict[str, str]:
    """The consent form's fields as the page shows them."""
    form = response.context["form"]
    return {name: value for name, value in form.initial.items() if value is not None}


def obtain_code(client, application, *, scope="openid profile email", challenge=None, nonce=None) -> str:
    """Ask for a code as the logged-in `client` and press Allow; returns the code."""
    page = client.get(authorize_url(application, scope=scope, code_challenge=challenge, nonce=nonce))
    response = client.post("/idp", {**consent_form_data(page), "allow": "Authorize"})
    return redirect_params(response)["code"]


def basic(application, secret=None) -> str:
    """An HTTP Basic Authorization header of the app's client ID and secret (client_secret_basic)."""
    raw = f"{application.client_id}:{secret or application.client_secret_plain}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def exchange(client, application, code, verifier, **extra):
    """Exchange a code for tokens, authenticating with client_secret_basic."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": application.redirect_uri_list()[0],
        "code_verifier": verifier,
        **extra,
    }
    return client.post("/idp/token", data, HTTP_AUTHORIZATION=basic(application))


def verify_id_token(client, id_token: str) -> dict:
    """The ID token's claims, once its signature is checked against /idp/jwks."""
    keyset = jwk.JWKSet.from_json(client.get("/idp/jwks").content)
    return json.loads(jwt.JWT(jwt=id_token, key=keyset, algs=["RS256"]).claims)


def next_code(client, application, challenge: str) -> str:
    """A code for a consent given already (REQUEST_APPROVAL_PROMPT "auto" skips the page)."""
    response = client.get(authorize_url(application, scope="openid profile email", code_challenge=challenge))
    return redirect_params(response)["code"]


# A refresh and a code exchange, as the database receives them outside a test (pinned by
# tests/idp/test_token_storage.py and tests/idp/test_amr.py): one read (the
# code or the refresh token, with its app, person and the login behind it), the ID token, the
# tokens, the audit event, the login copied to the new ID token (OpenID Connect `amr`,
# `auth_time`: when the login was recorded), and BEGIN and COMMIT. Issue 14's budget is 10.
TOKEN_REQUEST_STATEMENTS = 9


@contextmanager
def at_most_statements_sent(limit: int):
    """At most `limit` statements reach the database as a server would send them.

    In a test each atomic block is a savepoint of the test's transaction.
    Outside one, the request's single transaction costs a BEGIN and a COMMIT,
    and DOT's atomic block around the ID token's row (which our validator saves
    with the tokens) sends nothing: psycopg begins a transaction at its first
    statement and commits none that did not begin. So savepoints are left out
    and the transaction counted as two statements.
    """
    with CaptureQueriesContext(connection) as captured:
        yield
    sent = [query["sql"] for query in captured.captured_queries if not _SAVEPOINT.match(query["sql"])]
    assert len(sent) + 2 <= limit, f"{len(sent)} statements and BEGIN and COMMIT:\n" + "\n".join(sent)


_SAVEPOINT = re.compile(r"(RELEASE |ROLLBACK TO )?SAVEPOINT ")
