"""private_key_jwt client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9).

A client that registered its public keys proves who it is with a JWT signed
by its private key, at the token, revocation and introspection endpoints.
Every bad assertion gets `invalid_client` (RFC 6749 §5.2) and nothing is issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
import uuid
from http import HTTPStatus

import jwt
import pytest
from django.core.cache import cache
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.settings import oauth2_settings

from idp.client_assertions import ASSERTION_TYPE
from idp.models import Application, ClientKeys, UsedClientAssertion
from tests.keys import ClientKey
from tests.metadata_documents import MetadataDocumentServer
from tests.oauth_flow import authorization_code

pytestmark = pytest.mark.django_db

CALLBACK = "http://127.0.0.1:33418/callback"
MCP = "http://127.0.0.1:8000/mcp"
TOKEN_URL = "http://127.0.0.1:8000/idp/token"
ISSUER = "http://127.0.0.1:8000"


@pytest.fixture
def key() -> ClientKey:
    return ClientKey()


@pytest.fixture
def documents(settings):
    settings.IDP_CIMD_ALLOW_LOOPBACK = True
    cache.clear()  # cached key sets and DOT's fetch backoff
    with MetadataDocumentServer() as server:
        yield server


def register(client, **metadata) -> str:
    body = {
        "client_name": "A client with keys",
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "private_key_jwt",
        **metadata,
    }
    response = client.post("/idp/register", json.dumps(body), content_type="application/json")
    assert response.status_code == HTTPStatus.CREATED, response.content
    return response.json()["client_id"]


def exchange(client, logged_in_client, app_id: str, **authentication):
    code, verifier = authorization_code(
        logged_in_client, client_id=app_id, redirect_uri=CALLBACK, scope="tasks:read", resource=MCP
    )
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
        "resource": MCP,
        **authentication,
    }
    return client.post("/idp/token", {name: value for name, value in body.items() if value is not None})


def signed(assertion: str) -> dict:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}


def tokens_of(client_id: str) -> int:
    """The tokens issued to the client, besides its registration access token (RFC 7592)."""
    return (
        get_access_token_model()
        .objects.filter(application__client_id=client_id)
        .exclude(scope=oauth2_settings.DCR_REGISTRATION_SCOPE)
        .count()
        + get_refresh_token_model().objects.filter(application__client_id=client_id).count()
    )


def test_a_client_registered_with_a_jwks_gets_tokens_with_a_signed_assertion(client, logged_in_client, key):
    """RFC 7523 §2.2: client_assertion_type jwt-bearer and a client_assertion signed by the client's key."""
    client_id = register(client, jwks=key.jwks())

    response = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    )

    assert response.status_code == HTTPStatus.OK, response.content
    assert response.json()["refresh_token"]
    application = Application.objects.get(client_id=client_id)
    assert application.is_public, "no secret was issued: its key is its proof"
    assert ClientKeys.objects.get(client_id=client_id).token_endpoint_auth_method == "private_key_jwt"


def test_the_issuer_is_accepted_as_the_audience(client, logged_in_client, key):
    """RFC 7523 §3 item 3: the audience may be the authorization server's issuer identifier."""
    client_id = register(client, jwks=key.jwks())

    response = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=ISSUER))
    )

    assert response.status_code == HTTPStatus.OK, response.content


def test_an_es256_key_works_too(client, logged_in_client):
    key = ClientKey(algorithm="ES256")
    client_id = register(client, jwks=key.jwks())

    response = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    )

    assert response.status_code == HTTPStatus.OK, response.content


def test_the_client_id_may_be_left_out_of_the_request(client, logged_in_client, key):
    """RFC 7521 §4.2: the assertion's issuer names the client; client_id is then optional."""
    client_id = register(client, jwks=key.jwks())

    response = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    )
    assert response.status_code == HTTPStatus.OK

    response = client.post(
        "/idp/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": response.json()["refresh_token"],
            **signed(key.assertion(client_id=client_id, audience=TOKEN_URL)),
        },
    )
    assert response.status_code == HTTPStatus.OK, response.content


