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

from django.db.models import Exists, F, OuterRef, Subquery
from oauth2_provider.models import get_grant_model, get_refresh_token_model

from idp.models import AuthenticationContext, RedeemedCode

_UNREAD = object()


def checksum(value: str) -> str:
    """How DOT finds a token or code by its value: the SHA-256 it stores (RFC 9700 token storage)."""
    return hashlib.sha256(value.encode()).hexdigest()


def grant_row(request, code: str | None):
    """The authorization code's grant (with `application` and `user`), or None.

    `redeemed` says whether the code was exchanged already (RedeemedCode):
    its grant stays until it expires. `login_auth_time` and `login_amr`: the
    login that approved it (idp.authentication), read in the same statement.
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
            .annotate(redeemed=Exists(redeemed), **_login(key=AuthenticationContext.code_key(code)))
            .filter(code=code)
            .first()
        )
    request.grant_row = (code, row)
    return row


def refresh_token_row(request, raw: str | None):
    """The refresh token presented (with `application`, `user` and `access_token`), or None.

    Several rows may share a checksum (DOT's uniqueness is (checksum,
    revoked)): the unrevoked one first, else the one revoked last, as DOT reads it.
    `login_auth_time` and `login_amr`: the login behind the tokens, through
    the ID token issued with its access token, read in the same statement.
    """
    memo = getattr(request, "refresh_token_row", _UNREAD)
    if memo is not _UNREAD and memo[0] == raw:
        return memo[1]
    row = None
    if raw:
        row = (
            get_refresh_token_model()
            .objects.select_related("application", "user", "access_token")
            .annotate(**_login(id_token_jti=OuterRef("access_token__id_token__jti")))
            .filter(token_checksum=checksum(raw))
            .order_by(F("revoked").desc(nulls_first=True))
            .first()
        )
    request.refresh_token_row = (raw, row)
    return row


def _login(**lookup) -> dict[str, Subquery]:
    """The login (OpenID Connect `auth_time`, `amr`) that `lookup` finds, as two columns of the row's own
    statement: the token endpoint's budget counts statements (tests/idp/test_token_storage.py)."""
    found = AuthenticationContext.objects.filter(**lookup)
    return {
        "login_auth_time": Subquery(found.values("auth_time")[:1]),
        "login_amr": Subquery(found.values("amr")[:1]),
    }
