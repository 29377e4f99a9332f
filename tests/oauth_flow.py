"""The browser's part of an authorization, with Django's test client."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

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
    form = consent_page.context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
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
