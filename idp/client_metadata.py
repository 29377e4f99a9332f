"""What we make of the metadata a client sends about itself: a request, not a demand.

RFC 7591 §2: "The authorization server MAY reject or replace any of the
client's requested metadata values submitted during the registration and
substitute them with suitable values." Real clients publish more than any one
server serves (Claude's metadata document lists the jwt-bearer grant, ChatGPT's
offers two authentication methods), so a document or registration request is
narrowed to what we serve and refused only when nothing usable remains. The
same rules apply to Client ID Metadata Documents (idp.cimd) and to Dynamic
Client Registration (idp.views.registration.ClientRegistrationView).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

from idp.client_assertions import ClientAssertionError, public_key_set, signing_algorithms
from idp.oauth2_server import GRANT_TYPES, RESPONSE_TYPES

# The CIMD draft (§4.1) forbids methods built on a shared secret: a document
# is public, and nobody issued the client a secret.
SHARED_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
PRIVATE_KEY_JWT = "private_key_jwt"


class ClientMetadataError(ValueError):
    """Metadata we cannot serve, with the one sentence that says why.

    `error` is RFC 7591 §3.2.2's code for a registration response.
    """

    def __init__(self, description: str, error: str = "invalid_client_metadata") -> None:
        super().__init__(description)
        self.description = description
        self.error = error


@dataclass(frozen=True)
class ClientMetadata:
    """The values we register: what the client asked for, narrowed to what we serve."""

    grant_types: list[str]
    response_types: list[str]
    token_endpoint_auth_method: str
    jwks_uri: str = ""
    jwks: dict | None = None
    signing_alg: str = ""
    ignored: dict[str, list[str]] = field(default_factory=dict)

    @property
    def uses_keys(self) -> bool:
        return self.token_endpoint_auth_method == PRIVATE_KEY_JWT

    def describe_ignored(self) -> str:
        return "; ".join(f"{name}: {', '.join(values)}" for name, values in self.ignored.items())


def auth_methods_served(*, metadata_document: bool) -> tuple[str, ...]:
    """The token endpoint authentication methods a client may register with.

    A metadata document's client has no secret; private_key_jwt is offered
    while IDP_PRIVATE_KEY_JWT is on (the discovery documents say the same).
    """
    methods = () if metadata_document else SECRET_METHODS
    methods += ("none",)
    if settings.IDP_PRIVATE_KEY_JWT:
        methods += ("private_key_jwt",)
    return methods


def _string_list(metadata: dict, name: str, default: list[str]) -> list[str]:
    value = metadata.get(name, default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ClientMetadataError(f"{name} must be an array of strings.")
    return value


def _narrow(requested: list[str], served: set[str], name: str, ignored: dict[str, list[str]]) -> list[str]:
    kept = [item for item in requested if item in served]
    dropped = [item for item in requested if item not in served]
    if dropped:
        ignored[name] = dropped
    return list(dict.fromkeys(kept))


def client_metadata_accept(metadata: dict, *, metadata_document: bool) -> ClientMetadata:
    """Narrow `metadata` (RFC 7591 §2) to what we serve, or raise ClientMetadataError.

    - grant_types: those we serve are kept, the rest ignored; the
      authorization code grant must remain (refresh_token alone is no way in).
    - response_types: the same, with `code`.
    - token_endpoint_auth_method: the declared method when we serve it;
      otherwise the first of `token_endpoint_auth_methods_supported` (a
      member ChatGPT publishes) that we serve. A metadata document declaring
      a shared-secret method is refused (CIMD draft §4.1).
    - private_key_jwt needs the client's public keys: `jwks_uri` or `jwks`,
      not both (RFC 7591 §2).
    Members we do not know are ignored.
    """
    ignored: dict[str, list[str]] = {}
    grant_types = _narrow(
        _string_list(metadata, "grant_types", ["authorization_code"]), GRANT_TYPES, "grant_types", ignored
    )
    if "authorization_code" not in grant_types:
        raise ClientMetadataError(
            "grant_types must include authorization_code, the only way in that Taskgate serves (with refresh_token)."
        )
    requested_response_types = _string_list(metadata, "response_types", ["code"])
    response_types = _narrow(requested_response_types, RESPONSE_TYPES, "response_types", ignored)
    if not response_types:
        raise ClientMetadataError('response_types must include "code", the only response type Taskgate serves.')

    method = _auth_method(metadata, metadata_document=metadata_document, ignored=ignored)
    if method != "private_key_jwt":
        return ClientMetadata(grant_types, response_types, method, ignored=ignored)
    return _with_keys(metadata, grant_types, response_types, ignored)


def _auth_method(metadata: dict, *, metadata_document: bool, ignored: dict[str, list[str]]) -> str:
    served = auth_methods_served(metadata_document=metadata_document)
    # RFC 7591 §2's default is client_secret_basic; a document has no secret, so its default is none.
    declared = metadata.get("token_endpoint_auth_method", "none" if metadata_document else "client_secret_basic")
    if not isinstance(declared, str):
        raise ClientMetadataError("token_endpoint_auth_method must be a string.")
    if metadata_document and declared in SHARED_SECRET_METHODS:
        raise ClientMetadataError(
            f"A client metadata document cannot use token_endpoint_auth_method {declared!r}: "
            "methods built on a shared secret are not allowed (CIMD §4.1)."
        )
    if declared in served:
        return declared
    offered = metadata.get("token_endpoint_auth_methods_supported")
    if isinstance(offered, list):
        for method in offered:
            if isinstance(method, str) and method in served:
                ignored["token_endpoint_auth_method"] = [declared]
                return method
    raise ClientMetadataError(
        f"token_endpoint_auth_method {declared!r} is not one Taskgate serves; use one of: {', '.join(served)}."
    )


def _with_keys(metadata, grant_types, response_types, ignored) -> ClientMetadata:
    jwks_uri = metadata.get("jwks_uri")
    jwks = metadata.get("jwks")
    if jwks_uri is not None and jwks is not None:
        raise ClientMetadataError("Send jwks_uri or jwks, not both (RFC 7591 §2).")
    if jwks_uri is None and jwks is None:
        raise ClientMetadataError("private_key_jwt needs the client's public keys: send jwks_uri or jwks.")
    if jwks_uri is not None:
        parts = urlsplit(jwks_uri) if isinstance(jwks_uri, str) else None
        if parts is None or parts.scheme != "https" or not parts.hostname or len(jwks_uri) > 500:
            raise ClientMetadataError("jwks_uri must be an https URL of at most 500 characters.")
    else:
        try:
            public_key_set(jwks)
        except ClientAssertionError as error:
            raise ClientMetadataError(f"jwks: {error}") from None
    signing_alg = metadata.get("token_endpoint_auth_signing_alg", "")
    if signing_alg and signing_alg not in signing_algorithms():
        raise ClientMetadataError(
            f"token_endpoint_auth_signing_alg {signing_alg!r} is not one Taskgate accepts; "
            f"use one of: {', '.join(signing_algorithms())}."
        )
    return ClientMetadata(
        grant_types,
        response_types,
        "private_key_jwt",
        jwks_uri=jwks_uri or "",
        jwks=jwks,
        signing_alg=signing_alg,
        ignored=ignored,
    )