def _hs256_with_the_public_key(key: ClientKey, client_id: str) -> str:
    """The classic algorithm confusion: HMAC "signed" with the published public key as the secret."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": now + 60, "jti": uuid.uuid4().hex}
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(key.public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


BAD_ASSERTIONS = {
    "the audience is another server": lambda key, cid: key.assertion(
        client_id=cid, audience="https://elsewhere.example/token"
    ),
    "it has expired": lambda key, cid: key.assertion(client_id=cid, audience=TOKEN_URL, exp=int(time.time()) - 300),
    "it has no exp": lambda key, cid: key.assertion(client_id=cid, audience=TOKEN_URL, exp=None),
    "its exp is a day ahead": lambda key, cid: key.assertion(client_id=cid, audience=TOKEN_URL, lifetime=86400),
    "it has no jti": lambda key, cid: key.assertion(client_id=cid, audience=TOKEN_URL, jti=None),
    "its iss is another client": lambda key, cid: key.assertion(client_id=cid, audience=TOKEN_URL, iss="someone-else"),
    "its sub is another client": lambda key, cid: key.assertion(client_id=cid, audience=TOKEN_URL, sub="someone-else"),
    "its kid is unknown": lambda key, cid: key.assertion(client_id=cid, audience=TOKEN_URL, headers={"kid": "nope"}),
    "it is signed by a key that is not in the JWKS": lambda key, cid: ClientKey(kid=key.kid).assertion(
        client_id=cid, audience=TOKEN_URL
    ),
    "alg is none": lambda key, cid: jwt.encode(
        {"iss": cid, "sub": cid, "aud": TOKEN_URL, "exp": int(time.time()) + 60, "jti": uuid.uuid4().hex},
        None,
        algorithm="none",
    ),
    "HS256 signed with the public key as the secret": _hs256_with_the_public_key,
    "it is not a JWT": lambda key, cid: "not-a-jwt",
}


@pytest.mark.parametrize("why", BAD_ASSERTIONS)
def test_a_bad_assertion_is_invalid_client_and_nothing_is_issued(client, logged_in_client, key, why):
    client_id = register(client, jwks=key.jwks())

    response = exchange(client, logged_in_client, client_id, **signed(BAD_ASSERTIONS[why](key, client_id)))

    assert response.status_code == HTTPStatus.UNAUTHORIZED, why
    assert response.json()["error"] == "invalid_client"
    assert tokens_of(client_id) == 0


def test_a_replayed_assertion_is_refused(client, logged_in_client, key):
    """RFC 7523 §3 item 7: "The authorization server MAY ensure that JWTs are not replayed"; we do, by jti."""
    client_id = register(client, jwks=key.jwks())
    assertion = key.assertion(client_id=client_id, audience=TOKEN_URL)
    assert exchange(client, logged_in_client, client_id, **signed(assertion)).status_code == HTTPStatus.OK
    issued = tokens_of(client_id)

    response = exchange(client, logged_in_client, client_id, **signed(assertion))

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_client"
    assert tokens_of(client_id) == issued
    assert UsedClientAssertion.objects.count() == 1


@pytest.mark.parametrize(
    ("authentication", "why"),
    [
        ({}, "no assertion: a client with keys cannot act as a public client"),
        ({"client_assertion_type": "urn:example:other"}, "another assertion type"),
        ({"client_secret": "guess"}, "a secret"),
    ],
)
def test_a_client_with_keys_must_authenticate_with_them(client, logged_in_client, key, authentication, why):
    client_id = register(client, jwks=key.jwks())
    if "client_assertion_type" in authentication:
        authentication["client_assertion"] = key.assertion(client_id=client_id, audience=TOKEN_URL)

    response = exchange(client, logged_in_client, client_id, client_id=client_id, **authentication)

    assert response.status_code == HTTPStatus.UNAUTHORIZED, why
    assert tokens_of(client_id) == 0


def test_an_assertion_beside_a_secret_is_refused(client, logged_in_client, key):
    """RFC 6749 §2.3: a client "MUST NOT use more than one authentication method in each request"."""
    client_id = register(client, jwks=key.jwks())
    assertion = key.assertion(client_id=client_id, audience=TOKEN_URL)

    response = exchange(client, logged_in_client, client_id, client_secret="x", **signed(assertion))

    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_a_public_client_cannot_authenticate_with_an_assertion_it_has_no_keys_for(client, logged_in_client, key):
    response = client.post(
        "/idp/register",
        json.dumps({"client_name": "Public", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}),
        content_type="application/json",
    )
    client_id = response.json()["client_id"]

    response = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    )

    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_a_refresh_needs_the_key_as_the_code_exchange_did(client, logged_in_client, key):
    """A refresh token got with the key is of no use without it (RFC 6749 §6: the client authenticates)."""
    client_id = register(client, jwks=key.jwks())
    tokens = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    )
    refresh_token = tokens.json()["refresh_token"]

    without = client.post(
        "/idp/token", {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    )
    with_key = client.post(
        "/idp/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            **signed(key.assertion(client_id=client_id, audience=TOKEN_URL)),
        },
    )

    assert without.status_code == HTTPStatus.UNAUTHORIZED
    assert with_key.status_code == HTTPStatus.OK, with_key.content


def test_revocation_and_introspection_accept_the_assertion(client, logged_in_client, key):
    """RFC 7009 §2.1 and RFC 7662 §2.1: the client authenticates as at the token endpoint."""
    client_id = register(client, jwks=key.jwks())
    tokens = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    ).json()

    introspected = client.post(
        "/idp/introspect",
        {
            "token": tokens["access_token"],
            **signed(key.assertion(client_id=client_id, audience=f"{ISSUER}/idp/introspect")),
        },
    )
    unauthenticated = client.post("/idp/introspect", {"token": tokens["access_token"], "client_id": client_id})
    revoked = client.post(
        "/idp/revoke",
        {"token": tokens["refresh_token"], **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))},
    )
    after = client.post(
        "/idp/introspect",
        {"token": tokens["access_token"], **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))},
    )

    assert introspected.status_code == HTTPStatus.OK, introspected.content
    assert introspected.json()["active"] is True
    assert introspected.json()["client_id"] == client_id
    assert unauthenticated.status_code == HTTPStatus.UNAUTHORIZED
    assert revoked.status_code == HTTPStatus.OK, revoked.content
    assert after.json() == {"active": False}


def test_a_revocation_with_a_bad_assertion_revokes_nothing(client, logged_in_client, key):
    client_id = register(client, jwks=key.jwks())
    tokens = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    ).json()

    response = client.post(
        "/idp/revoke",
        {
            "token": tokens["refresh_token"],
            **signed(ClientKey(kid=key.kid).assertion(client_id=client_id, audience=TOKEN_URL)),
        },
    )

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert get_refresh_token_model().objects.get(application__client_id=client_id).revoked is None


# --- Keys published at a jwks_uri -------------------------------------------------


def test_keys_at_a_jwks_uri_are_fetched_cached_and_fetched_again_for_a_new_kid(
    client, logged_in_client, documents, key
):
    """A client rotates its keys by publishing a new one: an unknown kid fetches the JWKS again, once."""
    jwks_uri = documents.serve("/jwks.json", key.jwks())
    client_id = register(client, jwks_uri=jwks_uri)

    first = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    )
    second = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    )
    assert (first.status_code, second.status_code) == (HTTPStatus.OK, HTTPStatus.OK)
    assert documents.fetches == ["/jwks.json"], "fetched once, then from the cache"

    rotated = ClientKey()
    documents.serve("/jwks.json", rotated.jwks())
    third = exchange(
        client, logged_in_client, client_id, **signed(rotated.assertion(client_id=client_id, audience=TOKEN_URL))
    )

    assert third.status_code == HTTPStatus.OK, third.content
    assert documents.fetches == ["/jwks.json", "/jwks.json"]


def test_an_unknown_kid_fetches_the_jwks_once_and_then_is_refused(client, logged_in_client, documents, key):
    jwks_uri = documents.serve("/jwks.json", key.jwks())
    client_id = register(client, jwks_uri=jwks_uri)
    stranger = ClientKey()

    for _ in range(3):
        response = exchange(
            client, logged_in_client, client_id, **signed(stranger.assertion(client_id=client_id, audience=TOKEN_URL))
        )
        assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert documents.fetches == ["/jwks.json", "/jwks.json"], "made-up key IDs cannot make us fetch at will"


def test_a_jwks_uri_on_a_private_address_is_never_fetched(client, logged_in_client, documents, key, settings):
    """The metadata document's SSRF guards apply to keys too: no loopback or private address."""
    jwks_uri = documents.serve("/jwks.json", key.jwks())
    client_id = register(client, jwks_uri=jwks_uri)
    settings.IDP_CIMD_ALLOW_LOOPBACK = False

    response = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    )

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert documents.fetches == []
    assert tokens_of(client_id) == 0


