"""Reads for the provider's resource servers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from oauth2_provider.models import AbstractAccessToken, get_access_token_model


@dataclass(frozen=True)
class BearerCheck:
    """The token a bearer value stands for, or why it is refused (RFC 6750 §3.1 `invalid_token`)."""

    token: AbstractAccessToken | None
    problem: str = ""

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.token.scope.split()) if self.token else frozenset()


def access_token_check(*, raw_token: str, resource: str) -> BearerCheck:
    """The access token `raw_token` if it may be used at `resource`.

    Tokens are stored as SHA-256 checksums (COMPLIANT_BCP_RFC9700_TOKEN_STORAGE),
    as DOT looks them up; a revoked token is deleted. RFC 8707: the token's
    audience must be exactly [`resource`]; one issued without a resource, or
    for another, is refused, never passed on. Its app must be enabled and its
    user active.
    """
    checksum = hashlib.sha256(raw_token.encode()).hexdigest()
    token = (
        get_access_token_model().objects.select_related("application", "user").filter(token_checksum=checksum).first()
    )
    if token is None:
        return BearerCheck(None, "The access token is not valid: unknown or revoked.")
    if token.is_expired():
        return BearerCheck(None, "The access token has expired.")
    if token.resource != [resource]:
        return BearerCheck(None, f"The access token was not issued for {resource} (RFC 8707 resource).")
    if token.user is None or not token.user.is_active:
        return BearerCheck(None, "The access token's user cannot sign in any more.")
    if token.application is None or not token.application.is_enabled:
        return BearerCheck(None, "The access token's app has been disabled.")
    return BearerCheck(token)
