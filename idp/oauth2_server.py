"""The oauthlib server behind DOT (OAUTH2_PROVIDER["OAUTH2_SERVER_CLASS"])."""

from __future__ import annotations

import re
import secrets

from oauthlib.oauth2.rfc6749 import errors
from oauthlib.openid import Server

# RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters of the base64url alphabet.
S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def require_s256_code_challenge(request) -> dict:
    """RFC 9700 §2.1.1: only S256. Refused before the consent page is shown.

    Without this, a `plain` (or method-less, which RFC 7636 §4.3 reads as
    plain) challenge is refused only after the person has approved.
    """
    if request.code_challenge is None:
        if request.code_challenge_method is not None:
            raise errors.InvalidRequestError(
                description="code_challenge_method was sent without a code_challenge.", request=request
            )
        return {}
    if request.code_challenge_method != "S256":
        raise errors.InvalidRequestError(
            description="Only the S256 code_challenge_method is supported; send code_challenge_method=S256.",
            request=request,
        )
    if not S256_CHALLENGE.fullmatch(request.code_challenge):
        raise errors.InvalidRequestError(
            description="code_challenge must be the 43-character BASE64URL(SHA256(code_verifier)).",
            request=request,
        )
    return {}


def token_value(request, refresh_token: bool = False) -> str:
    """An access or refresh token's value (OAUTH2_PROVIDER["ACCESS_TOKEN_GENERATOR"] and
    ["REFRESH_TOKEN_GENERATOR"]): 32 random bytes from the operating system, base64url, 43 characters.

    RFC 6749 §10.10: the chance of guessing a token MUST be at most 2^-128 and
    SHOULD be at most 2^-160; this is 2^-256. oauthlib's default draws 30
    characters one at a time from SystemRandom, a system call each, which was
    4% of a refresh's CPU for its two tokens (benchmarks/README.md).
    """
    return secrets.token_urlsafe(32)


# OAuth 2.1 keeps the authorization code (with PKCE) and refresh tokens; the
# implicit and password grants are gone (RFC 9700 §2.1.2, §2.4), and we serve
# no machine-to-machine or device clients. Anything else is
# unsupported_response_type / unsupported_grant_type (RFC 6749 §4.1.2.1, §5.2).
RESPONSE_TYPES = {"code"}
GRANT_TYPES = {"authorization_code", "refresh_token"}


class TaskgateServer(Server):
    """oauthlib's OpenID Connect server, cut down to what we serve, with our checks."""

    def __init__(self, request_validator, *args, **kwargs) -> None:
        super().__init__(request_validator, *args, **kwargs)
        self._response_types = {key: value for key, value in self._response_types.items() if key in RESPONSE_TYPES}
        self._grant_types = {key: value for key, value in self._grant_types.items() if key in GRANT_TYPES}
        pre_auth = self.auth_grant.custom_validators.pre_auth
        if require_s256_code_challenge not in pre_auth:
            pre_auth.append(require_s256_code_challenge)
        oidc_pre_auth = self.openid_connect_auth.custom_validators.pre_auth
        if require_s256_code_challenge not in oidc_pre_auth:
            oidc_pre_auth.append(require_s256_code_challenge)
        # The application read with the code or refresh token is the client
        # that then authenticates: one read instead of two (idp.token_rows).
        offer = getattr(request_validator, "offer_read_client", None)
        if offer is not None:
            for grant in (self.auth_grant, self.openid_connect_auth, self.refresh_grant):
                if offer not in grant.custom_validators.pre_token:
                    grant.custom_validators.pre_token.append(offer)