def test_a_jwks_that_is_too_large_is_refused(client, logged_in_client, documents, key):
    jwks_uri = documents.serve("/jwks.json", {**key.jwks(), "padding": "x" * 20_000})
    client_id = register(client, jwks_uri=jwks_uri)

    response = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    )

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert tokens_of(client_id) == 0


def test_a_jwks_that_is_too_slow_is_refused(client, logged_in_client, documents, key, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CIMD_FETCH_TIMEOUT_SECONDS": 0.5}
    jwks_uri = documents.serve("/jwks.json", key.jwks())
    documents.delays["/jwks.json"] = 2
    client_id = register(client, jwks_uri=jwks_uri)

    response = exchange(
        client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL))
    )

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert tokens_of(client_id) == 0


@pytest.mark.parametrize(
    "jwks",
    [
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
        "not an object",
    ],
)
def test_a_published_jwks_of_secret_or_no_keys_is_refused_at_registration(client, key, jwks):
    response = client.post(
        "/idp/register",
        json.dumps(
            {
                "client_name": "x",
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": jwks,
            }
        ),
        content_type="application/json",
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_client_metadata"
    assert not Application.objects.exists()


def test_a_private_key_in_a_published_jwks_is_refused(client, key):
    jwks = {"keys": [{**key.public_jwk, "d": "AAAA"}]}
    response = client.post(
        "/idp/register",
        json.dumps(
            {
                "client_name": "x",
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": jwks,
            }
        ),
        content_type="application/json",
    )

    assert response.json()["error"] == "invalid_client_metadata"
    assert "private" in response.json()["error_description"]


def test_jwks_uri_and_jwks_together_are_refused(client, key):
    """RFC 7591 §2: "The jwks_uri and jwks parameters MUST NOT both be present"."""
    response = client.post(
        "/idp/register",
        json.dumps(
            {
                "client_name": "x",
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": key.jwks(),
                "jwks_uri": "https://keys.example.com/jwks.json",
            }
        ),
        content_type="application/json",
    )

    assert response.json()["error"] == "invalid_client_metadata"


def test_expired_assertions_are_forgotten_by_clear_expired(client, logged_in_client, key):
    from django.core.management import call_command
    from django.utils import timezone

    client_id = register(client, jwks=key.jwks())
    exchange(client, logged_in_client, client_id, **signed(key.assertion(client_id=client_id, audience=TOKEN_URL)))
    UsedClientAssertion.objects.update(expires_at=timezone.now())

    call_command("clear_expired", stdout=io.StringIO())

    assert not UsedClientAssertion.objects.exists()
