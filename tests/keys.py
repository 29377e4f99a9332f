"""A client's signing keys for private_key_jwt (RFC 7523 §2.2), made for a test."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


@dataclass
class ClientKey:
    """A private key, its public JWK, and assertions signed with it."""

    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    algorithm: str = "RS256"

    def __post_init__(self) -> None:
        if self.algorithm == "ES256":
            self.private_key = ec.generate_private_key(ec.SECP256R1())
            public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key()))
        else:
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        self.public_jwk = {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    @property
    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwks(self, *others: ClientKey) -> dict:
        return {"keys": [self.public_jwk, *(other.public_jwk for other in others)]}

    def assertion(self, *, client_id: str, audience: str, lifetime: int = 60, headers=None, **claims) -> str:
        """A client assertion as RFC 7523 §3 describes it; `claims` override or (as None) drop members."""
        now = int(time.time())
        payload = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid, **(headers or {})}
        )
