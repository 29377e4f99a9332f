"""A stand-in upstream OpenID provider on a loopback port, for the upstream login's failure tests.

Only the upstream is faked (it is what would leave the machine): our views,
mozilla-django-oidc and `requests` all run for real against it over HTTP.
Each test can make it misbehave: sign with another key, name another issuer
or audience, let the ID token expire, refuse the code, and so on. The end-to-end
test (tests/e2e/test_upstream_login.py) uses a second Taskgate instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from django.urls import reverse


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# One key pair per test run: generating RSA keys is slow.
UPSTREAM_KEY = new_rsa_key()
FORGER_KEY = new_rsa_key()


@dataclass
class PendingCode:
    nonce: str | None
    code_challenge: str | None
    redirect_uri: str


@dataclass
class FakeUpstream:
    client_id: str = "taskgate-broker"
    client_secret: str = field(default_factory=lambda: "upstream-secret-" + secrets.token_urlsafe(24))
    kid: str = "upstream-key-1"
    claims: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "upstream-subject-1",
            "email": "ada@upstream.example",
            "email_verified": True,
            "given_name": "Ada",
            "family_name": "Lovelace",
            "preferred_username": "ada",
        }
    )
    # Overrides merged into each ID token's claims ({"iss": ...}, {"exp": ...}); None values remove a claim.
    id_token_overrides: dict[str, Any] = field(default_factory=dict)
    id_token_header: dict[str, Any] = field(default_factory=dict)
    sign_with: rsa.RSAPrivateKey | None = None  # another key than the published one: a forgery
    discovery_overrides: dict[str, Any] = field(default_factory=dict)
    discovery_status: int = 200
    token_status: int = 200
    token_body: dict[str, Any] | None = None  # replaces the token response
    userinfo_overrides: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], str]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # every code and token handed out, to look for in logs
    pending: dict[str, PendingCode] = field(default_factory=dict)

    def start(self) -> FakeUpstream:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.port = self.server.server_address[1]
        # A short poll interval: shutdown() waits for one.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, path: str) -> int:
        return sum(1 for _, request_path, _, _ in self.requests if request_path == path)

    # --- What the browser would do at the upstream ---------------------------------

    def authorize(self, location: str) -> dict[str, str]:
        """Log the person in at once, as if they had typed their password; return the callback's query."""
        parts = urlsplit(location)
        assert f"{parts.scheme}://{parts.netloc}" == self.issuer, location
        params = dict(parse_qsl(parts.query))
        code = secrets.token_urlsafe(24)
        self.issued.append(code)
        self.pending[code] = PendingCode(
            nonce=params.get("nonce"), code_challenge=params.get("code_challenge"), redirect_uri=params["redirect_uri"]
        )
        return {"code": code, "state": params["state"], "iss": self.issuer}

    # --- Documents and tokens --------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }
        document.update(self.discovery_overrides)
        return {key: value for key, value in document.items() if value is not None}

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(UPSTREAM_KEY.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def id_token(self, pending: PendingCode) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": pending.nonce,
            **self.claims,
            **self.id_token_overrides,
        }
        claims = {key: value for key, value in claims.items() if value is not None}
        header = {"kid": self.kid, **self.id_token_header}
        algorithm = header.pop("alg", "RS256")
        if algorithm == "none":
            return _unsigned_jwt(claims, header)
        key = self.client_secret if algorithm.startswith("HS") else (self.sign_with or UPSTREAM_KEY)
        return jwt.encode(claims, key, algorithm=algorithm, headers=header)


def _unsigned_jwt(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({**header, 'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _handler(upstream: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the parent's signature
            pass

        def reply(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def record(self, body: str = "") -> str:
            path = urlsplit(self.path).path
            upstream.requests.append((self.command, path, dict(self.headers), body))
            return path

        def do_GET(self):  # noqa: N802 - the parent's naming
            path = self.record()
            if path == "/.well-known/openid-configuration":
                self.reply(upstream.discovery_status, upstream.discovery())
            elif path == "/jwks":
                self.reply(200, upstream.jwks())
            elif path == "/userinfo":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if token not in upstream.issued:
                    self.reply(401, {"error": "invalid_token"})
                else:
                    self.reply(200, {**upstream.claims, **upstream.userinfo_overrides})
            else:
                self.reply(404, {"error": "not_found"})

        def do_POST(self):  # noqa: N802 - the parent's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            path = self.record(body)
            if path != "/token":
                self.reply(404, {"error": "not_found"})
                return
            form = {key: values[0] for key, values in parse_qs(body).items()}
            if not self.client_authenticated(form):
                self.reply(401, {"error": "invalid_client"})
                return
            pending = upstream.pending.pop(form.get("code", ""), None)
            if (
                pending is None
                or form.get("grant_type") != "authorization_code"
                or form.get("redirect_uri") != pending.redirect_uri
                or pending.code_challenge is None
                or s256(form.get("code_verifier", "")) != pending.code_challenge
            ):
                self.reply(400, {"error": "invalid_grant", "error_description": "bad code, redirect URI or PKCE"})
                return
            if upstream.token_status != 200:
                self.reply(upstream.token_status, upstream.token_body or {"error": "server_error"})
                return
            access_token = secrets.token_urlsafe(24)
            id_token = upstream.id_token(pending)
            upstream.issued += [access_token, id_token]
            body = upstream.token_body or {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }
            self.reply(200, body)

        def client_authenticated(self, form: dict[str, str]) -> bool:
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            else:
                client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            return client_id == upstream.client_id and secret == upstream.client_secret

    return Handler


# --- Our side: the login button and the callback, with Django's test client ---

# A pending authorization request, where a login should end.
NEXT = "/idp?client_id=some-client&response_type=code&scope=openid"


def start_login(client, next_url: str = NEXT) -> str:
    """Press our upstream login button; returns the upstream's authorization URL we sent the browser to."""
    response = client.get(reverse("upstream_login"), {"next": next_url})
    assert response.status_code == HTTPStatus.FOUND, response
    return response["Location"]


def upstream_login(client, fake_upstream, **callback_params):
    """Start at our button, log in at the upstream, come back to our callback."""
    query = fake_upstream.authorize(start_login(client))
    query.update(callback_params)
    query = {key: value for key, value in query.items() if value is not None}
    return client.get(reverse("upstream_callback"), query)
