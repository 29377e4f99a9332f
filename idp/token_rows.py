"""The rows a token request works on, each read once per request and kept on oauthlib's request.

oauthlib asks the validator about the same authorization code or refresh
token several times in one token request (its scopes, nonce, PKCE challenge,
redirect URI, resource, owner); DOT answers each question with a query of its
own. These read the row once, with its application and owner, and keep it on
oauthlib's request (`request.grant_row`, `request.refresh_token_row`) for the
validator's later questions. Nothing here locks: which of two concurrent
requests may use a code or a refresh token is decided when the tokens are
stored (TaskgateOAuth2Validator._save_bearer_token).
"""

from __future__ import annotations

import hashlib

from django.db.models import Exists, F, OuterRef
from oauth2_provider.models import get_grant_model, get_refresh_token_model

from idp.models import RedeemedCode

_UNREAD = object()


def checksum(value: str) -> str:
    """How DOT finds a token or code by its value: the SHA-256 it stores (RFC 9700 token storage)."""
    return hashlib.sha256(value.encode()).hexdigest()


def grant_row(request, code: str | None):
    """The authorization code's grant (with `application` and `user`), or None.

    `redeemed` says whether the code was exchanged already (RedeemedCode):
    its grant stays until it expires.
    """
    memo = getattr(request, "grant_row", _UNREAD)
    if memo is not _UNREAD and memo[0] == code:
        return memo[1]
    row = None
    if code:
        redeemed = RedeemedCode.objects.filter(code_checksum=checksum(code), application=OuterRef("application"))
        row = (
            get_grant_model()
            .objects.select_related("application", "user")
            .annotate(redeemed=Exists(redeemed))
            .filter(code=code)
            .first()
        )
    request.grant_row = (code, row)
    return row


def refresh_token_row(request, raw: str | None):
    """The refresh token presented (with `application`, `user` and `access_token`), or None.

    Several rows may share a checksum (DOT's uniqueness is (checksum,
    revoked)): the unrevoked one first, else the one revoked last, as DOT reads it.
    """
    memo = getattr(request, "refresh_token_row", _UNREAD)
    if memo is not _UNREAD and memo[0] == raw:
        return memo[1]
    row = None
    if raw:
        row = (
            get_refresh_token_model()
            .objects.select_related("application", "user", "access_token")
            .filter(token_checksum=checksum(raw))
            .order_by(F("revoked").desc(nulls_first=True))
            .first()
        )
    request.refresh_token_row = (raw, row)
    return row
