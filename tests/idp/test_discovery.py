"""The discovery documents, pinned whole (OpenID Connect Discovery 1.0 §4, RFC 8414 §3)."""

from __future__ import annotations

from http import HTTPStatus

import pytest

ISSUER = "http://127.0.0.1:8000"

EXPECTED = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/idp",
    "token_endpoint": f"{ISSUER}/idp/token",
    "revocation_endpoint": f"{ISSUER}/idp/revoke",
    "introspection_endpoint": f"{ISSUER}/idp/introspect",
    "userinfo_endpoint": f"{ISSUER}/idp/userinfo",
    "jwks_uri": f"{ISSUER}/idp/jwks",
    "end_session_endpoint": f"{ISSUER}/idp/logout",
    "registration_endpoint": f"{ISSUER}/idp/register",
    "response_types_supported": ["code"],
    "grant_types_supported": ["authorization_code", "refresh_token"],
    "scopes_supported": ["openid", "profile", "email", "tasks:read", "tasks:write"],
    "code_challenge_methods_supported": ["S256"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none", "private_key_jwt"],
    "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
    "revocation_endpoint_auth_methods_supported": [
        "client_secret_basic",
        "client_secret_post",
        "none",
        "private_key_jwt",
    ],
    "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
    "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
    "introspection_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
    "authorization_response_iss_parameter_supported": True,
    "client_id_metadata_document_supported": True,
    "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256"],
    "claims_supported": ["amr", "auth_time", "email", "email_verified", "name", "preferred_username", "sub"],
    "prompt_values_supported": ["none", "login"],
    "request_parameter_supported": False,
    "claims_parameter_supported": False,
}


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])
def test_discovery_documents_are_pinned_whole(client, path):
    response = client.get(path)

    assert response.status_code == HTTPStatus.OK
    assert response.json() == EXPECTED


def test_private_key_jwt_is_advertised_only_while_it_is_served(client, settings):
    """RFC 8414 §2: a method is listed only when the endpoint accepts it; off, no algorithms are listed either."""
    settings.IDP_PRIVATE_KEY_JWT = False

    document = client.get("/.well-known/oauth-authorization-server").json()

    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    assert not [name for name in document if name.endswith("_auth_signing_alg_values_supported")]


def test_both_discovery_documents_agree_on_issuer_and_endpoints(client):
    """RFC 8414 §3.3: the issuer in the document equals the issuer the client started from."""
    oidc = client.get("/.well-known/openid-configuration").json()
    oauth = client.get("/.well-known/oauth-authorization-server").json()

    assert oidc == oauth
    assert oidc["issuer"] == ISSUER


def test_jwks_publishes_the_rs256_signing_key(client):
    keys = client.get("/idp/jwks").json()["keys"]

    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["alg"] == "RS256"
    assert keys[0]["use"] == "sig"
    assert "d" not in keys[0], "the private exponent must never be published"
